"""Server resolution: explicit URL, running servers, local binaries, clear failure."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis

from servicekit.errors import ConfigurationError
from servicekit.testgres import TestgresError, resolve_pgbouncer, resolve_postgres, resolve_redis
from servicekit.testgres._processes import free_port, port_answers
from tests.runtime.testgres._inner_suite import run_inner_suite


@pytest.fixture
def no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DATABASE_URL", "REDIS_URL"):
        monkeypatch.delenv(name, raising=False)


def test_explicit_url_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://someone@db.example:5432/app")
    server = resolve_postgres()
    assert (server.url, server.source) == (
        "postgresql://someone@db.example:5432/app",
        "explicit URL",
    )


@pytest.mark.usefixtures("no_env")
def test_running_servers_are_found_by_probe() -> None:
    if not (port_answers("127.0.0.1", 5432) and port_answers("127.0.0.1", 6379)):
        pytest.skip("needs the machine's Postgres and Redis on their default ports")
    postgres, cache = resolve_postgres(), resolve_redis()
    assert (postgres.source, cache.source) == ("running server", "running server")
    assert postgres.url == "postgresql://postgres@127.0.0.1:5432/postgres"
    assert cache.url == "redis://127.0.0.1:6379/0"


@pytest.mark.slow
@pytest.mark.usefixtures("no_env")
def test_starts_its_own_postgres_when_nothing_answers() -> None:
    closed = free_port()
    server = resolve_postgres(probe_port=closed, allow_docker=False)
    try:
        assert server.source == "local binaries"
        with psycopg.connect(server.url) as conn:
            assert conn.execute("SHOW fsync").fetchone() == ("off",)
    finally:
        server.close()
    port = int(server.url.rsplit(":", 1)[1].split("/")[0])
    assert not port_answers("127.0.0.1", port)


@pytest.mark.usefixtures("no_env")
def test_starts_its_own_redis_when_nothing_answers() -> None:
    server = resolve_redis(probe_port=free_port(), allow_docker=False)
    try:
        assert server.source == "local binaries"
        client = redis.Redis.from_url(server.url)
        assert client.ping() is True
        assert client.config_get("save") == {"save": ""}
        client.close()
    finally:
        server.close()


@pytest.mark.usefixtures("no_env")
def test_nothing_works_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"tcp://127.0.0.1:{free_port()}")
    with pytest.raises(TestgresError) as caught:
        resolve_postgres(probe_port=free_port(), allow_start=False)
    message = str(caught.value)
    assert message.startswith("testgres could not provide a PostgreSQL server. Tried:")
    assert "nothing answered on 127.0.0.1:" in message
    assert "local binaries: disabled" in message
    assert "testcontainers: no Docker engine answered at tcp://127.0.0.1:" in message


@pytest.mark.usefixtures("no_env")
def test_nothing_works_is_a_runtime_error_as_in_serpens(monkeypatch: pytest.MonkeyPatch) -> None:
    """serpens' testgres raised RuntimeError when its server did not come up; a conftest
    that catches that (to skip, say) keeps working."""
    monkeypatch.setenv("DOCKER_HOST", f"tcp://127.0.0.1:{free_port()}")
    with pytest.raises(RuntimeError, match="could not provide a Redis server"):
        resolve_redis(probe_port=free_port(), allow_start=False)


@pytest.fixture
def pretend_docker_engine(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """$DOCKER_HOST at a listener that answers every request with a bare ``200 OK``: enough
    for the engine probe, not a Docker API, so testcontainers itself must be reached."""
    listener = socket.create_server(("127.0.0.1", 0))
    address = f"tcp://127.0.0.1:{listener.getsockname()[1]}"

    def answer() -> None:
        with contextlib.suppress(OSError):
            while True:
                connection, _ = listener.accept()
                with connection:
                    connection.recv(4096)
                    connection.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nOK")

    threading.Thread(target=answer, daemon=True).start()
    monkeypatch.setenv("DOCKER_HOST", address)
    yield address
    listener.close()


@pytest.mark.usefixtures("no_env")
def test_the_container_fallback_is_installed_and_names_the_engine(
    pretend_docker_engine: str,
) -> None:
    """testcontainers is declared, so the fallback gets as far as asking the engine; an
    engine that is not Docker fails with the address tried, not an ImportError."""
    for resolve in (resolve_postgres, resolve_redis):
        with pytest.raises(TestgresError) as caught:
            resolve(probe_port=free_port(), allow_start=False)
        message = str(caught.value)
        assert f"testcontainers: the Docker engine at {pretend_docker_engine} failed:" in message
        assert "DockerException" in message
        assert "not installed" not in message


CONFTEST = """
from decimal import Decimal

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from servicekit import testgres
from servicekit.database import declarative_base

