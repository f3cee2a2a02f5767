"""run_migrations: online (sync and async), offline, and four replicas at once."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import psycopg
import pytest

ENV_PY = """
from servicekit.database.alembic import run_migrations
from sqlalchemy import MetaData

run_migrations(MetaData())
"""

REVISION = """
import time
from alembic import op

revision = "{rev}"
down_revision = {down}
branch_labels = None
depends_on = None


def upgrade() -> None:
    {create}
    time.sleep(0.3)  # widen the window in which a second replica could step in
    op.execute("INSERT INTO applied (revision) VALUES ('{rev}')")


def downgrade() -> None:
    pass
"""


def _project(tmp_path: Path) -> Path:
    (tmp_path / "versions").mkdir()
    (tmp_path / "alembic.ini").write_text("[alembic]\nscript_location = %(here)s\n")
    (tmp_path / "env.py").write_text(ENV_PY)
    (tmp_path / "script.py.mako").write_text("")
    revisions = [
        (
            "r1",
            "None",
            'op.execute("CREATE TABLE applied (revision text, at timestamptz DEFAULT now())")',
        ),
        ("r2", '"r1"', 'op.execute("CREATE TABLE second (id int)")'),
        ("r3", '"r2"', "pass"),
    ]
    for rev, down, create in revisions:
        (tmp_path / "versions" / f"{rev}.py").write_text(
            textwrap.dedent(REVISION.format(rev=rev, down=down, create=create))
        )
    return tmp_path


def _upgrade(project: Path, url: str, *extra: str) -> subprocess.Popen[str]:
    env = {**os.environ, "DATABASE_URL": url}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "alembic",
            "-c",
            str(project / "alembic.ini"),
            "upgrade",
            "head",
            *extra,
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _applied(pg_url: str) -> list[str]:
    with psycopg.connect(pg_url.replace("+psycopg", "")) as conn:
        return [
            row[0] for row in conn.execute("SELECT revision FROM applied ORDER BY at, revision")
        ]


@pytest.mark.slow
def test_four_replicas_apply_each_revision_once(tmp_path: Path, pg_url: str) -> None:
    project = _project(tmp_path)
    replicas = [_upgrade(project, pg_url) for _ in range(4)]
    outputs = [p.communicate(timeout=120)[0] for p in replicas]
    assert [p.returncode for p in replicas] == [0, 0, 0, 0], outputs
    assert _applied(pg_url) == ["r1", "r2", "r3"]


@pytest.mark.slow
def test_async_url_migrates_through_asyncpg(tmp_path: Path, pg_url: str) -> None:
    project = _project(tmp_path)
    process = _upgrade(project, pg_url.replace("+psycopg", "+asyncpg"))
    output = process.communicate(timeout=120)[0]
    assert process.returncode == 0, output
    assert _applied(pg_url) == ["r1", "r2", "r3"]


@pytest.mark.slow
def test_offline_mode_prints_sql_without_touching_the_database(tmp_path: Path, pg_url: str) -> None:
    project = _project(tmp_path)
    process = _upgrade(project, pg_url, "--sql")
    output = process.communicate(timeout=120)[0]
    assert process.returncode == 0, output
    assert "CREATE TABLE applied" in output
    assert "INSERT INTO applied (revision) VALUES ('r3')" in output
    with psycopg.connect(pg_url.replace("+psycopg", "")) as conn:
        exists = conn.execute("SELECT to_regclass('applied')").fetchone()
    assert exists == (None,)
