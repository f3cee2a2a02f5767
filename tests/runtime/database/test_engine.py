"""bind()/async_bind(): URL normalisation, env-driven defaults, real server settings."""

from __future__ import annotations

import asyncio
import logging

import psycopg
import pytest
from sqlalchemy import event, pool, text
from sqlalchemy.engine import Engine

from servicekit import ConfigurationError, database
from servicekit.database import (
    DatabaseTimeoutError,
    DatabaseUnavailableError,
    EngineSettings,
    NotBoundError,
    normalize_url,
)


@pytest.mark.parametrize(
    ("url", "is_async", "expected"),
    [
        ("postgres://u:p@h:5432/db", False, "postgresql+psycopg://u:***@h:5432/db"),
        ("postgresql://u@h/db", False, "postgresql+psycopg://u@h/db"),
        ("postgresql://u@h/db", True, "postgresql+asyncpg://u@h/db"),
        ("postgres://u@h/db", True, "postgresql+asyncpg://u@h/db"),
        ("postgresql+asyncpg://u@h/db", False, "postgresql+psycopg://u@h/db"),
        ("postgresql+psycopg2://u@h/db", True, "postgresql+asyncpg://u@h/db"),
        ("sqlite:///local.db", True, "sqlite+aiosqlite:///local.db"),
        ("sqlite+aiosqlite:///local.db", False, "sqlite:///local.db"),
        ("mysql+pymysql://u@h/db", True, "mysql+pymysql://u@h/db"),
    ],
)
def test_normalize_url_picks_the_driver_for_the_mode(
    url: str, is_async: bool, expected: str
) -> None:
    assert str(normalize_url(url, is_async=is_async)) == expected