Base = declarative_base(schema="shop")


class Item(Base):
    __tablename__ = "items"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50), unique=True)


testgres.setup(Base, async_mode=True, redis_mode=True, default_schema="shop")
"""

TESTS = """
import os

import pytest
import redis
from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from servicekit import database
from conftest import Item


@pytest.mark.parametrize("run", [1, 2])
def test_each_test_has_its_own_database(run, db_session):
    assert db_session.scalars(select(Item)).all() == []
    db_session.add(Item(name="same-name"))
    db_session.commit()
    assert db_session.execute(text("SHOW search_path")).scalar_one().startswith("shop")


async def test_async_session_sees_the_same_database(async_db_session):
    async_db_session.add(Item(name="async"))
    await async_db_session.commit()
    with database.db_session() as sync:
        assert [i.name for i in sync.scalars(select(Item))] == ["async"]


def test_environment_points_at_the_test_servers(testgres_database, redis_url, db_session):
    assert os.environ["DATABASE_URL"] == testgres_database
    assert os.environ["REDIS_URL"] == redis_url
    assert os.environ["CACHE_PREFIX"].startswith("test-")
    assert redis.Redis.from_url(redis_url).ping()
    # Behind PgBouncer (DB_POOLER=pgbouncer) the URL's port is PgBouncer's, not the server's.
    server_port = db_session.execute(text("SELECT inet_server_port()")).scalar_one()
    behind = os.environ["DB_POOLER"] == "pgbouncer"
    assert (make_url(testgres_database).port != server_port) == behind
"""


@pytest.mark.slow
@pytest.mark.parametrize("pooler", ["none", "pgbouncer"])
def test_setup_gives_each_test_an_isolated_database(tmp_path: Path, pooler: str) -> None:
    ini = "[pytest]\nasyncio_mode = auto\n"
    tests = {"test_isolation.py": TESTS}
    result = run_inner_suite(tmp_path, CONFTEST, tests, ini, timeout=180, DB_POOLER=pooler)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 passed" in result.stdout


@pytest.fixture
def pooler_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("DB_POOLER", "PGBOUNCER_URL"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_without_db_pooler_there_is_no_pgbouncer(pooler_env: pytest.MonkeyPatch) -> None:
    assert resolve_pgbouncer("postgresql://postgres@127.0.0.1:5432/postgres") is None


def test_pgbouncer_url_without_db_pooler_is_refused(pooler_env: pytest.MonkeyPatch) -> None:
    """The engines under test would send what PgBouncer refuses (asyncpg) or drops."""
    pooler_env.setenv("PGBOUNCER_URL", "postgresql://postgres@127.0.0.1:6432/postgres")
    with pytest.raises(ConfigurationError, match="set DB_POOLER=pgbouncer"):
        resolve_pgbouncer("postgresql://postgres@127.0.0.1:5432/postgres")


def test_pgbouncer_url_naming_the_server_itself_is_refused(
    pooler_env: pytest.MonkeyPatch,
) -> None:
    """Databases are created, cloned and dropped on the server, not through the pooler."""
    pooler_env.setenv("DB_POOLER", "pgbouncer")
    pooler_env.setenv("PGBOUNCER_URL", "postgresql://postgres@127.0.0.1/other")
    with pytest.raises(ConfigurationError, match="names the test server itself"):
        resolve_pgbouncer("postgresql://postgres@127.0.0.1:5432/postgres")


def test_the_pgbouncer_url_names_the_pooler(pooler_env: pytest.MonkeyPatch) -> None:
    pooler_env.setenv("DB_POOLER", "pgbouncer")
    pooler_env.setenv("PGBOUNCER_URL", "postgresql://postgres@127.0.0.1:6432/postgres")
    server = resolve_pgbouncer("postgresql://postgres@127.0.0.1:5432/postgres")
    assert server is not None
    assert (server.url, server.source) == (
        "postgresql://postgres@127.0.0.1:6432/postgres",
        "explicit URL",
    )


def test_no_pgbouncer_is_one_clear_error(pooler_env: pytest.MonkeyPatch) -> None:
    pooler_env.setenv("DB_POOLER", "pgbouncer")
    with pytest.raises(TestgresError) as caught:
        resolve_pgbouncer("postgresql://postgres@127.0.0.1:5432/postgres", allow_start=False)
    message = str(caught.value)
    assert message.startswith("testgres could not provide a PgBouncer. Tried:")
    assert "$PGBOUNCER_URL was not set" in message
    assert "local binaries: disabled" in message
