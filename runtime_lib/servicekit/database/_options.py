"""Translate :class:`EngineSettings` into ``create_engine`` keyword arguments per driver."""

from __future__ import annotations

import weakref
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.pool import NullPool, StaticPool

from servicekit.database._liveness import install_ping_after_idle
from servicekit.database.settings import EngineSettings

# libpq keepalives: detect a dead peer (NAT timeouts, failovers) in ~60 s instead of
# the kernel default of two hours.
_LIBPQ_KEEPALIVES = {
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
}

# Engines whose every statement must run in a transaction: behind PgBouncer the
# timeouts are set per transaction, so a statement outside one would run without them.
_TRANSACTION_BOUND: weakref.WeakSet[Engine] = weakref.WeakSet()

# Pools that take no sizing arguments (create_engine rejects them there).
_UNSIZED_POOLS = (NullPool, StaticPool)


def engine_kwargs(url: URL, settings: EngineSettings, extra: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments for ``create_engine`` / ``create_async_engine``.

    ``extra`` (anything ``bind()`` received that is not a setting) is applied last;
    its ``connect_args`` are merged into ours rather than replacing them.
    """
    kwargs: dict[str, Any] = {
        "echo": settings.echo,
        # Zero means "before every checkout": SQLAlchemy's own pre-ping. Otherwise the
        # liveness check after idle (``_liveness.py``) takes its place.
        "pool_pre_ping": settings.pool_pre_ping and settings.pool_ping_idle_ms == 0,
    }
    backend = url.get_backend_name()
    poolclass = extra.get("poolclass")
    sized = backend == "postgresql" and not (
        isinstance(poolclass, type) and issubclass(poolclass, _UNSIZED_POOLS)
    )
    if sized:
        kwargs.update(
            pool_size=settings.pool_size,
            max_overflow=settings.max_overflow,
            pool_timeout=settings.pool_timeout,
            pool_recycle=settings.pool_recycle,
            pool_use_lifo=settings.pool_use_lifo,
        )
    connect_args = _connect_args(url, settings)
    connect_args.update(extra.pop("connect_args", {}))
    if connect_args:
        kwargs["connect_args"] = connect_args
    kwargs.update(extra)
    return kwargs


def _connect_args(url: URL, settings: EngineSettings) -> dict[str, Any]:
    if url.get_backend_name() != "postgresql":
        return {}
    server = settings.server_settings()
    if url.get_driver_name() == "asyncpg":
        # asyncpg has no libpq: parameters go through server_settings, which carry the
        # server-side TCP keepalives too (asyncpg has no client-side ones).
        args: dict[str, Any] = {"server_settings": server, "timeout": settings.connect_timeout}
        return {**args, **pooler_connect_args(url, settings)}
    args = {
        "application_name": server["application_name"],
        "connect_timeout": settings.connect_timeout,
        **_LIBPQ_KEEPALIVES,
    }
    options = " ".join(
        f"-c {name}={value}" for name, value in server.items() if name != "application_name"
    )
    if options:
        args["options"] = options
    return {**args, **pooler_connect_args(url, settings)}


def pooler_connect_args(url: URL, settings: EngineSettings) -> dict[str, Any]:
    """The driver's arguments for running behind PgBouncer (none without it).

    Behind a transaction pooler a prepared statement must not outlive its transaction:
    the next one may run on another backend, where its name is unknown or already taken.
    psycopg is told never to prepare. SQLAlchemy's asyncpg adapter prepares every
    statement; an empty name makes it the protocol's unnamed statement, which the next
    statement replaces, so nothing is cached or left behind on the backend.
    """
    if not settings.behind_pgbouncer or url.get_backend_name() != "postgresql":
        return {}
    if url.get_driver_name() == "asyncpg":
        return {
            "statement_cache_size": 0,
            "prepared_statement_cache_size": 0,
            "prepared_statement_name_func": _unnamed_statement,
        }
    return {"prepare_threshold": None}


def _unnamed_statement() -> str:
    return ""


def install_engine_hooks(engine: Engine, url: URL, settings: EngineSettings) -> None:
    """What an engine needs besides its arguments: the liveness check after idle,
    SQLite's foreign keys, and behind PgBouncer the timeouts that cannot travel as
    startup parameters."""
    if settings.pool_pre_ping and settings.pool_ping_idle_ms > 0:
        install_ping_after_idle(engine, settings.pool_ping_idle_ms)
    if url.get_backend_name() == "sqlite":
        _install_sqlite_pragmas(engine)
    elif settings.behind_pgbouncer:
        _install_timeouts_per_transaction(engine, settings)
        _TRANSACTION_BOUND.add(engine)


def may_autocommit(engine: Engine) -> bool:
    """Whether a statement on ``engine`` may run outside a transaction: not behind
    PgBouncer, where the timeouts are set at the start of each transaction."""
    return engine not in _TRANSACTION_BOUND


def _install_timeouts_per_transaction(engine: Engine, settings: EngineSettings) -> None:
    # One statement at the start of every transaction (a round trip): set_config(...,
    # true) is SET LOCAL, so the values end with the transaction and never leak to the
    # next client PgBouncer gives this backend to. A timeout of 0 is left to the server
    # (a role's or database's setting): with all three at 0 there is no extra round trip.
    assignments = ", ".join(
        f"set_config('{name}', '{value}', true)"
        for name, value in settings.timeouts().items()
        if value != "0"
    )
    if not assignments:
        return
    statement = f"SELECT {assignments}"

    @event.listens_for(engine, "begin")
    def _set_timeouts(connection: Connection) -> None:
        connection.exec_driver_sql(statement)


def _install_sqlite_pragmas(engine: Engine) -> None:
    """Turn on foreign keys for every SQLite connection (SQLite defaults them off)."""

    @event.listens_for(engine, "connect")
    def _enable_foreign_keys(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()
