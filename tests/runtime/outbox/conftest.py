"""Real Postgres (a database per test) and Redis for the outbox tests.

The Redis fixtures are the streams tests' (``names`` for unique keys deleted at teardown,
``redis_client``, on the single Redis and on the cluster).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy import create_engine, func, pool, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session, sessionmaker

from servicekit.database import normalize_url
from servicekit.outbox import OutboxMixin
from servicekit.testgres import DatabaseFactory, Server
from tests.runtime.outbox.models import create_schema
from tests.runtime.streams.conftest import names, redis_client

__all__ = ["count_rows", "names", "redis_client"]


def _create(url: str) -> None:
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.begin() as connection:
            create_schema(connection)
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def outbox_databases(pg_server: Server) -> Iterator[DatabaseFactory]:
    factory = DatabaseFactory(pg_server.url)
    factory.create_template(None, migrate=_create)
    yield factory
    factory.close()


@pytest.fixture
def db_url(outbox_databases: DatabaseFactory) -> Iterator[str]:
    """A fresh database with the outbox tests' tables (psycopg URL)."""
    name = outbox_databases.clone()
    yield outbox_databases.url(name).render_as_string(hide_password=False)
    outbox_databases.drop(name)


@pytest.fixture
def sync_sessions(db_url: str) -> Iterator[sessionmaker[Session]]:
    engine = create_engine(db_url)
    yield sessionmaker(engine, expire_on_commit=False)
    engine.dispose()


@pytest.fixture
async def async_sessions(db_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_async_engine(normalize_url(db_url, is_async=True))
    yield async_sessionmaker(engine, expire_on_commit=False)
    await engine.dispose()


async def count_rows(sessions: async_sessionmaker[AsyncSession], model: type[OutboxMixin]) -> int:
    async with sessions() as session:
        return (await session.scalar(select(func.count(model.id)))) or 0