def test_settings_defaults_match_the_documented_table(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("APP_NAME", "K_SERVICE", "AWS_LAMBDA_FUNCTION_NAME"):
        monkeypatch.delenv(name, raising=False)
    settings = EngineSettings.from_env()
    assert settings == EngineSettings(
        application_name="servicekit",
        pool_size=10,
        max_overflow=0,
        pool_timeout=10,
        pool_recycle=1800,
        pool_use_lifo=True,
        statement_timeout_ms=5000,
        lock_timeout_ms=2000,
        idle_in_tx_timeout_ms=10000,
        echo=False,
    )


def test_settings_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APP_NAME", "orders")
    monkeypatch.setenv("K_SERVICE", "orders-cloudrun")
    monkeypatch.setenv("DB_POOL_SIZE", "3")
    monkeypatch.setenv("DB_POOL_USE_LIFO", "false")
    monkeypatch.setenv("DB_ECHO", "yes")
    settings = EngineSettings.from_env()
    assert settings.application_name == "orders-cloudrun"
    assert settings.pool_size == 3
    assert settings.pool_use_lifo is False
    assert settings.echo is True


def test_bad_environment_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DB_POOL_SIZE", "ten")
    with pytest.raises(ConfigurationError, match="DB_POOL_SIZE must be an integer, got 'ten'"):
        EngineSettings.from_env()


def test_the_pooler_is_named_not_guessed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DB_POOLER", " PgBouncer ")
    assert EngineSettings.from_env().behind_pgbouncer
    monkeypatch.setenv("DB_POOLER", "pgpool")
    with pytest.raises(ConfigurationError, match="DB_POOLER must be one of none, pgbouncer"):
        EngineSettings.from_env()


def test_bind_without_url_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    with pytest.raises(NotBoundError, match="DATABASE_URL is not set"):
        database.bind()


def test_sessions_refuse_to_start_before_bind() -> None:
    with pytest.raises(NotBoundError, match=r"before servicekit\.database\.bind\(\)"):
        database.SessionLocal()
    with pytest.raises(NotBoundError, match=r"async_bind\(\)"):
        database.AsyncSessionLocal()


SETTINGS_SQL = text(
    "SELECT current_setting('application_name'), current_setting('statement_timeout'),"
    " current_setting('lock_timeout'), current_setting('idle_in_transaction_session_timeout')"
)


def test_sync_engine_applies_env_and_keyword_overrides(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("APP_NAME", "billing")
    monkeypatch.delenv("K_SERVICE", raising=False)
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    monkeypatch.setenv("DB_LOCK_TIMEOUT_MS", "1500")
    engine = database.bind(pg_url, statement_timeout_ms=1234)
    with database.db_session() as session:
        row = session.execute(SETTINGS_SQL).one()
        keepalives = session.connection().connection.dbapi_connection.info.get_parameters()  # type: ignore[union-attr]
    assert tuple(row) == ("billing", "1234ms", "1500ms", "10s")
    assert keepalives["keepalives_idle"] == "30"
    assert engine.pool.size() == 10  # type: ignore[attr-defined]


async def test_async_engine_applies_settings_through_server_settings(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("APP_NAME", "billing-async")
    monkeypatch.delenv("K_SERVICE", raising=False)
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    engine = database.async_bind(pg_url, idle_in_tx_timeout_ms=7000, pool_size=2)
    assert engine.url.drivername == "postgresql+asyncpg"
    async with database.async_db_session() as session:
        row = (await session.execute(SETTINGS_SQL)).one()
    assert tuple(row) == ("billing-async", "5s", "2s", "7s")
    await database.async_dispose()


def test_statement_timeout_cancels_a_slow_query(pg_url: str) -> None:
    database.bind(pg_url, statement_timeout_ms=200)
    with pytest.raises(DatabaseTimeoutError) as caught, database.db_session() as session:
        session.execute(text("SELECT pg_sleep(3)"))
    assert isinstance(caught.value.__cause__, psycopg.errors.QueryCanceled)  # the driver's


async def test_statement_timeout_cancels_a_slow_query_async(pg_url: str) -> None:
    database.async_bind(pg_url, statement_timeout_ms=200)
    with pytest.raises(DatabaseTimeoutError, match="statement timeout"):
        async with database.async_db_session() as session:
            await session.execute(text("SELECT pg_sleep(3)"))
    await database.async_dispose()


def test_pool_recovers_after_its_connections_are_killed(pg_url: str) -> None:
    engine = database.bind(pg_url, pool_size=5, max_overflow=0)
    connections = [engine.connect() for _ in range(5)]
    pids = [c.execute(text("SELECT pg_backend_pid()")).scalar_one() for c in connections]
    for connection in connections:
        connection.close()  # back to the pool, still open server-side
    dbname = engine.url.database
    with psycopg.connect(pg_url.replace("+psycopg", ""), autocommit=True) as admin:
        killed = admin.execute(
            "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND pid = ANY(%s)) AS t",
            (dbname, pids),
        ).fetchone()
    assert killed == (5,)
    # Used a moment ago, the first connection is handed out unchecked (no ping inside
    # DB_POOL_PING_IDLE_MS): one typed failure, and the pool replaces every connection
    # older than it.
    with pytest.raises(DatabaseUnavailableError), database.db_session() as session:
        session.execute(text("SELECT 1"))
    results = []
    for _ in range(20):
        with database.db_session() as session:
            results.append(session.execute(text("SELECT 1")).scalar_one())
    assert results == [1] * 20


def test_sqlite_engine_enforces_foreign_keys(sqlite_url: str) -> None:
    database.bind(sqlite_url)
    with database.db_session() as session:
        assert session.execute(text("PRAGMA foreign_keys")).scalar_one() == 1


def _connections(pg_url: str, application_name: str) -> int:
    """How many server connections ``application_name`` holds on the test's database."""
    with psycopg.connect(pg_url.replace("+psycopg", ""), autocommit=True) as admin:
        row = admin.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE application_name = %s AND datname = current_database()",
            (application_name,),
        ).fetchone()
    assert row is not None
    return int(row[0])


async def _use_a_session() -> None:
    async with database.async_db_session() as session:
        await session.execute(text("SELECT 1"))


def _disposals(engine: Engine) -> list[Engine]:
    disposed: list[Engine] = []
    event.listen(engine, "engine_disposed", disposed.append)
    return disposed


def test_binding_again_disposes_the_previous_engine(pg_url: str) -> None:
    database.bind(pg_url, application_name="rebind-sync")
    with database.db_session() as session:
        session.execute(text("SELECT 1"))
    assert _connections(pg_url, "rebind-sync") == 1  # pooled, still open
    database.bind(pg_url, application_name="rebind-sync-2")
    assert _connections(pg_url, "rebind-sync") == 0


async def test_async_binding_again_disposes_the_previous_engine(pg_url: str) -> None:
    # The twin of the test above: async_bind() used to leave the old pool open.
    database.async_bind(pg_url, application_name="rebind-async")
    async with database.async_db_session() as session:
        await session.execute(text("SELECT 1"))
    assert _connections(pg_url, "rebind-async") == 1
    database.async_bind(pg_url, application_name="rebind-async-2")
    async with database.async_db_session() as session:
        await session.execute(text("SELECT 1"))
    await database.async_dispose()  # waits for the replaced engine's disposal too
    assert _connections(pg_url, "rebind-async") == 0
    assert _connections(pg_url, "rebind-async-2") == 0


def test_async_rebind_after_the_old_loop_closed_drops_the_pool_quietly(
    pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    first = database.async_bind(pg_url, poolclass=pool.NullPool)
    disposed = _disposals(first.sync_engine)
    asyncio.run(_use_a_session())  # the loop that opened the connections is gone afterwards
    with caplog.at_level(logging.WARNING, logger="servicekit.database"):
        database.async_bind(pg_url, poolclass=pool.NullPool)
    assert disposed == [first.sync_engine]
    assert caplog.records == []
    asyncio.run(database.async_dispose())


def test_async_rebind_away_from_a_live_loop_warns(
    pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    loop = asyncio.new_event_loop()
    try:
        first = database.async_bind(pg_url, application_name="rebind-live-loop")
        loop.run_until_complete(_use_a_session())
        with caplog.at_level(logging.WARNING, logger="servicekit.database"):
            database.async_bind(pg_url, poolclass=pool.NullPool)
        assert "call async_dispose() on that loop first" in caplog.text
        assert _connections(pg_url, "rebind-live-loop") == 1  # left for its own loop
        loop.run_until_complete(first.dispose())
        assert _connections(pg_url, "rebind-live-loop") == 0
    finally:
        loop.close()
    asyncio.run(database.async_dispose())
