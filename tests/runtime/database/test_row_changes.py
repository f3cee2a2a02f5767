"""update, delete, soft_delete and restore: one row by key, checked against its version."""

from __future__ import annotations

import asyncio
import threading
from decimal import Decimal

import pytest
from sqlalchemy import select

from servicekit import database
from servicekit.database import NotFoundError, StaleVersionError
from tests.runtime.database.models import (
    Article,
    ArticleRepository,
    AsyncArticleRepository,
    AsyncProductRepository,
    Product,
    ProductRepository,
)


def _article(n: int) -> Article:
    return Article(slug=f"a-{n}", title=f"Article {n}")


def test_update_changes_only_the_given_columns(any_url: str) -> None:
    database.bind(any_url)
    with database.db_session() as session:
        repo = ProductRepository(session)
        added = repo.add(Product(slug="p", name="Old", price=Decimal(2), stock=3))
        created, touched = added.created_at, added.updated_at
    with database.db_session() as session:
        updated = ProductRepository(session).update(added.id, {"name": "New"})
        assert (updated.name, updated.price, updated.stock) == ("New", Decimal(2), 3)
        assert updated.created_at == created
        assert updated.updated_at > touched
    with database.db_session() as session:
        assert ProductRepository(session).get_or_raise(added.id).name == "New"
        with pytest.raises(NotFoundError):
            ProductRepository(session).update(10_000, {"name": "x"})
        with pytest.raises(ValueError, match="Product has no column 'colour'"):
            ProductRepository(session).update(added.id, {"colour": "red"})
        with pytest.raises(TypeError, match="no version column"):
            ProductRepository(session).update(added.id, {"name": "y"}, expected_version=1)


def test_update_refreshes_the_instance_the_session_holds(any_url: str) -> None:
    database.bind(any_url)
    with database.db_session() as session:
        repo = ProductRepository(session)
        loaded = repo.add(Product(slug="p", name="Old", price=Decimal(2)))
        assert repo.update(loaded.id, {"name": "New"}) is loaded
        assert loaded.name == "New"
        assert not session.dirty  # committed values: nothing to flush back


def test_versions_start_at_one_and_every_change_increments(any_url: str) -> None:
    database.bind(any_url)
    with database.db_session() as session:
        repo = ArticleRepository(session)
        article = repo.add(_article(1))
        assert article.version == 1
        assert repo.update(article.id, {"title": "T2"}, expected_version=1).version == 2
        assert repo.update(article.id, {"title": "T3"}).version == 3  # unchecked, still counted
        article.title = "T4"  # the ORM's own flush checks and increments it too
        session.flush()
        assert article.version == 4
        upserted = repo.upsert(
            {"slug": "a-1", "title": "T5"}, conflict_on=["slug"], update_fields=["title"]
        )
        assert upserted.version == 5


def test_a_stale_version_is_refused_and_changes_nothing(any_url: str) -> None:
    database.bind(any_url)
    with database.db_session() as session:
        repo = ArticleRepository(session)
        article = repo.add(_article(1))
        repo.update(article.id, {"title": "Theirs"}, expected_version=1)
        with pytest.raises(StaleVersionError, match="at version 2, not 1") as refused:
            repo.update(article.id, {"title": "Mine"}, expected_version=1)
        assert (refused.value.expected, refused.value.current) == (1, 2)
        with pytest.raises(StaleVersionError):
            repo.delete(article.id, expected_version=1)
        with pytest.raises(StaleVersionError):
            repo.soft_delete(article.id, expected_version=1)
        with pytest.raises(NotFoundError):
            repo.update(10_000, {"title": "x"}, expected_version=1)
    with database.db_session() as session:
        assert ArticleRepository(session).get_or_raise(article.id).title == "Theirs"


def test_soft_deleted_rows_are_hidden_from_every_read(any_url: str) -> None:
    database.bind(any_url)
    with database.db_session() as session:
        repo = ArticleRepository(session)
        kept, gone = repo.add(_article(1)), repo.add(_article(2))
        deleted = repo.soft_delete(gone.id)
        assert deleted.deleted_at is not None
        assert deleted.version == 2
    with database.db_session() as session:
        repo = ArticleRepository(session)
        assert repo.get(gone.id) is None
        with pytest.raises(NotFoundError):
            repo.get_or_raise(gone.id)
        assert repo.get_by(slug="a-2") is None
        assert not repo.exists(slug="a-2")
        assert repo.count() == 1
        assert [a.id for a in repo.list()] == [kept.id]
        assert [a.id for a in repo.paginate().items] == [kept.id]
        assert repo.paginate().total == 1
        assert [a.id for a in session.scalars(repo.query)] == [kept.id]
        with pytest.raises(NotFoundError):
            repo.update(gone.id, {"title": "x"})
        with pytest.raises(NotFoundError):
            repo.soft_delete(gone.id)  # already deleted
        # The row is still there for whoever asks the table directly.
        assert session.scalar(select(Article.title).where(Article.id == gone.id)) == "Article 2"


