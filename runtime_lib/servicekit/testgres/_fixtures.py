"""The pytest fixtures :func:`servicekit.testgres.setup` installs in a conftest."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from sqlalchemy import pool
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from servicekit import database
from servicekit.database.engine import _unbind_async
from servicekit.testgres.databases import DatabaseFactory
from servicekit.testgres.servers import resolve_postgres, resolve_redis_mode
from servicekit.testgres.session import TestgresConfig, TestgresSession


def build_fixtures(config: TestgresConfig) -> dict[str, Any]:
    """Fixture functions keyed by the name a test requests them by."""

    @pytest.fixture(scope="session")
    def testgres_session() -> Iterator[TestgresSession]:
        postgres = resolve_postgres(config.uri)
        redis = resolve_redis_mode(config.redis_mode)
        databases = DatabaseFactory(postgres.url, schemas=config.schemas)
        session = TestgresSession(postgres, databases, redis)
        try:
            # Run at the first test, after collection: models imported by test modules
            # are registered on the metadata by now and get their tables.
            databases.create_template(config.metadata, config.migrate)
            yield session
        finally:
            session.close()

    @pytest.fixture(autouse=True)
    def testgres_database(testgres_session: TestgresSession) -> Iterator[str]:
        """A fresh database for this test, bound to servicekit and in $DATABASE_URL."""
        yield from _isolated_database(testgres_session, async_mode=config.async_mode)

    @pytest.fixture
    def db_session(testgres_database: str) -> Iterator[Session]:
        """A session on this test's database (commit freely: the database is yours)."""
        with database.SessionLocal() as session:
            yield session

    fixtures: dict[str, Any] = {
        "testgres_session": testgres_session,
        "testgres_database": testgres_database,
        "db_session": db_session,
    }

    if config.async_mode:

        @pytest.fixture
        async def async_db_session(testgres_database: str) -> AsyncIterator[AsyncSession]:
            """An async session on this test's database."""
            async with database.AsyncSessionLocal() as session:
                yield session

        fixtures["async_db_session"] = async_db_session

    if config.redis_mode:

        @pytest.fixture
        def redis_url(testgres_session: TestgresSession) -> str:
            """URL of the session's Redis; ``$CACHE_PREFIX`` is unique to this test."""
            assert testgres_session.redis is not None
            return testgres_session.redis.url

        fixtures["redis_url"] = redis_url

    return fixtures


_ISOLATED_ENV = ("DATABASE_URL", "REDIS_URL", "CACHE_PREFIX")


def _isolated_database(session: TestgresSession, *, async_mode: bool) -> Iterator[str]:
    factory = session.databases
    name = factory.clone()
    url = factory.url(name).render_as_string(hide_password=False)
    saved = {key: os.environ.get(key) for key in _ISOLATED_ENV}
    os.environ["DATABASE_URL"] = url
    if session.redis is not None:
        os.environ["REDIS_URL"] = session.redis.url
        os.environ["CACHE_PREFIX"] = f"test-{uuid.uuid4().hex[:12]}"
    database.bind(url, poolclass=pool.NullPool)
    if async_mode:
        database.async_bind(url, poolclass=pool.NullPool)
    try:
        yield url
    finally:
        database.dispose()
        # A sync fixture cannot await async_dispose(); with NullPool there is nothing to
        # close anyway, and DROP .. WITH (FORCE) below closes anything a test leaked.
        _unbind_async()
        factory.release(name)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
