"""Read sessions: reads that may go to a streaming replica, and read-your-writes.

A service bound to a replica (``bind_replica()`` / ``async_bind_replica()``, URL from
``$DATABASE_READ_URL``) opens :func:`read_session` for reads that can tolerate the
replica's lag; without a replica the same code reads from the primary. A read session
refuses to write (:class:`ReadOnlySessionError`, raised before anything reaches the
server), so a write can never be sent to a server that cannot take it, nor hide in a
session that was meant for reads. Writes, and reads inside a write's transaction, use
the ordinary sessions: they always run on the primary.

A read session on Postgres or SQLite runs each statement on its own, outside a
transaction (``AUTOCOMMIT``): at the default isolation level (``READ COMMITTED``) every
statement sees its own snapshot whether or not a transaction surrounds it, so ``BEGIN``
and ``ROLLBACK`` would buy nothing but two round trips. Behind PgBouncer the timeouts are
set per transaction, so there read sessions keep theirs; under testgres' transactional
isolation they join the test's transaction like every other session. Use a write
session for a ``SET``, ``FOR UPDATE`` or ``REPEATABLE READ``: none of them outlives a
statement in a read session.

Read-your-writes across requests: after a write commits, :func:`wal_position` gives the
primary's WAL position; ``read_session(after=position)`` uses the replica only when it
has replayed that far, and the primary otherwise (no waiting).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any, Literal

from sqlalchemy import event, text
from sqlalchemy.engine import URL, Engine
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session

from servicekit.database import engine as primary
from servicekit.database._options import may_autocommit
from servicekit.database.errors import NotBoundError
from servicekit.database.session import _pool_timeouts_typed
from servicekit.errors import ReadOnlySessionError

__all__ = [
    "async_bind_replica",
    "async_dispose_replica",
    "async_read_session",
    "async_wal_position",
    "bind_replica",
    "dispose_replica",
    "fastapi_async_read_session",
    "fastapi_read_session",
    "read_session",
    "wal_position",
]

_replicas: dict[str, Any] = {"sync": None, "async": None}

_CAUGHT_UP = text(
    "SELECT coalesce(pg_last_wal_replay_lsn() >= CAST(CAST(:position AS text) AS pg_lsn), false)"
)
# The insert position, not the write or flush one: with synchronous_commit off a commit
# returns before its record is written, and the insert position already covers it.
_POSITION = text("SELECT CAST(pg_current_wal_insert_lsn() AS text)")


def bind_replica(url: str | URL | None = None, **overrides: Any) -> Engine | None:
    """Point read sessions at a replica: ``url``, else ``$DATABASE_READ_URL``.

    With neither, nothing is bound and read sessions read from the primary. Keywords
    are :func:`~servicekit.database.bind`'s (the replica gets the same settings).
    """
    target = url or os.environ.get("DATABASE_READ_URL", "").strip() or None
    dispose_replica()
    if target is None:
        return None
    engine = primary.build_engine(target, overrides)
    _replicas["sync"] = engine
    return engine


def async_bind_replica(url: str | URL | None = None, **overrides: Any) -> AsyncEngine | None:
    """The async twin of :func:`bind_replica`.

    Call :func:`async_dispose_replica` before binding again on another event loop, as
    with :func:`~servicekit.database.async_bind`.
    """
    target = url or os.environ.get("DATABASE_READ_URL", "").strip() or None
    previous: AsyncEngine | None = _replicas["async"]
    _replicas["async"] = None
    if previous is not None:
        primary._dispose_on_its_loop(previous)
    if target is None:
        return None
    engine = primary.build_async_engine(target, overrides)
    _replicas["async"] = engine
    return engine


def dispose_replica() -> None:
    """Close the replica's connections; read sessions go to the primary again."""
    engine: Engine | None = _replicas["sync"]
    _replicas["sync"] = None
    if engine is not None:
        engine.dispose()


async def async_dispose_replica() -> None:
    """The async twin of :func:`dispose_replica`."""
    engine: AsyncEngine | None = _replicas["async"]
    _replicas["async"] = None
    if engine is not None:
        await engine.dispose()


@contextmanager
def read_session(*, after: str | None = None) -> Iterator[Session]:
    """A session for reads: on the replica when one is bound (and, given ``after``, has
    replayed the primary's WAL that far), else on the primary. Rolled back at the end."""
    with _pool_timeouts_typed(), _open_read_session(after) as session:
        yield session


@asynccontextmanager
async def async_read_session(*, after: str | None = None) -> AsyncIterator[AsyncSession]:
    """The async twin of :func:`read_session`."""
    with _pool_timeouts_typed():
        async with _open_async_read_session(after) as session:
            yield session


