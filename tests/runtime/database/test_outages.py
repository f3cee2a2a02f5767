"""Outages as servicekit's types, retrying what is safe, waiting for the server at start."""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from typing import Annotated

import httpx
import psycopg
import pytest
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from servicekit import database
from servicekit.database import (
    DatabaseError,
    DatabaseTimeoutError,
    DatabaseUnavailableError,
    RetryableConflictError,
    is_retryable,
    retrying,
)


def closed_port_url(driver: str) -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"postgresql+{driver}://postgres@127.0.0.1:{port}/postgres"


def terminate(pg_url: str, pid: int) -> None:
    with psycopg.connect(pg_url.replace("+psycopg", ""), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))


def test_a_refused_connection_is_unavailable() -> None:
    database.bind(closed_port_url("psycopg"), connect_timeout=2)
    with (
        pytest.raises(DatabaseUnavailableError, match="cannot connect") as sync_error,
        database.db_session() as session,
    ):
        session.execute(text("SELECT 1"))
    assert not sync_error.value.ambiguous and is_retryable(sync_error.value)


async def test_a_refused_connection_is_unavailable_async() -> None:
    database.async_bind(closed_port_url("asyncpg"), connect_timeout=2)
    with pytest.raises(DatabaseUnavailableError, match="cannot connect") as caught:
        async with database.async_db_session() as session:
            await session.execute(text("SELECT 1"))
    assert isinstance(caught.value.__cause__, OSError)
    await database.async_dispose()


@pytest.mark.parametrize("mistake", ["database", "role"])
async def test_a_wrong_database_or_role_is_a_configuration_error_not_an_outage(
    pg_url: str, mistake: str
) -> None:
    """A server that answers "no such database" will not change its mind: no 503 and no
    retry, the service's settings are wrong (both drivers)."""
    base, _, name = pg_url.rpartition("/")
    wrong = (
        f"{base}/no_such_{name}"
        if mistake == "database"
        else pg_url.replace("postgres@", "no_such_role@")
    )
    database.bind(wrong.replace("+asyncpg", "+psycopg"), connect_timeout=2)
    with (
        pytest.raises(DBAPIError, match=f"{mistake}(.*)does not exist") as sync_error,
        database.db_session() as session,
    ):
        session.execute(text("SELECT 1"))
    database.async_bind(wrong.replace("+psycopg", "+asyncpg"), connect_timeout=2)
    with pytest.raises(DBAPIError, match=f"{mistake}(.*)does not exist") as async_error:
        async with database.async_db_session() as session:
            await session.execute(text("SELECT 1"))
    await database.async_dispose()
    for caught in (sync_error.value, async_error.value):
        assert not isinstance(caught, DatabaseError) and not is_retryable(caught)


def test_a_killed_connection_is_unavailable_and_the_pool_recovers(pg_url: str) -> None:
    database.bind(pg_url, pool_size=1, max_overflow=0)
    with pytest.raises(DatabaseUnavailableError) as caught, database.db_session() as session:
        terminate(pg_url, session.execute(text("SELECT pg_backend_pid()")).scalar_one())
        session.execute(text("SELECT 1"))
    assert not caught.value.ambiguous  # lost on a statement, not on COMMIT
    with database.db_session() as session:
        assert session.execute(text("SELECT 1")).scalar_one() == 1


async def test_a_killed_connection_is_unavailable_async(pg_url: str) -> None:
    database.async_bind(pg_url, pool_size=1, max_overflow=0)
    with pytest.raises(DatabaseUnavailableError):
        async with database.async_db_session() as session:
            pid = (await session.execute(text("SELECT pg_backend_pid()"))).scalar_one()
            terminate(pg_url, pid)
            await session.execute(text("SELECT 1"))
    async with database.async_db_session() as session:
        assert (await session.execute(text("SELECT 1"))).scalar_one() == 1
    await database.async_dispose()


@pytest.mark.parametrize("bind", [database.bind, database.async_bind], ids=["psycopg", "asyncpg"])
async def test_connections_carry_server_side_keepalives(
    pg_url: str, bind: Callable[..., object]
) -> None:
    bind(pg_url)
    query = text(
        "SELECT current_setting('tcp_keepalives_idle'), current_setting('tcp_keepalives_interval'),"
        " current_setting('tcp_keepalives_count')"
    )
    if bind is database.bind:
        with database.db_session() as session:
            row = tuple(session.execute(query).one())
    else:
        async with database.async_db_session() as session:
            row = tuple((await session.execute(query)).one())
        await database.async_dispose()
    assert row == ("30", "10", "3")


def make_conflicting_table(pg_url: str) -> None:
    with psycopg.connect(pg_url.replace("+psycopg", ""), autocommit=True) as admin:
        admin.execute("CREATE TABLE ledger (amount int NOT NULL)")


