"""Process-wide engines and session factories: ``bind()`` once, use sessions anywhere.

Bind from application start-up (a FastAPI lifespan, a worker's main), never at import
time: import-time binding makes import order matter and reads settings too early.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import create_engine
from sqlalchemy.engine import URL, Engine
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session, sessionmaker

from servicekit.database._options import engine_kwargs, install_sqlite_pragmas
from servicekit.database._url import normalize_url, resolve_url
from servicekit.database.errors import NotBoundError
from servicekit.database.settings import EngineSettings


class _BoundSessionMaker(sessionmaker[Session]):
    """A ``sessionmaker`` that refuses to hand out sessions before ``bind()``."""

    def __call__(self, **local_kw: Any) -> Session:
        if self.kw.get("bind") is None and "bind" not in local_kw:
            raise NotBoundError("SessionLocal used before servicekit.database.bind()")
        return super().__call__(**local_kw)


class _BoundAsyncSessionMaker(async_sessionmaker[AsyncSession]):
    """An ``async_sessionmaker`` that refuses to hand out sessions before ``async_bind()``."""

    def __call__(self, **local_kw: Any) -> AsyncSession:
        if self.kw.get("bind") is None and "bind" not in local_kw:
            raise NotBoundError("AsyncSessionLocal used before servicekit.database.async_bind()")
        return super().__call__(**local_kw)


SessionLocal: sessionmaker[Session] = _BoundSessionMaker(autoflush=False, expire_on_commit=False)
AsyncSessionLocal: async_sessionmaker[AsyncSession] = _BoundAsyncSessionMaker(
    autoflush=False, expire_on_commit=False
)

_engines: dict[str, Any] = {"sync": None, "async": None}


def bind(url: str | URL | None = None, **overrides: Any) -> Engine:
    """Create the process's sync engine and point :data:`SessionLocal` at it.

    ``url`` defaults to ``$DATABASE_URL``. Keywords named like :class:`EngineSettings`
    fields (``pool_size``, ``statement_timeout_ms``, ``pool_use_lifo`` ...) override the
    environment; any other keyword goes to :func:`sqlalchemy.create_engine` unchanged.
    Binding again disposes the previous engine.
    """
    target = normalize_url(resolve_url(url), is_async=False)
    settings, extra = EngineSettings.from_env().with_overrides(overrides)
    engine = create_engine(target, **engine_kwargs(target, settings, extra))
    if target.get_backend_name() == "sqlite":
        install_sqlite_pragmas(engine)
    previous: Engine | None = _engines["sync"]
    if previous is not None:
        previous.dispose()
    _engines["sync"] = engine
    SessionLocal.configure(bind=engine)
    return engine


def async_bind(url: str | URL | None = None, **overrides: Any) -> AsyncEngine:
    """Create the process's async engine and point :data:`AsyncSessionLocal` at it.

    Same arguments as :func:`bind`; Postgres URLs use asyncpg, SQLite uses aiosqlite.
    Call :func:`async_dispose` before binding again from a different event loop.
    """
    target = normalize_url(resolve_url(url), is_async=True)
    settings, extra = EngineSettings.from_env().with_overrides(overrides)
    engine = create_async_engine(target, **engine_kwargs(target, settings, extra))
    if target.get_backend_name() == "sqlite":
        install_sqlite_pragmas(engine.sync_engine)
    _engines["async"] = engine
    AsyncSessionLocal.configure(bind=engine)
    return engine


def get_engine() -> Engine:
    """The engine :func:`bind` created."""
    engine: Engine | None = _engines["sync"]
    if engine is None:
        raise NotBoundError("servicekit.database.bind() has not been called")
    return engine


def get_async_engine() -> AsyncEngine:
    """The engine :func:`async_bind` created."""
    engine: AsyncEngine | None = _engines["async"]
    if engine is None:
        raise NotBoundError("servicekit.database.async_bind() has not been called")
    return engine


def dispose() -> None:
    """Close the sync engine's connections and unbind :data:`SessionLocal`."""
    engine: Engine | None = _engines["sync"]
    _engines["sync"] = None
    SessionLocal.configure(bind=None)
    if engine is not None:
        engine.dispose()


async def async_dispose() -> None:
    """Close the async engine's connections and unbind :data:`AsyncSessionLocal`."""
    engine: AsyncEngine | None = _engines["async"]
    _engines["async"] = None
    AsyncSessionLocal.configure(bind=None)
    if engine is not None:
        await engine.dispose()
