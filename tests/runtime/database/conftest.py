"""Real Postgres for the database tests: one template per session, one clone per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from servicekit import database
from servicekit.database.engine import _unbind_async
from servicekit.testgres import DatabaseFactory, LocalServer, Server, start_pgbouncer
from tests.runtime.database.models import TestBase


@pytest.fixture(scope="session")
def db_factory(pg_server: Server) -> Iterator[DatabaseFactory]:
    factory = DatabaseFactory(pg_server.url)
    factory.create_template(TestBase.metadata)
    yield factory
    factory.close()


@pytest.fixture
def pg_url(db_factory: DatabaseFactory) -> Iterator[str]:
    """URL of a fresh Postgres database with the test schema (psycopg driver)."""
    name = db_factory.clone()
    yield db_factory.url(name).render_as_string(hide_password=False)
    db_factory.drop(name)


@pytest.fixture(scope="session")
def pgbouncer(pg_server: Server) -> Iterator[LocalServer]:
    """A PgBouncer in transaction pooling mode in front of the test server."""
    server = start_pgbouncer(pg_server.url)
    yield server
    server.stop()


@pytest.fixture
def pgbouncer_url(pg_url: str, pgbouncer: LocalServer, monkeypatch: pytest.MonkeyPatch) -> str:
    """``pg_url``'s database reached through PgBouncer, with ``DB_POOLER=pgbouncer`` set."""
    monkeypatch.setenv("DB_POOLER", "pgbouncer")
    through = make_url(pgbouncer.url).set(
        drivername="postgresql+psycopg", database=make_url(pg_url).database
    )
    return through.render_as_string(hide_password=False)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """URL of a fresh SQLite file with the test schema."""
    url = f"sqlite:///{tmp_path / 'test.db'}"
    engine = database.bind(url)
    TestBase.metadata.create_all(engine)
    database.dispose()
    return url


@pytest.fixture(params=["postgresql", "pgbouncer", "sqlite"])
def any_url(request: pytest.FixtureRequest) -> str:
    """The same test on Postgres, on Postgres behind PgBouncer and on SQLite."""
    return str(request.getfixturevalue(f"{request.param.replace('postgresql', 'pg')}_url"))


@pytest.fixture(autouse=True)
def _unbind() -> Iterator[None]:
    yield
    database.dispose()
    _unbind_async()  # what async_dispose() does, for a sync fixture
