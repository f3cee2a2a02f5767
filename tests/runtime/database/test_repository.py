"""Repository[T] / AsyncRepository[T] on Postgres and SQLite."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from pydantic import BaseModel, create_model
from sqlalchemy import inspect, select
from sqlalchemy.exc import IntegrityError

from servicekit import database
from servicekit.database import AsyncRepository, NotFoundError, Repository
from tests.runtime.database.models import (
    AsyncArticleRepository,
    AsyncProductRepository,
    Product,
    ProductRepository,
)


class ArticleTitle(BaseModel):
    id: int
    title: str
    version: int


def _product(n: int, **extra: object) -> Product:
    return Product(slug=f"p-{n}", name=f"Product {n}", price=Decimal(n), **extra)


DOCUMENTED_API = {
    "get",
    "get_or_raise",
    "get_by",
    "lock_by",
    "exists",
    "count",
    "list",
    "paginate",
    "paginate_as",
    "add",
    "create",
    "bulk_add",
    "upsert",
    "upsert_many",
    "update",
    "delete",
    "soft_delete",
    "restore",
    "query",
}


@pytest.mark.parametrize("repository", [Repository, AsyncRepository])
def test_repositories_publish_only_the_documented_api(repository: type) -> None:
    # The statement builder is composed, not inherited: criteria(), insert_rows(), ... stay
    # out of every generated repository's namespace.
    assert {name for name in dir(repository) if not name.startswith("_")} == DOCUMENTED_API


def test_crud_round_trip(any_url: str) -> None:
    database.bind(any_url)
    with database.db_session() as session:
        repo = ProductRepository(session)
        added = repo.add(_product(1, stock=5))
        assert added.id is not None
        repo.bulk_add([_product(n) for n in range(2, 8)])
    with database.db_session() as session:
        repo = ProductRepository(session)
        assert repo.get(added.id) is not None
        assert repo.get_or_raise(added.id).stock == 5
        assert repo.get(10_000) is None
        with pytest.raises(NotFoundError, match="Product with primary key 10000 not found"):
            repo.get_or_raise(10_000)
        found = repo.get_by(slug="p-3")
        assert found is not None
        assert found.name == "Product 3"
        assert repo.get_by(slug="nope") is None
        assert repo.exists(slug="p-4")
        assert not repo.exists(slug="p-40")
        assert repo.count() == 7
        assert repo.count(stock=5) == 1
        listed = repo.list(order_by=Product.price.desc(), limit=3, offset=1)
        assert [p.slug for p in listed] == ["p-6", "p-5", "p-4"]
        assert [p.slug for p in repo.list(stock=5)] == ["p-1"]
        with pytest.raises(ValueError, match="Product has no column 'colour'"):
            repo.list(colour="red")


def test_paginate_counts_separately(any_url: str) -> None:
    database.bind(any_url)
    with database.db_session() as session:
        repo = ProductRepository(session)
        repo.bulk_add([_product(n) for n in range(1, 24)])
        page = repo.paginate(repo.query.order_by(Product.id), page=3, size=10)
        assert [p.slug for p in page.items] == [f"p-{n}" for n in range(21, 24)]
        assert (page.total, page.page, page.size, page.pages) == (23, 3, 10, 3)
        cheap = repo.paginate(repo.query.where(Product.price < 5), page=1, size=2)
        assert cheap.total == 4
        assert len(cheap.items) == 2
        with pytest.raises(ValueError, match="page and size must be >= 1"):
            repo.paginate(page=0)


class ProductLine(BaseModel):
    """A response schema naming some of Product's columns."""

    id: int
    slug: str
    price: Decimal
    created_at: datetime


