"""Row readers: the same rows as the repositories, on every bind, through either path."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from pydantic import BaseModel
from sqlalchemy import event, func, select
from sqlalchemy.exc import StatementError

from servicekit import database
from servicekit.database import (
    AsyncRowReader,
    DatabaseTimeoutError,
    DatabaseUnavailableError,
    NotFoundError,
    RowReader,
)
from tests.runtime.database.models import Article, Product


class ProductLine(BaseModel):
    id: int
    name: str
    price: Decimal
    created_at: datetime


class ArticleTitle(BaseModel):
    id: int
    title: str


def _seed(url: str) -> list[int]:
    """Five products (prices n.50) and two articles, one soft-deleted; the products' ids."""
    database.bind(url)
    with database.db_session() as session:
        products = [
            Product(slug=f"p-{n}", name=f"Product {n}", price=Decimal(f"{n}.5")) for n in range(5)
        ]
        session.add_all(products)
        session.add_all([Article(slug="kept", title="Kept"), Article(slug="gone", title="Gone")])
        session.flush()
        gone = session.scalars(select(Article).where(Article.slug == "gone")).one()
        gone.deleted_at = datetime.now(UTC)
        ids = [product.id for product in products]
    database.dispose()
    return ids


@pytest.mark.parametrize("driver_url", ["pg_url", "pgbouncer_url", "sqlite_url"])
async def test_async_reader_reads_what_was_stored(
    driver_url: str, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue(driver_url)
    ids = _seed(url)
    database.async_bind(url)
    reader = AsyncRowReader()

    found = await reader.get_as(ProductLine, Product, ids[2])
    assert found is not None
    assert (found.id, found.name, found.price) == (ids[2], "Product 2", Decimal("2.50"))
    assert found.created_at.tzinfo == UTC
    assert await reader.get_as(ProductLine, Product, 10**6) is None
    with pytest.raises(NotFoundError, match="Product with primary key 1000000 not found"):
        await reader.get_as_or_raise(ProductLine, Product, 10**6)

    page = await reader.paginate_as(
        ProductLine, reader.query(Product).order_by(Product.id.desc()), page=2, size=2
    )
    assert [line.name for line in page.items] == ["Product 2", "Product 1"]
    assert (page.total, page.pages) == (5, 3)
    past = await reader.paginate_as(ProductLine, reader.query(Product), page=9, size=2)
    assert (list(past.items), past.total) == ([], 5)  # no row carries it: counted apart
    cheap_query = reader.query(Product).where(Product.price < 3)
    cheap_page = await reader.paginate_as(ProductLine, cheap_query, size=2)
    assert (len(cheap_page.items), cheap_page.total) == (2, 3)
    # The same shape with another value: the values are this statement's, not the first's.
    cheaper_query = reader.query(Product).where(Product.price < 2).order_by(Product.id)
    cheaper_page = await reader.paginate_as(ProductLine, cheaper_query, page=2, size=1)
    assert ([line.name for line in cheaper_page.items], cheaper_page.total) == (["Product 1"], 2)
    none = await reader.paginate_as(ProductLine, reader.query(Product).where(Product.id < 0))
    assert (list(none.items), none.total) == ([], 0)
    cheap = await reader.all_as(ProductLine, reader.query(Product).where(Product.price < 2))
    assert sorted(line.price for line in cheap) == [Decimal("0.50"), Decimal("1.50")]

    # Soft-deleted rows are not read, by key or in a page.
    titles = await reader.paginate_as(ArticleTitle, reader.query(Article))
    assert [t.title for t in titles.items] == ["Kept"]
    assert titles.total == 1
    gone = await reader.all_as(ArticleTitle, select(Article).where(Article.slug == "gone"))
    assert [t.title for t in gone] == ["Gone"]  # a statement of the caller's own reads all
    assert await reader.get_as(ArticleTitle, Article, gone[0].id) is None
    await database.async_dispose()


@pytest.mark.parametrize("driver_url", ["pg_url", "pgbouncer_url", "sqlite_url"])
def test_sync_reader_reads_what_was_stored(driver_url: str, request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue(driver_url)
    ids = _seed(url)
    database.bind(url)
    reader = RowReader()
    found = reader.get_as_or_raise(ProductLine, Product, ids[0])
    assert (found.name, found.price, found.created_at.tzinfo) == ("Product 0", Decimal("0.50"), UTC)
    page = reader.paginate_as(ProductLine, reader.query(Product).order_by(Product.id), size=3)
    assert [line.id for line in page.items] == ids[:3]
    assert page.total == 5
    assert reader.paginate_as(ProductLine, reader.query(Product), page=3, size=3).total == 5
    assert [t.title for t in reader.all_as(ArticleTitle, reader.query(Article))] == ["Kept"]


async def test_asyncpg_reads_skip_sqlalchemy_where_nothing_needs_converting(
    pg_url: str, statements_seen: list[str]
) -> None:
    ids = _seed(pg_url)
    database.async_bind(pg_url)
    reader = AsyncRowReader()
    statements_seen.clear()
    assert (await reader.get_as_or_raise(ProductLine, Product, ids[1])).name == "Product 1"
    page = await reader.paginate_as(ProductLine, reader.query(Product).order_by(Product.id))
    assert page.total == 5
    assert statements_seen == []  # read on the asyncpg connection itself

    # An expanding IN is compiled per call: that read goes through SQLAlchemy, same rows.
    picked = await reader.all_as(
        ProductLine, reader.query(Product).where(Product.slug.in_(["p-1", "p-3"]))
    )
    assert sorted(line.name for line in picked) == ["Product 1", "Product 3"]
    assert len(statements_seen) == 1
    await database.async_dispose()


async def test_a_decorated_parameter_is_converted_on_the_driver_path(
    pg_url: str, statements_seen: list[str]
) -> None:
    _seed(pg_url)
    database.async_bind(pg_url)
    reader = AsyncRowReader()
    statements_seen.clear()
    since = datetime(2000, 1, 1, tzinfo=UTC)
    recent = await reader.all_as(
        ProductLine, reader.query(Product).where(Product.created_at > since)
    )
    assert len(recent) == 5
    with pytest.raises(ValueError, match="naive datetime"):  # UTCDateTime refuses it, here too
        await reader.all_as(
            ProductLine, reader.query(Product).where(Product.created_at > datetime(2000, 1, 1))
        )
    assert statements_seen == []
    await database.async_dispose()


async def test_a_value_the_driver_refuses_is_no_outage(pg_url: str) -> None:
    _seed(pg_url)
    database.async_bind(pg_url, pool_size=1, max_overflow=0)
    reader = AsyncRowReader()
    assert await reader.get_as(ProductLine, Product, 1) is not None
    with pytest.raises(StatementError, match="out of int32 range"):
        await reader.get_as(ProductLine, Product, 2**40)  # id is a 32-bit column
    connects: list[object] = []
    event.listen(database.get_async_engine().sync_engine, "connect", lambda *a: connects.append(a))
    assert await reader.get_as(ProductLine, Product, 1) is not None
    assert connects == []  # the connection was kept: nothing was wrong with it
    await database.async_dispose()


async def test_an_exhausted_pool_is_a_timeout(pg_url: str) -> None:
    ids = _seed(pg_url)
    database.async_bind(pg_url, pool_size=1, max_overflow=0, pool_timeout=1)
    reader = AsyncRowReader()
    async with database.get_async_engine().connect() as holder:
        await holder.exec_driver_sql("SELECT 1")  # the pool's one connection, held
        with pytest.raises(DatabaseTimeoutError, match="no pooled connection came free"):
            await reader.get_as(ProductLine, Product, ids[0])
    assert await reader.get_as(ProductLine, Product, ids[0]) is not None
    await database.async_dispose()


async def test_a_slow_driver_read_is_a_timeout(pg_url: str) -> None:
    _seed(pg_url)
    database.async_bind(pg_url, statement_timeout_ms=100)
    reader = AsyncRowReader()
    slow = reader.query(Product).where(func.pg_sleep(2).is_(None))
    with pytest.raises(DatabaseTimeoutError, match="statement timeout"):
        await reader.all_as(ProductLine, slow)
    assert len(await reader.all_as(ProductLine, reader.query(Product))) == 5  # still usable
    await database.async_dispose()


async def test_a_read_on_a_lost_connection_fails_once_then_reconnects(
    pg_url: str, terminate_backends: Callable[[], None]
) -> None:
    _seed(pg_url)
    database.async_bind(pg_url, pool_size=1, max_overflow=0)
    reader = AsyncRowReader()
    assert (await reader.paginate_as(ProductLine, reader.query(Product))).total == 5
    terminate_backends()  # the pooled connection, used a moment ago, is now dead
    with pytest.raises(DatabaseUnavailableError, match="connection"):
        await reader.paginate_as(ProductLine, reader.query(Product))
    assert (await reader.paginate_as(ProductLine, reader.query(Product))).total == 5
    await database.async_dispose()


async def test_a_read_cancelled_mid_statement_leaves_no_broken_connection(pg_url: str) -> None:
    _seed(pg_url)
    database.async_bind(pg_url, pool_size=1, max_overflow=0)
    reader = AsyncRowReader()
    slow = reader.query(Product).where(func.pg_sleep(5).is_(None))
    task = asyncio.create_task(reader.all_as(ProductLine, slow))
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # The one pooled connection was dropped, not handed back mid-statement.
    async with asyncio.timeout(3):
        assert (await reader.paginate_as(ProductLine, reader.query(Product))).total == 5
    await database.async_dispose()


async def test_a_storm_of_reads_timeouts_and_cancellations_leaks_no_connection(
    pg_url: str,
) -> None:
    _seed(pg_url)
    database.async_bind(pg_url, pool_size=3, max_overflow=0, statement_timeout_ms=50)
    reader = AsyncRowReader()
    slow = reader.query(Product).where(func.pg_sleep(0.2).is_(None))
    quick = reader.query(Product).order_by(Product.id)

    async def one(n: int) -> str:
        try:
            if n % 3 == 0:
                await reader.all_as(ProductLine, slow)
            else:
                assert (await reader.paginate_as(ProductLine, quick, size=2)).total == 5
        except DatabaseTimeoutError:
            return "timeout"
        return "read"

    tasks = [asyncio.create_task(one(n)) for n in range(120)]
    await asyncio.sleep(0.05)
    for task in tasks[::7]:
        task.cancel()
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    kinds = {
        type(outcome).__name__ if isinstance(outcome, BaseException) else outcome
        for outcome in outcomes
    }
    assert kinds <= {"read", "timeout", "CancelledError"}, kinds
    assert {"read", "timeout"} <= kinds
    pool: Any = database.get_async_engine().sync_engine.pool
    assert pool.checkedout() == 0  # every connection came back, or was dropped
    assert (await reader.paginate_as(ProductLine, quick)).total == 5
    await database.async_dispose()


def test_a_statement_without_a_model_is_refused(pg_url: str) -> None:
    database.bind(pg_url)
    with pytest.raises(ValueError, match="selects a mapped model"):
        RowReader().all_as(ProductLine, select(func.now()))
