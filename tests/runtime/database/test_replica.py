"""Read sessions on a real streaming replica: routing, refusal to write, read-your-writes.

The replica is a ``pg_basebackup`` of a private primary (the shared server does not take
replication connections), both started once for this module.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Annotated

import httpx
import psycopg
import pytest
from fastapi import Depends, FastAPI
from pydantic import BaseModel
from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from servicekit import database
from servicekit.database import ReadOnlySessionError
from servicekit.testgres import LocalServer, start_postgres, start_replica
from tests.runtime.database import models
from tests.runtime.database.models import AsyncProductRepository, Product, ProductRepository

IN_RECOVERY = text("SELECT pg_is_in_recovery()")


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[str, str]]:
    """(primary URL, replica URL), the schema created on the primary and replicated."""
    primary = start_postgres()
    replica: LocalServer | None = None
    try:
        engine = database.bind(primary.url)
        models.TestBase.metadata.create_all(engine)
        database.dispose()
        replica = start_replica(primary.url)
        yield primary.url, replica.url
    finally:
        if replica is not None:
            replica.stop()
        primary.stop()


@pytest.fixture
def bound(servers: tuple[str, str]) -> Iterator[tuple[str, str]]:
    yield servers
    database.dispose_replica()


@pytest.fixture
def paused_replay(servers: tuple[str, str]) -> Iterator[None]:
    """The replica stops applying WAL: it lags behind every write until the test ends."""
    with psycopg.connect(servers[1], autocommit=True) as replica:
        replica.execute("SELECT pg_wal_replay_pause()")
        try:
            yield
        finally:
            replica.execute("SELECT pg_wal_replay_resume()")


def _write(name: str) -> None:
    with database.db_session() as session:
        session.add(Product(slug=f"{name}-{uuid.uuid4().hex[:8]}", name=name, price=Decimal(1)))


def _read(name: str, *, after: str | None = None) -> tuple[bool, int]:
    """(read on the replica?, rows named ``name``) as a read session sees them."""
    with database.read_session(after=after) as session:
        on_replica = bool(session.execute(IN_RECOVERY).scalar_one())
        return on_replica, ProductRepository(session).count(name=name)


def _eventually(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "the replica did not catch up in time"
        time.sleep(0.02)


def test_reads_go_to_the_replica_and_writes_to_the_primary(bound: tuple[str, str]) -> None:
    primary_url, replica_url = bound
    database.bind(primary_url)
    assert database.bind_replica(replica_url) is not None
    name = f"routed-{uuid.uuid4().hex[:8]}"
    _write(name)
    _eventually(lambda: _read(name) == (True, 1))
    with database.read_session() as session:
        repository = ProductRepository(session)
        (row,) = repository.list(name=name)
        assert repository.get(row.id) is row
        assert repository.paginate(select(Product).where(Product.name == name)).total == 1


def test_without_a_replica_read_sessions_use_the_primary(
    bound: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DATABASE_READ_URL", raising=False)
    database.bind(bound[0])
    assert database.bind_replica() is None
    name = f"primary-{uuid.uuid4().hex[:8]}"
    _write(name)
    assert _read(name) == (False, 1)


@pytest.mark.parametrize("with_replica", [True, False], ids=["replica", "primary"])
def test_a_read_session_refuses_to_write(bound: tuple[str, str], with_replica: bool) -> None:
    """The same error with or without a replica, before anything reaches a server."""
    database.bind(bound[0])
    database.bind_replica(bound[1] if with_replica else None)
    product = Product(slug=f"refused-{uuid.uuid4().hex[:8]}", name="refused", price=Decimal(1))
    with pytest.raises(ReadOnlySessionError), database.read_session() as session:
        ProductRepository(session).add(product)
    with pytest.raises(ReadOnlySessionError), database.read_session() as session:
        session.execute(insert(Product).values(slug="x", name="x", price=Decimal(1)))
    with database.db_session() as session:
        assert ProductRepository(session).count(name="refused") == 0


@pytest.mark.usefixtures("paused_replay")
def test_read_your_writes_on_a_lagging_replica(bound: tuple[str, str]) -> None:
    database.bind(bound[0])
    database.bind_replica(bound[1])
    name = f"lagging-{uuid.uuid4().hex[:8]}"
    _write(name)
    position = database.wal_position()
    # The replica has not replayed the write: a plain read there misses it ...
    assert _read(name) == (True, 0)
    # ... a read after the write's position goes to the primary instead, without waiting.
    assert _read(name, after=position) == (False, 1)


def test_a_caught_up_replica_serves_reads_after_a_write(bound: tuple[str, str]) -> None:
    database.bind(bound[0])
    database.bind_replica(bound[1])
    name = f"caught-up-{uuid.uuid4().hex[:8]}"
    _write(name)
    position = database.wal_position()
    _eventually(lambda: _read(name, after=position) == (True, 1))


async def test_async_read_sessions_and_the_fastapi_dependency(bound: tuple[str, str]) -> None:
    primary_url, replica_url = bound
    database.bind(primary_url)
    database.async_bind(primary_url)
    database.async_bind_replica(replica_url)
    name = f"async-{uuid.uuid4().hex[:8]}"
    _write(name)
    position = await database.async_wal_position()
    app = FastAPI()

    @app.get("/count")
    async def count(
        session: Annotated[AsyncSession, Depends(database.fastapi_async_read_session)],
    ) -> dict[str, object]:
        on_replica = (await session.execute(IN_RECOVERY)).scalar_one()
        total = await AsyncProductRepository(session).count(name=name)
        return {"replica": on_replica, "count": total}

    try:
        async with database.async_read_session(after=position) as session:
            assert await AsyncProductRepository(session).count(name=name) == 1
            with pytest.raises(ReadOnlySessionError):
                await AsyncProductRepository(session).add(
                    Product(slug=f"{name}-x", name=name, price=Decimal(1))
                )
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            deadline = time.monotonic() + 10
            while (body := (await client.get("/count")).json()) != {"replica": True, "count": 1}:
                assert time.monotonic() < deadline, body
    finally:
        await database.async_dispose_replica()
        await database.async_dispose()


def _state_of(pg_url: str, pid: int) -> str:
    with psycopg.connect(pg_url.replace("+psycopg", ""), autocommit=True) as admin:
        row = admin.execute("SELECT state FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone()
    assert row is not None
    return str(row[0])


PID = text("SELECT pg_backend_pid()")


def test_a_read_session_holds_no_transaction_open(pg_url: str) -> None:
    """Between its statements a read session's connection is idle, not "idle in
    transaction" as a write session's is: no BEGIN or ROLLBACK round trips, and no
    snapshot held while the request does other work."""
    database.bind(pg_url)
    with database.read_session() as session:
        pid = session.execute(PID).scalar_one()
        assert _state_of(pg_url, pid) == "idle"
        first, second = (session.execute(text("SELECT now()")).scalar_one() for _ in "ab")
        assert first != second  # each statement is a transaction of its own
    with database.db_session() as session:
        assert _state_of(pg_url, session.execute(PID).scalar_one()) == "idle in transaction"
    database.dispose()


async def test_an_async_read_session_holds_no_transaction_open(pg_url: str) -> None:
    database.async_bind(pg_url)
    async with database.async_read_session() as session:
        pid = (await session.execute(PID)).scalar_one()
        assert _state_of(pg_url, pid) == "idle"
        assert await AsyncProductRepository(session).count() == 0
    with pytest.raises(ReadOnlySessionError):
        async with database.async_read_session() as session:
            await AsyncProductRepository(session).add(
                Product(slug="no", name="no", price=Decimal(1))
            )
    await database.async_dispose()


def test_behind_pgbouncer_a_read_session_keeps_its_transaction_and_timeouts(
    pgbouncer_url: str,
) -> None:
    # There the timeouts are set per transaction: outside one they would not apply.
    database.bind(pgbouncer_url, statement_timeout_ms=1234)
    with database.read_session() as session:
        assert session.execute(text("SHOW statement_timeout")).scalar_one() == "1234ms"
        assert session.in_transaction()
    database.dispose()


class ProductName(BaseModel):
    id: int
    name: str


@pytest.mark.usefixtures("paused_replay")
async def test_row_readers_read_the_replica(bound: tuple[str, str]) -> None:
    """What the replica has not replayed yet, a row reader bound to it does not see."""
    primary_url, replica_url = bound
    database.bind(primary_url)
    name = f"reader-{uuid.uuid4().hex[:8]}"
    _write(name)
    database.async_bind(primary_url)
    reader = database.AsyncRowReader()
    query = reader.query(Product).where(Product.name == name)
    assert [row.name for row in await reader.all_as(ProductName, query)] == [name]
    database.async_bind_replica(replica_url)
    assert await reader.all_as(ProductName, query) == []
    database.bind_replica(replica_url)
    assert database.RowReader().all_as(ProductName, query) == []
    await database.async_dispose_replica()
    await database.async_dispose()
