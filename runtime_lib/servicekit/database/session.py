"""Session scopes: transactional context managers and FastAPI dependencies."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from servicekit.database.engine import AsyncSessionLocal, SessionLocal


@contextmanager
def db_session() -> Iterator[Session]:
    """A session that commits on success, rolls back on error and always closes."""
    with SessionLocal() as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


@asynccontextmanager
async def async_db_session() -> AsyncIterator[AsyncSession]:
    """The async twin of :func:`db_session`."""
    async with AsyncSessionLocal() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


def fastapi_session() -> Iterator[Session]:
    """FastAPI dependency: one session per request; the handler owns commit."""
    with SessionLocal() as session:
        yield session


async def fastapi_async_session() -> AsyncIterator[AsyncSession]:
    """Async FastAPI dependency: one session per request; the handler owns commit."""
    async with AsyncSessionLocal() as session:
        yield session