def test_paginate_as_reads_the_schema_columns_into_the_schema(any_url: str) -> None:
    database.bind(any_url)
    with database.db_session() as session:
        ProductRepository(session).bulk_add([_product(n) for n in range(1, 8)])
    with database.db_session() as session:
        repo = ProductRepository(session)
        query = repo.query.where(Product.price > 2).order_by(Product.slug.desc())
        page = repo.paginate_as(ProductLine, query, page=2, size=3)
        assert (page.total, page.page, page.size, page.pages) == (5, 2, 3, 2)
        assert [(line.slug, line.price) for line in page.items] == [
            ("p-4", Decimal("4.00")),
            ("p-3", Decimal("3.00")),
        ]
        assert all(type(line) is ProductLine for line in page.items)
        assert page.items[0].created_at.tzinfo == UTC
        assert not session.identity_map  # no ORM object was built
        with pytest.raises(ValueError, match=r"ProductLine\.colour is not a column of Product"):
            repo.paginate_as(create_model("ProductLine", colour=(str, ...)))


@pytest.mark.parametrize("driver_url", ["pg_url", "sqlite_url"])
async def test_async_paginate_as_leaves_out_soft_deleted_rows(
    driver_url: str, request: pytest.FixtureRequest
) -> None:
    database.async_bind(request.getfixturevalue(driver_url))
    async with database.async_db_session() as session:
        repo = AsyncArticleRepository(session)
        kept = await repo.create({"slug": "kept", "title": "Kept"})
        gone = await repo.create({"slug": "gone", "title": "Gone"})
        await repo.soft_delete(gone.id)
    async with database.async_db_session() as session:
        page = await AsyncArticleRepository(session).paginate_as(ArticleTitle)
        assert [(t.id, t.title, t.version) for t in page.items] == [(kept.id, "Kept", 1)]
        assert page.total == 1
    await database.async_dispose()


def test_bulk_add_accepts_mappings_with_different_keys(any_url: str) -> None:
    database.bind(any_url)
    with database.db_session() as session:
        repo = ProductRepository(session)
        repo.bulk_add(
            [
                {"slug": "a", "name": "A", "price": Decimal(1)},
                {"slug": "b", "name": "B", "price": Decimal(2), "stock": 9},
            ]
        )
        stocks = dict(session.execute(select(Product.slug, Product.stock)).all())
    assert stocks == {"a": 0, "b": 9}


def test_bulk_add_with_return_defaults_fills_keys(any_url: str) -> None:
    database.bind(any_url)
    with database.db_session() as session:
        products = [_product(n) for n in range(3)]
        ProductRepository(session).bulk_add(products, return_defaults=True)
        assert all(p.id is not None for p in products)


def test_upsert_inserts_updates_and_keeps(any_url: str) -> None:
    database.bind(any_url)
    with database.db_session() as session:
        repo = ProductRepository(session)
        first = repo.upsert(
            {"slug": "x", "name": "X", "price": Decimal("1.50")}, conflict_on=["slug"]
        )
        assert first.id is not None
        assert first.price == Decimal("1.50")
        kept = repo.upsert(
            {"slug": "x", "name": "Other", "price": Decimal(9)}, conflict_on=["slug"]
        )
        assert (kept.id, kept.name, kept.price) == (first.id, "X", Decimal("1.50"))
        updated = repo.upsert(
            {"slug": "x", "name": "Renamed", "price": Decimal(2)},
            conflict_on=["slug"],
            update_fields=["name"],
        )
        assert (updated.id, updated.name, updated.price) == (first.id, "Renamed", Decimal("1.50"))
        assert updated.updated_at >= updated.created_at
        assert updated.created_at.tzinfo is UTC
        assert repo.count() == 1


def test_upsert_refreshes_the_instance_already_in_the_session(any_url: str) -> None:
    database.bind(any_url)
    with database.db_session() as session:
        ProductRepository(session).add(_product(1, stock=3))
    with database.db_session() as session:
        repo = ProductRepository(session)
        loaded = repo.get_by(slug="p-1")
        assert loaded is not None
        upserted = repo.upsert(
            {"slug": "p-1", "name": "Renamed", "price": Decimal(7)},
            conflict_on=["slug"],
            update_fields=["name", "price"],
        )
        assert upserted is loaded
        assert (loaded.name, loaded.price, loaded.stock) == ("Renamed", Decimal(7), 3)
        # Refreshed as loaded, not as edited: nothing is pending for the next flush.
        assert loaded not in session.dirty
        assert not inspect(loaded).modified


