"""Process-wide engines and session factories: ``bind()`` once, use sessions anywhere.

Bind from application start-up (a FastAPI lifespan, a worker's main), never at import
time: import-time binding makes import order matter and reads settings too early.

The sync and async halves are twins (``bind``/``async_bind``, ``dispose``/
``async_dispose``, ``get_engine``/``get_async_engine``, ``SessionLocal``/
``AsyncSessionLocal``): same arguments, same behaviour, checked by
``tests/runtime/test_twin_parity.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from typing import Any, Literal

from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Engine
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool, QueuePool

from servicekit.database._options import engine_kwargs, install_engine_hooks
from servicekit.database._translation import install_error_translation
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

# Testgres' transactional isolation pins the session makers to a test's outer
# transaction: an app under test binds its own engine at start-up, and its sessions
# must still join that transaction. A pin holds while the engine bound (if any) is on
# the pinned database: an app pointed at another database (SQLite) gets its own.
_pins: dict[str, tuple[tuple[object, ...], dict[str, Any]] | None] = {
    "sync": None,
    "async": None,
}

logger = logging.getLogger("servicekit.database")

# An async engine's connections can only be closed on the event loop that opened them:
# the loop each async engine last connected on, and the disposals still running.
_connection_loops: weakref.WeakKeyDictionary[Engine, asyncio.AbstractEventLoop] = (
    weakref.WeakKeyDictionary()
)
_disposals: set[asyncio.Task[None]] = set()


def bind(url: str | URL | None = None, **overrides: Any) -> Engine:
    """Create the process's sync engine and point :data:`SessionLocal` at it.

    ``url`` defaults to ``$DATABASE_URL``. Keywords named like :class:`EngineSettings`
    fields (``pool_size``, ``statement_timeout_ms``, ``pool_use_lifo`` ...) override the
    environment; any other keyword goes to :func:`sqlalchemy.create_engine` unchanged.
    Binding again disposes the previous engine (its pooled connections are closed).
    """
    engine = build_engine(resolve_url(url), overrides)
    previous: Engine | None = _engines["sync"]
    _engines["sync"] = engine
    _point_sessions("sync")
    if previous is not None:
        previous.dispose()
    return engine


def async_bind(url: str | URL | None = None, **overrides: Any) -> AsyncEngine:
    """Create the process's async engine and point :data:`AsyncSessionLocal` at it.

    Same arguments as :func:`bind`; Postgres URLs use asyncpg, SQLite uses aiosqlite.
    Binding again disposes the previous engine, as :func:`bind` does. Its connections can
    only be closed (awaited) on the event loop that opened them, and this function stays
    a plain one so that start-up code of either kind can call it: called on that loop, it
    disposes of the previous engine in a task there (:func:`async_dispose` waits for it);
    when that loop has already closed, the previous pool is dropped without I/O.
    Rebinding away from the old loop while it still exists cannot close anything and
    logs a warning: call :func:`async_dispose` on the old loop first.
    """
    engine = build_async_engine(resolve_url(url), overrides)
    previous: AsyncEngine | None = _engines["async"]
    _engines["async"] = engine
    _point_sessions("async")
    if previous is not None:
        _dispose_on_its_loop(previous)
    return engine


def build_engine(url: str | URL, overrides: dict[str, Any]) -> Engine:
    """An engine with servicekit's settings, hooks and error types (what ``bind`` binds)."""
    target = normalize_url(url, is_async=False)
    settings, extra = EngineSettings.from_env().with_overrides(overrides)
    engine = create_engine(target, **engine_kwargs(target, settings, extra))
    install_engine_hooks(engine, target, settings)
    install_error_translation(engine)
    return engine


def build_async_engine(url: str | URL, overrides: dict[str, Any]) -> AsyncEngine:
    """The async twin of :func:`build_engine` (what ``async_bind`` binds)."""
    target = normalize_url(url, is_async=True)
    settings, extra = EngineSettings.from_env().with_overrides(overrides)
    engine = create_async_engine(target, **engine_kwargs(target, settings, extra))
    install_engine_hooks(engine.sync_engine, target, settings)
    install_error_translation(engine.sync_engine)
    _remember_connection_loop(engine.sync_engine)
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
    _point_sessions("sync")
    if engine is not None:
        engine.dispose()


