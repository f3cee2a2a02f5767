"""Render an option matrix; each service installs, lints, type-checks, tests and serves."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from servicekit.testgres import DatabaseFactory, LocalServer
from tests.template.conftest import (
    UV,
    behind,
    clean_env,
    databases_reached_through,
    render,
    run,
)

pytestmark = pytest.mark.slow

MATRIX = {
    "everything-on": {
        "async_db": True, "with_cache": True, "with_streams": True, "with_http_client": True,
        "with_config_store": True, "db_schema": "catalog",
    },
    "everything-off": {
        "async_db": True, "with_cache": False, "with_streams": False, "with_http_client": False,
    },
    "sync-db-only": {"async_db": False, "with_cache": False, "with_streams": False},
    "async-cache-streams": {"async_db": True, "with_cache": True, "with_streams": True},
}  # fmt: skip
# One service per driver the template offers (async_db): asyncpg, psycopg.
BEHIND_PGBOUNCER = ("everything-on", "sync-db-only")


@dataclass
class Service:
    name: str
    path: Path
    package: str
    answers: dict[str, object]
    python: Path

    def tool(self, name: str) -> str:
        return str(self.python.with_name(name))

    def env(self, **extra: str) -> dict[str, str]:
        return {**clean_env(), "PATH": f"{self.python.parent}:{os.environ['PATH']}", **extra}


@pytest.fixture(scope="module", params=list(MATRIX))
def service(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, service_venv: Path
) -> Service:
    case = request.param
    package = f"svc_{case.replace('-', '_')}"
    answers = {"service_name": f"svc-{case}", **MATRIX[case]}
    path = render(tmp_path_factory.mktemp(case) / "service", **answers)
    python = service_venv / "bin" / "python"
    run([str(UV), "pip", "install", "--python", str(python), "-e", f"{path}[dev]"], cwd=path)
    return Service(case, path, package, answers, python)


def test_generated_service_is_lint_clean(service: Service) -> None:
    run([service.tool("ruff"), "check", "."], cwd=service.path, env=service.env())
    run([service.tool("ruff"), "format", "--check", "."], cwd=service.path, env=service.env())


def test_generated_service_is_mypy_strict_clean(service: Service) -> None:
    result = run([service.tool("mypy")], cwd=service.path, env=service.env())
    assert "Success: no issues found" in result.stdout


def test_generated_service_passes_its_own_tests(service: Service) -> None:
    _passes_its_own_tests(service)


def test_generated_service_passes_its_own_tests_behind_pgbouncer(
    service: Service, pgbouncer: LocalServer
) -> None:
    """Unchanged, by configuration alone: the app, its repositories, the transactional
    isolation, the real_commits tests and the migrations go through PgBouncer in
    transaction pooling mode; testgres creates and drops the databases on the server."""
    if service.name not in BEHIND_PGBOUNCER:
        pytest.skip(f"one service per driver runs behind PgBouncer: {BEHIND_PGBOUNCER}")
    _passes_its_own_tests(service, **behind(pgbouncer))
    # The shared transactional database, the real_commits clones, the migrations' one.
    assert len(databases_reached_through(pgbouncer)) >= 3


def _passes_its_own_tests(service: Service, **env: str) -> None:
    result = run(
        [str(service.python), "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=service.path,
        env=service.env(**env),
    )
    assert " passed" in result.stdout
    assert "failed" not in result.stdout


def test_alembic_upgrade_head_on_a_fresh_database(
    service: Service, empty_databases: DatabaseFactory
) -> None:
    name = empty_databases.create_empty()
    url = empty_databases.url(name).render_as_string(hide_password=False)
    try:
        run(
            [str(service.python), "-m", "alembic", "upgrade", "head"],
            cwd=service.path,
            env=service.env(DATABASE_URL=url),
        )
        schema = service.answers.get("db_schema")
        table = f"{schema}.alembic_version" if schema else "alembic_version"
        with psycopg.connect(
            empty_databases.url(name)
            .set(drivername="postgresql")
            .render_as_string(hide_password=False)
        ) as conn:
            assert conn.execute(f"SELECT version_num FROM {table}").fetchall() == [("0001",)]
    finally:
        empty_databases.drop(name)


def test_app_starts_and_reports_health(service: Service, empty_databases: DatabaseFactory) -> None:
    name = empty_databases.create_empty()
    url = empty_databases.url(name).render_as_string(hide_password=False)
    uses_redis = bool(service.answers.get("with_cache") or service.answers.get("with_streams"))
    env = service.env(DATABASE_URL=url, REDIS_URL="redis://127.0.0.1:6379/0")
    try:
        health = _serve_and_get_health(service, env)
    finally:
        empty_databases.drop(name)
    expected: dict[str, object] = {
        "status": "ok",
        "database": "ok",
        "redis": "ok" if uses_redis else "disabled",
    }
    if service.answers.get("with_streams"):
        expected["consumers"] = []  # the matrix services declare no consumer group
    assert health == expected


def test_app_starts_with_no_servers_configured(service: Service) -> None:
    if service.answers.get("db_schema"):
        pytest.skip("a Postgres schema needs Postgres: the embedded SQLite has no schemas")
    # Nothing configured: embedded SQLite, and a Redis URL where nothing listens.
    env = service.env()
    if service.answers.get("with_cache"):
        env["REDIS_URL"] = f"redis://127.0.0.1:{_free_port()}/0"
    health = _serve_and_get_health(service, env)
    assert health["database"] == "ok"
    assert health["status"] == "ok"
    assert (service.path / f"{service.package}.db").is_file()


def test_start_up_freezes_what_it_built(service: Service) -> None:
    """Full collections skip the start-up heap (gc.freeze), so they stay short under load."""
    if service.answers.get("db_schema"):
        pytest.skip("a Postgres schema needs Postgres: the embedded SQLite has no schemas")
    script = (
        "import gc\n"
        "from fastapi.testclient import TestClient\n"
        f"from {service.package}.app import app\n"
        "before = gc.get_freeze_count()\n"
        "with TestClient(app):\n"
        "    print(before, gc.get_freeze_count())\n"
    )
    env = service.env(REDIS_URL=f"redis://127.0.0.1:{_free_port()}/0")
    result = run([str(service.python), "-c", script], cwd=service.path, env=env)
    before, after = map(int, result.stdout.split()[-2:])
    assert before == 0
    assert after > 10_000  # FastAPI's, SQLAlchemy's and pydantic's objects, at least


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve_and_get_health(service: Service, env: dict[str, str]) -> dict[str, object]:
    port = _free_port()
    server = subprocess.Popen(
        [str(service.python), "-m", "uvicorn", f"{service.package}.app:app", "--port", str(port)],
        cwd=service.path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as reply:
                    body: dict[str, object] = json.loads(reply.read())
                    return body
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    output = server.communicate(timeout=5)[0] if server.poll() is not None else ""
                    raise AssertionError(f"the app did not serve /health:\n{output}") from None
                time.sleep(0.2)
    finally:
        server.terminate()
        server.wait(timeout=30)
