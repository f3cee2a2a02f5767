"""Fixtures for rendering the template and checking what it produces."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from kitgen import new_service
from servicekit.testgres import DatabaseFactory, LocalServer, Server, start_pgbouncer

REPO = Path(__file__).resolve().parents[2]
RUNTIME_FIX = '\n\nRUNTIME_FIX_MARKER = "shipped in 1.1.0"\n'
TEMPLATE_LINE = "the vendored runtime library — change it upstream in kitgen"
TEMPLATE_CHANGE = " (see kitgen's releases)"
RELEASE_NOTES = "Runtime: errors carry a marker; README points at the releases."
UV = Path(sys.executable).with_name("uv")


def run(
    command: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run a command; fail the test with its output when it fails."""
    result = subprocess.run(
        command,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )
    assert result.returncode == 0, f"{' '.join(command)}\n{result.stdout}\n{result.stderr}"
    return result


def render(destination: Path, **answers: object) -> Path:
    """Render the template from this working tree (uncommitted changes included)."""
    data = {
        key: str(value).lower() if isinstance(value, bool) else value
        for key, value in answers.items()
    }
    return new_service(destination, data=data, defaults=True, template=str(REPO), vcs_ref="HEAD")


@pytest.fixture(scope="session")
def service_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One virtual environment shared by every rendered service."""
    venv = tmp_path_factory.mktemp("service-venv") / "venv"
    run([str(UV), "venv", "--python", sys.executable, str(venv)], cwd=REPO)
    return venv


@pytest.fixture(scope="session")
def empty_databases(pg_server: Server) -> Iterator[DatabaseFactory]:
    """Creates empty databases for migrations and app start-up checks."""
    factory = DatabaseFactory(pg_server.url)
    yield factory
    factory.close()


@pytest.fixture
def pgbouncer(pg_server: Server) -> Iterator[LocalServer]:
    """A PgBouncer of this test's own in transaction pooling mode, in front of the test
    server: a service's suite runs behind it with ``DB_POOLER=pgbouncer`` and
    ``PGBOUNCER_URL`` set (see :func:`behind`)."""
    server = start_pgbouncer(pg_server.url)
    yield server
    server.stop()


def behind(pgbouncer: LocalServer) -> dict[str, str]:
    """The environment that runs a service's testgres suite behind ``pgbouncer``."""
    return {"DB_POOLER": "pgbouncer", "PGBOUNCER_URL": pgbouncer.url}


def databases_reached_through(pgbouncer: LocalServer) -> set[str]:
    """The testgres databases clients reached through ``pgbouncer``, from its log."""
    assert pgbouncer.directory is not None
    log = (Path(pgbouncer.directory) / "pgbouncer.log").read_text()
    return set(re.findall(r"login attempt: db=(testgres_\w+) ", log))


def clean_env() -> dict[str, str]:
    """The environment a fresh shell would give a service (no test overrides)."""
    overrides = ("DATABASE_URL", "REDIS_URL", "CACHE_PREFIX", "VIRTUAL_ENV", "PYTHONPATH")
    return {key: value for key, value in os.environ.items() if key not in overrides}


def git(cwd: Path, *args: str) -> str:
    return run(["git", *args], cwd=cwd).stdout


def commit_all(cwd: Path, message: str) -> None:
    git(cwd, "add", "-A")
    git(cwd, "-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-qm", message)


def committed_template_copy(target: Path, tag: str = "1.0.0") -> Path:
    """Copy this repository's working tree into a fresh git repo, commit and tag it.

    Services rendered from a dirty checkout record a commit that exists nowhere else, so
    anything that later updates a service needs a committed template.
    """
    listed = git(REPO, "ls-files", "--cached", "--others", "--exclude-standard", "-z")
    for name in filter(None, listed.split("\0")):
        source = REPO / name
        if not source.exists() and not source.is_symlink():
            continue  # deleted in the working tree
        destination = target / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            destination.symlink_to(source.readlink())
        else:
            shutil.copy2(source, destination)
    git(target, "init", "-q", "-b", "main")
    commit_all(target, f"template {tag}")
    git(target, "tag", tag)
    return target


def committed_service(template: Path, destination: Path, **answers: str) -> Path:
    """A service rendered from ``template`` at tag 1.0.0, in a git repo with one commit."""
    service = new_service(
        destination,
        data={"service_name": "shop", **answers},
        defaults=True,
        template=str(template),
        vcs_ref="1.0.0",
    )
    git(service, "init", "-q", "-b", "main")
    commit_all(service, "generated")
    return service


def release_1_1(template: Path) -> None:
    """A runtime fix and a template change, with a changelog, tagged 1.1.0 (annotated)."""
    errors = template / "runtime_lib" / "servicekit" / "errors.py"
    errors.write_text(errors.read_text() + RUNTIME_FIX)
    readme = template / "templates" / "service" / "README.md.jinja"
    text = readme.read_text()
    assert TEMPLATE_LINE in text
    readme.write_text(text.replace(TEMPLATE_LINE, TEMPLATE_LINE + TEMPLATE_CHANGE))
    (template / "CHANGELOG.md").write_text(
        "# Changelog\n\n## 1.1.0\n\n- servicekit.errors: RUNTIME_FIX_MARKER\n\n"
        "## 1.0.0\n\n- first release\n"
    )
    commit_all(template, "template 1.1.0")
    git(
        template,
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@x",
        "tag",
        "-a",
        "1.1.0",
        "-m",
        RELEASE_NOTES,
    )