def test_restore_and_upsert_bring_a_soft_deleted_row_back(any_url: str) -> None:
    database.bind(any_url)
    with database.db_session() as session:
        repo = ArticleRepository(session)
        first, second = repo.add(_article(1)), repo.add(_article(2))
        repo.soft_delete(first.id)
        repo.soft_delete(second.id)
        with pytest.raises(NotFoundError):
            repo.restore(10_000)
        restored = repo.restore(first.id)
        assert restored.deleted_at is None
        with pytest.raises(NotFoundError):
            repo.restore(first.id)  # live: nothing to restore
        upserted = repo.upsert(
            {"slug": "a-2", "title": "Back"}, conflict_on=["slug"], update_fields=["title"]
        )
        assert (upserted.id, upserted.deleted_at, upserted.title) == (second.id, None, "Back")
        assert repo.count() == 2


def test_delete_removes_the_row_for_good(any_url: str) -> None:
    database.bind(any_url)
    with database.db_session() as session:
        repo = ArticleRepository(session)
        live, soft = repo.add(_article(1)), repo.add(_article(2))
        repo.soft_delete(soft.id)
        repo.delete(live.id, expected_version=1)
        repo.delete(soft.id)  # a soft-deleted row can be purged
        assert repo.get(live.id) is None  # not served from the session's identity map
        with pytest.raises(NotFoundError):
            repo.delete(live.id)
        assert session.scalar(select(Article.id)) is None
    with database.db_session() as session, pytest.raises(TypeError, match="SoftDeleteMixin"):
        ProductRepository(session).soft_delete(1)


@pytest.mark.parametrize("driver_url", ["pg_url", "sqlite_url"])
async def test_async_row_changes(driver_url: str, request: pytest.FixtureRequest) -> None:
    database.async_bind(request.getfixturevalue(driver_url))
    async with database.async_db_session() as session:
        repo = AsyncArticleRepository(session)
        article = await repo.add(_article(1))
        updated = await repo.update(article.id, {"title": "T2"}, expected_version=1)
        assert (updated.title, updated.version) == ("T2", 2)
        with pytest.raises(StaleVersionError):
            await repo.update(article.id, {"title": "T3"}, expected_version=1)
        assert (await repo.soft_delete(article.id)).deleted_at is not None
        assert await repo.get(article.id) is None
        assert (await repo.restore(article.id)).deleted_at is None
        await repo.delete(article.id)
        assert await repo.count() == 0
        products = AsyncProductRepository(session)
        product = await products.add(Product(slug="p", name="P", price=Decimal(1)))
        assert (await products.update(product.id, {"stock": 4})).stock == 4
    await database.async_dispose()


async def test_concurrent_updates_of_one_version_let_exactly_one_win(pg_url: str) -> None:
    database.async_bind(pg_url, pool_size=10)
    async with database.async_db_session() as session:
        article = await AsyncArticleRepository(session).add(_article(1))

    async def change(n: int) -> bool:
        async with database.async_db_session() as session:
            try:
                await AsyncArticleRepository(session).update(
                    article.id, {"title": f"by {n}"}, expected_version=1
                )
            except StaleVersionError:
                return False
            return True

    outcomes = await asyncio.gather(*(change(n) for n in range(10)))
    assert outcomes.count(True) == 1
    async with database.async_db_session() as session:
        assert (await AsyncArticleRepository(session).get_or_raise(article.id)).version == 2
    await database.async_dispose()


def test_lock_by_makes_writers_of_one_key_take_turns(pg_url: str) -> None:
    """The second writer of a key that has no row yet waits for the first to commit, then
    sees its row: so it can tell an upsert that creates from one that updates."""
    database.bind(pg_url)
    first_locked = threading.Event()
    seen: list[Article | None] = []

    def second_writer() -> None:
        first_locked.wait()
        with database.db_session() as session:
            seen.append(ArticleRepository(session).lock_by(slug="shared"))

    other = threading.Thread(target=second_writer)
    other.start()
    with database.db_session() as session:
        repository = ArticleRepository(session)
        assert repository.lock_by(slug="shared") is None
        first_locked.set()
        other.join(timeout=0.5)
        assert other.is_alive()  # waiting for this transaction's key
        repository.add(Article(slug="shared", title="first"))
    other.join(timeout=5)
    assert [article.title for article in seen if article is not None] == ["first"]


def test_lock_by_sees_live_rows_only(any_url: str) -> None:
    database.bind(any_url)
    with database.db_session() as session:
        repository = ArticleRepository(session)
        article = repository.add(Article(slug="gone", title="t"))
        repository.soft_delete(article.id)
        assert repository.lock_by(slug="gone") is None
        repository.add(Article(slug="here", title="t"))
        found = repository.lock_by(slug="here")
        assert found is not None and found.title == "t"


async def test_lock_by_async_waits_for_the_committed_row(pg_url: str) -> None:
    database.async_bind(pg_url)
    async with database.async_db_session() as first:
        assert await AsyncArticleRepository(first).lock_by(slug="k") is None
        first.add(Article(slug="k", title="stored"))

        async def second() -> Article | None:
            async with database.async_db_session() as session:
                return await AsyncArticleRepository(session).lock_by(slug="k")

        waiting = asyncio.create_task(second())
        await asyncio.sleep(0.3)
        assert not waiting.done()
    found = await waiting
    assert found is not None and found.title == "stored"
    await database.async_dispose()
