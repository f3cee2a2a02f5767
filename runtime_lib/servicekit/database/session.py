"""Session scopes: transactional context managers and FastAPI dependencies.

Each one raises :class:`DatabaseTimeoutError` when no pooled connection came free within
``pool_timeout`` (SQLAlchemy's own ``TimeoutError`` never reaches the engine's error
hook), so an exhausted pool is answered like a slow database: a 503, not a 500.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from servicekit.database.engine import AsyncSessionLocal, SessionLocal
from servicekit.errors import DatabaseTimeoutError


@contextmanager
def _pool_timeouts_typed() -> Iterator[None]:
    try:
        yield
    except PoolTimeoutError as exc:
        raise _pool_timeout(exc) from exc


def _pool_timeout(exc: PoolTimeoutError) -> DatabaseTimeoutError:
    return DatabaseTimeoutError(f"no pooled connection came free in time: {exc}")


@contextmanager
def db_session() -> Iterator[Session]:
    """A session that commits on success, rolls back on error and always closes."""
    with _pool_timeouts_typed(), SessionLocal() as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


@asynccontextmanager
async def async_db_session() -> AsyncIterator[AsyncSession]:
    """The async twin of :func:`db_session`."""
    with _pool_timeouts_typed():
        async with AsyncSessionLocal() as session:
            try:
                yield session
                await session.commit()
            except BaseException:
                await session.rollback()
                raise


def fastapi_session() -> Iterator[Session]:
    """FastAPI dependency: one session per request; the handler owns commit."""
    with _pool_timeouts_typed(), SessionLocal() as session:
        yield session


async def fastapi_async_session() -> AsyncIterator[AsyncSession]:
    """Async FastAPI dependency: one session per request; the handler owns commit."""
    with _pool_timeouts_typed():
        async with AsyncSessionLocal() as session:
            yield session