def test_upsert_returns_a_persistent_instance(any_url: str) -> None:
    database.bind(any_url)
    with database.db_session() as session:
        repo = ProductRepository(session)
        created = repo.upsert(
            {"slug": "n", "name": "New", "price": Decimal(1)}, conflict_on=["slug"]
        )
        state = inspect(created)
        assert state.persistent
        assert state.session is session
        assert not state.modified
        assert repo.get(created.id) is created
        assert (created.stock, created.created_at.tzinfo) == (0, UTC)
        created.name = "Edited"
    with database.db_session() as session:
        # The instance tracked changes like any loaded one: the edit was committed.
        assert ProductRepository(session).get_or_raise(created.id).name == "Edited"


def test_create_returns_the_row_as_stored(any_url: str) -> None:
    database.bind(any_url)
    with database.db_session() as session:
        repo = ProductRepository(session)
        created = repo.create({"slug": "c", "name": "Created", "price": Decimal("7")})
        state = inspect(created)
        assert state.persistent and state.session is session and not state.modified
        assert repo.get(created.id) is created
        # Defaults filled in by the insert itself: nothing left to refresh.
        assert (created.stock, created.created_at.tzinfo) == (0, UTC)
        with pytest.raises(ValueError, match="Product has no column 'colour'"):
            repo.create({"slug": "d", "name": "D", "price": Decimal(1), "colour": "red"})
    with database.db_session() as session:
        stored = ProductRepository(session).get_or_raise(created.id)
        assert (stored.slug, stored.price, stored.created_at) == (
            "c",
            Decimal("7.00"),
            created.created_at,
        )


def test_create_of_a_taken_key_is_an_integrity_error(any_url: str) -> None:
    database.bind(any_url)
    with database.db_session() as session:
        ProductRepository(session).create({"slug": "same", "name": "A", "price": Decimal(1)})
    with pytest.raises(IntegrityError), database.db_session() as session:
        ProductRepository(session).create({"slug": "same", "name": "B", "price": Decimal(2)})
    with database.db_session() as session:
        assert ProductRepository(session).get_by(slug="same").name == "A"  # type: ignore[union-attr]


def test_upsert_autoflushes_like_a_query(any_url: str) -> None:
    database.bind(any_url)
    with database.db_session() as session:
        session.autoflush = True  # SessionLocal turns it off; a session may opt back in
        repo = ProductRepository(session)
        pending = _product(1)
        session.add(pending)
        upserted = repo.upsert(
            {"slug": "p-1", "name": "Upserted", "price": Decimal(5)},
            conflict_on=["slug"],
            update_fields=["name"],
        )
        assert upserted is pending
        assert (pending.name, pending.price) == ("Upserted", Decimal(1))


def test_upsert_many_in_batches(any_url: str) -> None:
    database.bind(any_url)
    with database.db_session() as session:
        repo = ProductRepository(session)
        repo.bulk_add([_product(1), _product(2)])
        rows = [
            {"slug": f"p-{n}", "name": f"New {n}", "price": Decimal(n * 10)} for n in range(1, 5)
        ]
        repo.upsert_many(rows, conflict_on=["slug"], update_fields=["price"])
        result = session.execute(
            select(Product.slug, Product.name, Product.price).order_by(Product.slug)
        ).all()
    assert [tuple(r) for r in result] == [
        ("p-1", "Product 1", Decimal(10)),
        ("p-2", "Product 2", Decimal(20)),
        ("p-3", "New 3", Decimal(30)),
        ("p-4", "New 4", Decimal(40)),
    ]


def test_db_session_rolls_back_on_error(any_url: str) -> None:
    database.bind(any_url)
    with pytest.raises(RuntimeError), database.db_session() as session:
        ProductRepository(session).add(_product(1))
        raise RuntimeError("boom")
    with database.db_session() as session:
        assert ProductRepository(session).count() == 0


