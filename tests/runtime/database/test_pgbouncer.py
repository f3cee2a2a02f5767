"""Behind PgBouncer in transaction pooling mode (``DB_POOLER=pgbouncer``), both drivers.

The repository tests also run through PgBouncer (``any_url`` / ``driver_url``); these
check what only a pooler can break: startup parameters, prepared statements, timeouts
that must not leak to the next client of a backend, and migrations.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError

from servicekit import database
from servicekit.database import DatabaseError, DatabaseTimeoutError, is_retryable
from tests.runtime.database.test_alembic import _applied, _project, _upgrade

TIMEOUTS = (
    "SELECT current_setting('statement_timeout'), current_setting('lock_timeout'),"
    " current_setting('idle_in_transaction_session_timeout')"
)
LEFT_BEHIND = "SELECT count(*) FROM pg_prepared_statements"


def _sync_rounds(url: str, rounds: int, **settings: Any) -> list[tuple[Any, ...]]:
    """``rounds`` transactions from 16 threads, each reading its timeouts and the
    backend's prepared statements."""
    database.bind(url, **settings)

    def one(_: int) -> tuple[Any, ...]:
        with database.db_session() as session:
            timeouts = session.execute(text(TIMEOUTS)).one()
            return (*timeouts, session.execute(text(LEFT_BEHIND)).scalar_one())

    with ThreadPoolExecutor(16) as pool:
        return list(pool.map(one, range(rounds)))


async def _async_rounds(url: str, rounds: int, **settings: Any) -> list[tuple[Any, ...]]:
    database.async_bind(url, **settings)

    async def one() -> tuple[Any, ...]:
        async with database.async_db_session() as session:
            timeouts = (await session.execute(text(TIMEOUTS))).one()
            return (*timeouts, (await session.execute(text(LEFT_BEHIND))).scalar_one())

    try:
        return await asyncio.gather(*(one() for _ in range(rounds)))
    finally:
        await database.async_dispose()


def _run(
    driver: str,
    url: str,
    rounds: int,
    *,
    sync: Callable[..., list[tuple[Any, ...]]] = _sync_rounds,
    run_async: Callable[..., Coroutine[Any, Any, list[tuple[Any, ...]]]] = _async_rounds,
    **settings: Any,
) -> list[tuple[Any, ...]]:
    if driver == "psycopg":
        return sync(url, rounds, **settings)
    return asyncio.run(run_async(url, rounds, **settings))


@pytest.mark.parametrize("driver", ["psycopg", "asyncpg"])
def test_concurrent_transactions_keep_their_timeouts_and_leave_no_statements(
    pgbouncer_url: str, driver: str
) -> None:
    results = _run(driver, pgbouncer_url, 400, statement_timeout_ms=4321, pool_size=16)
    assert len(results) == 400
    # Every transaction ran under the configured timeouts, whichever backend it got, and
    # no backend kept a prepared statement for the next client to trip over.
    assert set(results) == {("4321ms", "2s", "10s", 0)}


def test_the_timeouts_end_with_each_transaction(pgbouncer_url: str) -> None:
    """SET LOCAL, not SET: another client of the same backends sees the server defaults."""
    _sync_rounds(pgbouncer_url, 50, statement_timeout_ms=4321)
    plain = pgbouncer_url.replace("+psycopg", "")
    for _ in range(5):
        with psycopg.connect(plain, autocommit=True, prepare_threshold=None) as other:
            row = other.execute("SHOW statement_timeout").fetchone()
            assert row == ("0",)


def test_timeouts_left_to_the_server_cost_no_round_trip(pg_url: str, pgbouncer_url: str) -> None:
    """With the three timeouts at 0 nothing is sent: the database's (or role's) apply."""
    with psycopg.connect(pg_url.replace("+psycopg", ""), autocommit=True) as admin:
        name = admin.info.dbname
        admin.execute(f"ALTER DATABASE \"{name}\" SET statement_timeout = '3s'")
    engine = database.bind(
        pgbouncer_url, statement_timeout_ms=0, lock_timeout_ms=0, idle_in_tx_timeout_ms=0
    )
    sent: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *args: sent.append(args[2]))
    with database.db_session() as session:
        assert session.execute(text("SHOW statement_timeout")).scalar_one() == "3s"
    assert sent == ["SHOW statement_timeout"]


@pytest.mark.parametrize("driver", ["psycopg", "asyncpg"])
def test_a_slow_statement_is_a_timeout_behind_pgbouncer(pgbouncer_url: str, driver: str) -> None:
    def slow_sync(url: str, _rounds: int, **settings: Any) -> list[tuple[Any, ...]]:
        database.bind(url, **settings)
        with database.db_session() as session:
            session.execute(text("SELECT pg_sleep(2)"))
        return []

    async def slow_async(url: str, _rounds: int, **settings: Any) -> list[tuple[Any, ...]]:
        database.async_bind(url, **settings)
        try:
            async with database.async_db_session() as session:
                await session.execute(text("SELECT pg_sleep(2)"))
        finally:
            await database.async_dispose()
        return []

    with pytest.raises(DatabaseTimeoutError, match="statement timeout"):
        _run(
            driver, pgbouncer_url, 1, sync=slow_sync, run_async=slow_async, statement_timeout_ms=200
        )


def test_without_the_setting_asyncpg_is_refused_as_a_configuration_error(
    pgbouncer_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not an outage (no 503, no retry): the service's settings are wrong."""
    monkeypatch.delenv("DB_POOLER")
    with pytest.raises(DBAPIError, match="unsupported startup parameter") as caught:
        _run("asyncpg", pgbouncer_url, 1)
    assert not isinstance(caught.value, DatabaseError) and not is_retryable(caught.value)


def test_without_the_setting_psycopg_silently_loses_its_timeouts(
    pgbouncer_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Why the setting exists: PgBouncer drops libpq's options without a word."""
    monkeypatch.delenv("DB_POOLER")
    (statement_timeout, *_) = _run("psycopg", pgbouncer_url, 1)[0]
    assert statement_timeout == "0"


@pytest.mark.slow
@pytest.mark.parametrize("driver", ["psycopg", "asyncpg"])
def test_replicas_migrate_once_through_pgbouncer(
    tmp_path: Path, pg_url: str, pgbouncer_url: str, driver: str
) -> None:
    """The migration lock is transaction-level, which transaction pooling keeps."""
    project = _project(tmp_path)
    replicas = [_upgrade(project, pgbouncer_url.replace("+psycopg", f"+{driver}")) for _ in "abc"]
    outputs = [replica.communicate(timeout=120)[0] for replica in replicas]
    assert [replica.returncode for replica in replicas] == [0, 0, 0], outputs
    assert _applied(pg_url) == ["r1", "r2", "r3"]
