"""The pytest fixtures :func:`servicekit.testgres.setup` installs in a conftest."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from servicekit import database
from servicekit.testgres.databases import DatabaseFactory
from servicekit.testgres.isolation import isolate
from servicekit.testgres.servers import resolve_pgbouncer, resolve_postgres, resolve_redis_mode
from servicekit.testgres.session import Isolation, TestgresConfig, TestgresSession

REAL_COMMITS = "real_commits"
_REAL_COMMITS_HELP = (
    f"{REAL_COMMITS}: testgres gives the test a database of its own (a clone), where"
    " commits are real and other connections see them"
)


def build_fixtures(
    config: TestgresConfig, previous_configure: Callable[[pytest.Config], None] | None = None
) -> dict[str, Any]:
    """Fixture functions (and the ``pytest_configure`` hook registering the
    ``real_commits`` marker, then calling ``previous_configure``) keyed by name."""

    @pytest.fixture(scope="session")
    def testgres_session() -> Iterator[TestgresSession]:
        postgres = resolve_postgres(config.uri)
        redis = resolve_redis_mode(config.redis_mode)
        pgbouncer = resolve_pgbouncer(postgres.url)  # with DB_POOLER=pgbouncer only
        databases = DatabaseFactory(postgres.url, schemas=config.schemas)
        session = TestgresSession(postgres, databases, redis, pgbouncer)
        try:
            # Run at the first test, after collection: models imported by test modules
            # are registered on the metadata by now and get their tables.
            databases.create_template(config.metadata, config.migrate)
            yield session
        finally:
            session.close()

    @pytest.fixture(autouse=True)
    def testgres_database(
        testgres_session: TestgresSession, request: pytest.FixtureRequest
    ) -> Iterator[str]:
        """This test's database, isolated, bound to servicekit and in $DATABASE_URL."""
        real = request.node.get_closest_marker(REAL_COMMITS) is not None
        isolation: Isolation = "database" if real else config.isolation
        with isolate(testgres_session, isolation, async_mode=config.async_mode) as url:
            yield url

    @pytest.fixture
    def db_session(testgres_database: str) -> Iterator[Session]:
        """A session on this test's database (commit freely: nothing outlives the test)."""
        with database.SessionLocal() as session:
            yield session

    fixtures: dict[str, Any] = {
        "pytest_configure": _registering_markers(previous_configure),
        "testgres_session": testgres_session,
        "testgres_database": testgres_database,
        "db_session": db_session,
    }

    if config.async_mode:

        @pytest.fixture
        async def async_db_session(testgres_database: str) -> AsyncIterator[AsyncSession]:
            """An async session on this test's database (on this test's event loop)."""
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


def _registering_markers(
    previous: Callable[[pytest.Config], None] | None,
) -> Callable[[pytest.Config], None]:
    """A conftest's ``pytest_configure`` hook that registers testgres' marker (for
    ``--strict-markers``), calling the one the conftest defined before ``setup()``."""

    def pytest_configure(config: pytest.Config) -> None:
        config.addinivalue_line("markers", _REAL_COMMITS_HELP)
        if previous is not None:
            previous(config)

    return pytest_configure