def test_timestamps_are_aware_and_updated(any_url: str) -> None:
    database.bind(any_url)
    with database.db_session() as session:
        product = ProductRepository(session).add(_product(1))
        created = product.created_at
    with database.db_session() as session:
        stored = ProductRepository(session).get_or_raise(product.id)
        assert stored.created_at.tzinfo is UTC
        assert stored.created_at == created
        stored.stock = 3
    with database.db_session() as session:
        again = ProductRepository(session).get_or_raise(product.id)
        assert again.updated_at > again.created_at


@pytest.mark.parametrize("driver_url", ["pg_url", "pgbouncer_url", "sqlite_url"])
async def test_async_upsert_refreshes_the_loaded_instance(
    driver_url: str, request: pytest.FixtureRequest
) -> None:
    database.async_bind(request.getfixturevalue(driver_url))
    async with database.async_db_session() as session:
        repo = AsyncProductRepository(session)
        loaded = await repo.add(_product(1))
        upserted = await repo.upsert(
            {"slug": "p-1", "name": "Renamed", "price": Decimal(3)},
            conflict_on=["slug"],
            update_fields=["name"],
        )
        assert upserted is loaded
        assert (loaded.name, loaded.price) == ("Renamed", Decimal(1))
        created = await repo.upsert(
            {"slug": "p-2", "name": "Two", "price": Decimal(2)}, conflict_on=["slug"]
        )
        assert inspect(created).persistent
        assert await repo.get(created.id) is created
    await database.async_dispose()


@pytest.mark.parametrize("driver_url", ["pg_url", "pgbouncer_url", "sqlite_url"])
async def test_async_repository(driver_url: str, request: pytest.FixtureRequest) -> None:
    database.async_bind(request.getfixturevalue(driver_url))
    async with database.async_db_session() as session:
        repo = AsyncProductRepository(session)
        added = await repo.add(_product(1))
        created = await repo.create({"slug": "p-0", "name": "Zero", "price": Decimal("0.5")})
        await repo.bulk_add([_product(n) for n in range(2, 6)])
        upserted = await repo.upsert(
            {"slug": "p-2", "name": "Two", "price": Decimal(2)},
            conflict_on=["slug"],
            update_fields=["name"],
        )
        await repo.upsert_many(
            [{"slug": "p-9", "name": "Nine", "price": Decimal(9)}], conflict_on=["slug"]
        )
    async with database.async_db_session() as session:
        repo = AsyncProductRepository(session)
        assert (await repo.get_or_raise(added.id)).slug == "p-1"
        assert await repo.get(999) is None
        with pytest.raises(NotFoundError):
            await repo.get_or_raise(999)
        assert (await repo.get_by(slug="p-2")) is not None
        assert upserted.name == "Two"
        assert await repo.exists(slug="p-9")
        assert (await repo.get_or_raise(created.id)).price == Decimal("0.50")
        assert await repo.count() == 7
        listed = await repo.list(order_by=Product.slug, limit=2)
        assert [p.slug for p in listed] == ["p-0", "p-1"]
        page = await repo.paginate(page=2, size=4)
        assert (len(page.items), page.total, page.pages) == (3, 7, 2)
    await database.async_dispose()


async def test_twenty_concurrent_upserts_of_one_key(pg_url: str) -> None:
    database.async_bind(pg_url, pool_size=20)

    async def upsert(n: int) -> int:
        async with database.async_db_session() as session:
            row = await AsyncProductRepository(session).upsert(
                {"slug": "contended", "name": f"caller {n}", "price": Decimal(n)},
                conflict_on=["slug"],
            )
            return row.id

    ids = await asyncio.gather(*(upsert(n) for n in range(20)))
    async with database.async_db_session() as session:
        assert await AsyncProductRepository(session).count(slug="contended") == 1
    assert len(set(ids)) == 1
    await database.async_dispose()
