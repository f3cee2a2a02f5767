"""Real Postgres for the database tests: one template per session, one clone per test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import event
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


@pytest.fixture
def statements_seen() -> Iterator[list[str]]:
    """The SQL of every statement SQLAlchemy executes on any engine while the test runs."""
    seen: list[str] = []

    def note(*args: Any) -> None:
        seen.append(args[2])

    event.listen(database.engine.Engine, "before_cursor_execute", note)
    yield seen
    event.remove(database.engine.Engine, "before_cursor_execute", note)


@pytest.fixture
def terminate_backends(pg_url: str) -> Callable[[], None]:
    """Ends every connection to ``pg_url``'s database but the caller's (a restart, as a
    pooled connection sees it)."""
    target = make_url(pg_url)

    def terminate() -> None:
        with psycopg.connect(
            target.set(drivername="postgresql").render_as_string(hide_password=False),
            autocommit=True,
        ) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = %s AND pid <> pg_backend_pid()",
                (target.database,),
            )

    return terminate


@pytest.fixture(autouse=True)
def _unbind() -> Iterator[None]:
    yield
    database.dispose()
    _unbind_async()  # what async_dispose() does, for a sync fixture