def fastapi_read_session() -> Iterator[Session]:
    """FastAPI dependency: a read session for the request (see :func:`read_session`)."""
    with read_session() as session:
        yield session


async def fastapi_async_read_session() -> AsyncIterator[AsyncSession]:
    """Async FastAPI dependency: a read session for the request."""
    async with async_read_session() as session:
        yield session


def wal_position() -> str:
    """The primary's current WAL position: call it after a write commits and hand it to
    the next read (``read_session(after=...)``) that must see that write."""
    with primary.get_engine().connect() as connection:
        return str(connection.execute(_POSITION).scalar_one())


async def async_wal_position() -> str:
    """The async twin of :func:`wal_position`."""
    async with primary.get_async_engine().connect() as connection:
        return str((await connection.execute(_POSITION)).scalar_one())


class _ReadOnlySession(Session):
    """The class of read sessions: its listeners refuse every write (see below)."""


@contextmanager
def _open_read_session(after: str | None) -> Iterator[Session]:
    replica: Engine | None = _replicas["sync"]
    session = _read_only_session(bind=replica) if replica is not None else None
    if session is not None and not _caught_up(session, after):
        session.close()  # the replica lags behind that write: read on the primary
        session = None
    with session or _read_only_session() as chosen:
        if _may_autocommit(chosen, "sync"):
            chosen.connection(execution_options=_AUTOCOMMIT)
        yield chosen
        chosen.rollback()


@asynccontextmanager
async def _open_async_read_session(after: str | None) -> AsyncIterator[AsyncSession]:
    replica: AsyncEngine | None = _replicas["async"]
    session = _async_read_only_session(bind=replica) if replica is not None else None
    if session is not None and not await _async_caught_up(session, after):
        await session.close()
        session = None
    async with session or _async_read_only_session() as chosen:
        if _may_autocommit(chosen.sync_session, "async"):
            await chosen.connection(execution_options=_AUTOCOMMIT)
        yield chosen
        await chosen.rollback()


_AUTOCOMMIT = {"isolation_level": "AUTOCOMMIT"}


def _read_only_session(**overrides: Any) -> Session:
    # The process's session maker decides everything (its bind, or the test transaction
    # it is pinned to) but the class, which becomes a read-only kind of its own.
    maker = primary.SessionLocal
    settings = {**maker.kw, **overrides}
    if settings.get("bind") is None:
        raise NotBoundError("SessionLocal used before servicekit.database.bind()")
    session: Session = _read_only_class(maker.class_)(**settings)
    return session


def _async_read_only_session(**overrides: Any) -> AsyncSession:
    base = primary.AsyncSessionLocal.kw.get("sync_session_class", Session)
    return primary.AsyncSessionLocal(sync_session_class=_read_only_class(base), **overrides)


def _read_only_class(base: type[Session]) -> type[Session]:
    if issubclass(base, _ReadOnlySession):
        return base
    made = _read_only_classes.get(base)
    if made is None:
        made = _read_only_classes[base] = type(
            f"ReadOnly{base.__name__}", (_ReadOnlySession, base), {}
        )
    return made


_read_only_classes: dict[type[Session], type[Session]] = {}


def _may_autocommit(session: Session, kind: Literal["sync", "async"]) -> bool:
    # A test's pinned transaction is joined as it is. A session that already ran a
    # statement (the replica's catch-up check) keeps its transaction: isolation is
    # chosen before the first statement.
    bind = session.bind
    return (
        isinstance(bind, Engine)
        and not primary._pinned(kind)
        and may_autocommit(bind)
        and not session.in_transaction()
    )


def _caught_up(session: Session, position: str | None) -> bool:
    return position is None or bool(session.execute(_CAUGHT_UP, {"position": position}).scalar())


async def _async_caught_up(session: AsyncSession, position: str | None) -> bool:
    if position is None:
        return True
    return bool((await session.execute(_CAUGHT_UP, {"position": position})).scalar())


def _refuse_flush(session: Session, _context: Any, _instances: Any) -> None:
    if session.new or session.dirty or session.deleted:
        raise ReadOnlySessionError("a read session cannot write: use a write session")


def _refuse_dml(state: ORMExecuteState) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        raise ReadOnlySessionError("a read session cannot write: use a write session")


# Checked in the client, on every ORM flush and statement: the same error whether the
# session is on a replica (which would refuse anyway) or on the primary (which would
# not), so a write through a read session fails in tests as it would in production.
event.listen(_ReadOnlySession, "before_flush", _refuse_flush)
event.listen(_ReadOnlySession, "do_orm_execute", _refuse_dml)