async def async_dispose() -> None:
    """Close the async engine's connections and unbind :data:`AsyncSessionLocal`.

    Also waits for the disposal of engines :func:`async_bind` replaced on this loop.
    """
    _unbind_async()
    loop = asyncio.get_running_loop()
    pending = [task for task in _disposals if task.get_loop() is loop]
    if pending:
        await asyncio.wait(pending)


def _unbind_async() -> None:
    """:func:`async_dispose` for code that cannot await (testgres' sync fixtures).

    The engine's disposal is started, or skipped, as when :func:`async_bind` replaces it;
    nothing waits for it.
    """
    engine: AsyncEngine | None = _engines["async"]
    _engines["async"] = None
    _point_sessions("async")
    if engine is not None:
        _dispose_on_its_loop(engine)


def _pin_sessions(kind: Literal["sync", "async"], url: URL, **session_kw: Any) -> None:
    """Hand out sessions made with ``session_kw`` while the engine bound is on ``url``'s
    database (or none is bound), across later binds, until :func:`_unpin_sessions`."""
    _unpin_sessions(kind)
    _pins[kind] = (_database_of(url), session_kw)
    _point_sessions(kind)


def _unpin_sessions(kind: Literal["sync", "async"]) -> None:
    pinned = _pins[kind]
    _pins[kind] = None
    if pinned is not None:
        maker = SessionLocal if kind == "sync" else AsyncSessionLocal
        for key in pinned[1]:
            maker.kw.pop(key, None)
        _point_sessions(kind)


def _pinned(kind: Literal["sync", "async"]) -> bool:
    """Whether the session makers of ``kind`` hand out sessions of a test's transaction."""
    engine: Engine | AsyncEngine | None = _engines[kind]
    pinned = _pins[kind]
    return pinned is not None and (engine is None or _database_of(engine.url) == pinned[0])


def _point_sessions(kind: Literal["sync", "async"]) -> None:
    """Point a session maker at the engine bound, or at its pin when that applies."""
    maker = SessionLocal if kind == "sync" else AsyncSessionLocal
    pinned = _pins[kind]
    if pinned is not None and _pinned(kind):
        maker.configure(**pinned[1])
        return
    if pinned is not None:
        for key in pinned[1]:
            maker.kw.pop(key, None)
    maker.configure(bind=_engines[kind])


def _database_of(url: URL) -> tuple[object, ...]:
    return (url.get_backend_name(), url.host, url.port or 5432, url.database)


def _remember_connection_loop(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _connected(_dbapi_connection: Any, _record: Any) -> None:
        # Async drivers connect inside the event loop; outside one there is nothing to note.
        with contextlib.suppress(RuntimeError):
            _connection_loops[engine] = asyncio.get_running_loop()


def _dispose_on_its_loop(engine: AsyncEngine) -> None:
    """Dispose of an unbound async engine on the loop its connections belong to."""
    loop = _connection_loops.pop(engine.sync_engine, None)
    try:
        running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if loop is not None and loop is running:
        task = loop.create_task(engine.dispose())
        _disposals.add(task)
        task.add_done_callback(_disposed)
        return
    if loop is not None and not loop.is_closed() and _may_hold_connections(engine):
        # Left as it is, so that it can still be disposed of on its own loop.
        logger.warning(
            "async engine %s was unbound away from the event loop that owns its"
            " connections, which stay open: call async_dispose() on that loop first",
            engine.url.render_as_string(hide_password=True),
        )
        return
    # Never connected, its loop has closed so the connections can no longer be closed
    # politely, or no idle connection is pooled: let go of the pool without I/O.
    engine.sync_engine.dispose(close=False)


def _may_hold_connections(engine: AsyncEngine) -> bool:
    pool = engine.sync_engine.pool
    if isinstance(pool, NullPool):
        return False
    if isinstance(pool, QueuePool):
        return pool.checkedin() > 0
    return True


def _disposed(task: asyncio.Task[None]) -> None:
    _disposals.discard(task)
    if not task.cancelled() and (exc := task.exception()) is not None:
        logger.warning("disposing of an unbound async engine failed: %r", exc)
