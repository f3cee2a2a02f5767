"""Translate :class:`EngineSettings` into ``create_engine`` keyword arguments per driver."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, Engine
from sqlalchemy.pool import NullPool, StaticPool

from servicekit.database.settings import EngineSettings

# libpq keepalives: detect a dead peer (NAT timeouts, failovers) in ~60 s instead of
# the kernel default of two hours.
_LIBPQ_KEEPALIVES = {
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
}

# Pools that take no sizing arguments (create_engine rejects them there).
_UNSIZED_POOLS = (NullPool, StaticPool)


def engine_kwargs(url: URL, settings: EngineSettings, extra: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments for ``create_engine`` / ``create_async_engine``.

    ``extra`` (anything ``bind()`` received that is not a setting) is applied last;
    its ``connect_args`` are merged into ours rather than replacing them.
    """
    kwargs: dict[str, Any] = {"echo": settings.echo, "pool_pre_ping": settings.pool_pre_ping}
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
        return {"server_settings": server, "timeout": settings.connect_timeout}
    options = " ".join(
        f"-c {name}={value}" for name, value in server.items() if name != "application_name"
    )
    return {
        "application_name": server["application_name"],
        "options": options,
        "connect_timeout": settings.connect_timeout,
        **_LIBPQ_KEEPALIVES,
    }


def install_sqlite_pragmas(engine: Engine) -> None:
    """Turn on foreign keys for every SQLite connection (SQLite defaults them off)."""

    @event.listens_for(engine, "connect")
    def _enable_foreign_keys(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()