def serializable_insert(session: Session, amount: int) -> None:
    session.execute(text("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE"))
    total = session.execute(text("SELECT coalesce(sum(amount), 0) FROM ledger")).scalar_one()
    session.execute(text("INSERT INTO ledger VALUES (:amount)"), {"amount": total + amount})


def test_a_serialization_failure_is_retried_to_success(pg_url: str) -> None:
    make_conflicting_table(pg_url)
    database.bind(pg_url)
    attempts: list[int] = []

    @retrying(attempts=3)
    def add(amount: int) -> None:
        attempts.append(amount)
        with database.db_session() as session:
            serializable_insert(session, amount)
            if len(attempts) == 1:  # a concurrent writer commits first, once
                with database.db_session() as other:
                    serializable_insert(other, 100)

    add(1)
    assert attempts == [1, 1]
    with database.db_session() as session:
        rows = session.execute(text("SELECT amount FROM ledger ORDER BY amount")).scalars()
        assert list(rows) == [100, 101]


def test_a_conflict_without_retrying_is_typed(pg_url: str) -> None:
    make_conflicting_table(pg_url)
    database.bind(pg_url)
    with (
        pytest.raises(RetryableConflictError, match="serialization failure"),
        database.db_session() as session,
    ):
        serializable_insert(session, 1)
        with database.db_session() as other:
            serializable_insert(other, 100)


def test_retrying_gives_up_after_its_attempts_and_skips_what_is_unsafe() -> None:
    calls: list[str] = []

    @retrying(attempts=3, initial_delay=0, max_delay=0)
    def always(error: Exception) -> None:
        calls.append(type(error).__name__)
        raise error

    with pytest.raises(RetryableConflictError):
        always(RetryableConflictError("deadlock detected"))
    assert len(calls) == 3
    calls.clear()
    for unsafe in (
        DatabaseUnavailableError("lost during COMMIT", ambiguous=True),
        DatabaseTimeoutError("statement timeout"),
        IntegrityError("INSERT", {}, Exception("duplicate key")),
    ):
        with pytest.raises(type(unsafe)):
            always(unsafe)
    assert len(calls) == 3  # each ran once


async def test_retrying_wraps_coroutines_and_logs_each_retry(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls = 0

    @retrying(attempts=4, initial_delay=0.001, max_delay=0.002)
    async def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise DatabaseUnavailableError("connection refused")
        return "stored"

    with caplog.at_level(logging.WARNING, logger="servicekit.database"):
        assert await flaky() == "stored"
    assert calls == 3
    assert [r.message.split(" failed ")[0] for r in caplog.records] == [flaky.__qualname__] * 2


def test_retrying_refuses_settings_that_cannot_work() -> None:
    with pytest.raises(ValueError, match="attempts >= 1"):
        retrying(attempts=0)


def test_waiting_for_an_absent_database_logs_each_attempt_then_gives_up(
    caplog: pytest.LogCaptureFixture,
) -> None:
    database.bind(closed_port_url("psycopg"), connect_timeout=1)
    with (
        caplog.at_level(logging.WARNING, logger="servicekit.database"),
        pytest.raises(DatabaseUnavailableError),
    ):
        database.wait_for_database(0.5, interval=0.1)
    waits = [r.message for r in caplog.records if "not reachable yet" in r.message]
    assert len(waits) >= 2
    assert waits[0].startswith("database not reachable yet (attempt 1,")


async def test_waiting_for_a_running_database_returns_at_once(pg_url: str) -> None:
    database.async_bind(pg_url)
    await database.async_wait_for_database(5)
    await database.async_dispose()


def test_an_exhausted_pool_is_a_timeout(pg_url: str) -> None:
    database.bind(pg_url, pool_size=1, max_overflow=0, pool_timeout=1)
    with database.db_session() as holder:
        holder.execute(text("SELECT 1"))  # the pool's only connection, held
        with (
            pytest.raises(DatabaseTimeoutError, match="no pooled connection"),
            database.db_session() as session,
        ):
            session.execute(text("SELECT 1"))


async def test_an_exhausted_pool_is_a_503_through_the_fastapi_dependency(pg_url: str) -> None:
    database.async_bind(pg_url, pool_size=1, max_overflow=0, pool_timeout=1)
    app = FastAPI()

    @app.exception_handler(DatabaseTimeoutError)
    async def slow(_request: Request, _exc: DatabaseTimeoutError) -> JSONResponse:
        return JSONResponse({"detail": "slow"}, status_code=503)

    @app.get("/one")
    async def one(session: Annotated[AsyncSession, Depends(database.fastapi_async_session)]) -> int:
        return int((await session.execute(text("SELECT 1"))).scalar_one())

    transport = httpx.ASGITransport(app=app)
    async with (
        database.async_db_session() as holder,
        httpx.AsyncClient(transport=transport, base_url="http://app") as client,
    ):
        await holder.execute(text("SELECT 1"))  # the pool's only connection, held
        response = await client.get("/one")
    assert response.status_code == 503
    await database.async_dispose()
