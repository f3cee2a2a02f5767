"""Row writers: the repository's create, committed, answered as a schema, on every bind."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from pydantic import BaseModel
from sqlalchemy import event, func, select
from sqlalchemy.exc import IntegrityError

from servicekit import database
from servicekit.database import (
    AsyncRowWriter,
    DatabaseUnavailableError,
    RowWriter,
    is_retryable,
)
from tests.runtime.database.models import Product, Review, Ticket


class ProductStored(BaseModel):
    id: int
    name: str
    price: Decimal
    stock: int
    created_at: datetime


class ReviewStored(BaseModel):
    id: int
    product_id: int


class TicketStored(BaseModel):
    id: int
    code: uuid.UUID
    priority: int
    label: str


def _product(slug: str, price: str = "7") -> dict[str, Any]:
    return {"slug": slug, "name": f"Product {slug}", "price": Decimal(price)}


def _stored_slugs(url: str) -> list[str]:
    """What another session sees: the writes were committed."""
    database.bind(url)
    with database.db_session() as session:
        return list(session.scalars(select(Product.slug).order_by(Product.slug)))


def _check_stored(stored: ProductStored, before: datetime) -> None:
    assert (stored.name, stored.price, stored.stock) == ("Product a", Decimal("7.00"), 0)
    assert str(stored.price) == "7.00"  # at the column's scale, as the database keeps it
    assert stored.created_at.tzinfo == UTC
    assert before <= stored.created_at <= datetime.now(UTC)


@pytest.mark.parametrize("driver_url", ["pg_url", "pgbouncer_url", "sqlite_url"])
async def test_async_writer_commits_and_answers_the_row_as_stored(
    driver_url: str, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue(driver_url)
    database.async_bind(url)
    writer = AsyncRowWriter()
    before = datetime.now(UTC)
    stored = await writer.create_as(ProductStored, Product, _product("a"))
    _check_stored(stored, before)
    second = await writer.create_as(ProductStored, Product, {**_product("b"), "stock": 4})
    assert (second.id > stored.id, second.stock) == (True, 4)
    with pytest.raises(IntegrityError):
        await writer.create_as(ProductStored, Product, _product("a"))  # slug is unique
    with pytest.raises(ValueError, match="Product has no column 'colour'"):
        await writer.create_as(ProductStored, Product, {**_product("c"), "colour": "red"})
    await database.async_dispose()
    assert _stored_slugs(url) == ["a", "b"]


@pytest.mark.parametrize("driver_url", ["pg_url", "pgbouncer_url", "sqlite_url"])
def test_sync_writer_commits_and_answers_the_row_as_stored(
    driver_url: str, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue(driver_url)
    database.bind(url)
    writer = RowWriter()
    before = datetime.now(UTC)
    _check_stored(writer.create_as(ProductStored, Product, _product("a")), before)
    with pytest.raises(IntegrityError):
        writer.create_as(ProductStored, Product, _product("a"))
    with pytest.raises(IntegrityError):  # no such product
        writer.create_as(ReviewStored, Review, {"product_id": 10**6, "body": "?"})
    assert _stored_slugs(url) == ["a"]


async def test_asyncpg_creates_skip_sqlalchemy_and_keep_its_errors(
    pg_url: str, statements_seen: list[str]
) -> None:
    database.async_bind(pg_url, pool_size=1, max_overflow=0)
    writer = AsyncRowWriter()
    stored = await writer.create_as(ProductStored, Product, _product("a"))
    connects: list[object] = []
    event.listen(database.get_async_engine().sync_engine, "connect", lambda *a: connects.append(a))

    with pytest.raises(IntegrityError, match="uq_products_slug") as duplicate:
        await writer.create_as(ProductStored, Product, _product("a"))
    assert getattr(duplicate.value.orig, "sqlstate", None) == "23505"
    with pytest.raises(IntegrityError, match="fk_reviews_product_id_products") as orphan:
        await writer.create_as(ReviewStored, Review, {"product_id": 10**6, "body": "?"})
    assert getattr(orphan.value.orig, "sqlstate", None) == "23503"
    assert (await writer.create_as(ProductStored, Product, _product("b"))).id > stored.id
    assert statements_seen == []  # every insert ran on the asyncpg connection itself
    assert connects == []  # a broken constraint is no broken connection
    await database.async_dispose()
    assert _stored_slugs(pg_url) == ["a", "b"]


@pytest.mark.parametrize("driver_url", ["pg_url", "sqlite_url"])
async def test_python_defaults_are_computed_per_row(
    driver_url: str, request: pytest.FixtureRequest, statements_seen: list[str]
) -> None:
    database.async_bind(request.getfixturevalue(driver_url))
    writer = AsyncRowWriter()
    first = await writer.create_as(TicketStored, Ticket, {"label": "first"})
    second = await writer.create_as(TicketStored, Ticket, {"label": "second", "priority": 1})
    assert (first.priority, second.priority) == (3, 1)  # the constant, unless sent
    assert first.code != second.code  # uuid4 called for each row, not once
    assert first.code.version == 4
    # A default that reads the row's other values needs SQLAlchemy's execution context:
    # that create goes through a session, with the same result.
    statements_seen.clear()
    labelled = await writer.create_as(TicketStored, Ticket, {"priority": 7})
    assert (labelled.label, labelled.priority) == ("priority 7", 7)
    assert len(statements_seen) == 1
    await database.async_dispose()


async def test_a_create_on_a_lost_connection_is_an_ambiguous_outage(
    pg_url: str, terminate_backends: Callable[[], None]
) -> None:
    database.async_bind(pg_url, pool_size=1, max_overflow=0)
    writer = AsyncRowWriter()
    await writer.create_as(ProductStored, Product, _product("a"))
    terminate_backends()  # the pooled connection, used a moment ago, is now dead
    with pytest.raises(DatabaseUnavailableError, match="connection") as lost:
        await writer.create_as(ProductStored, Product, _product("b"))
    # Outside a transaction the INSERT commits by itself: it may be stored, so a retry
    # could store it twice.
    assert lost.value.ambiguous
    assert not is_retryable(lost.value)
    assert (await writer.create_as(ProductStored, Product, _product("c"))).name == "Product c"
    await database.async_dispose()


async def test_concurrent_creates_with_cancellations_leak_no_connection(pg_url: str) -> None:
    database.async_bind(pg_url, pool_size=3, max_overflow=0)
    writer = AsyncRowWriter()
    slugs = [f"s-{n % 40}" for n in range(80)]  # each twice: one stored, one conflict

    async def one(slug: str) -> str:
        try:
            await writer.create_as(ProductStored, Product, _product(slug))
        except IntegrityError:
            return "conflict"
        return "stored"

    tasks = [asyncio.create_task(one(slug)) for slug in slugs]
    await asyncio.sleep(0)
    for task in tasks[::9]:
        task.cancel()
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    kinds = [type(o).__name__ if isinstance(o, BaseException) else o for o in outcomes]
    assert set(kinds) <= {"stored", "conflict", "CancelledError"}, kinds
    pool: Any = database.get_async_engine().sync_engine.pool
    assert pool.checkedout() == 0
    async with database.async_db_session() as session:
        count = await session.scalar(select(func.count(Product.id)))
    # Each slug stored once at most; a create cancelled mid-statement may have been stored.
    stored = kinds.count("stored")
    assert stored <= count <= min(40, stored + kinds.count("CancelledError"))
    await database.async_dispose()
