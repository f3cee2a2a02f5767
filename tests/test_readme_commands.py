"""The README's main command works as written (the test command is what CI runs)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_demo_generates_a_service_and_serves_health(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "VIRTUAL_ENV")}
    env["PORT"] = str(_free_port())
    result = subprocess.run(
        ["bash", "scripts/demo.sh", "--check", str(tmp_path / "demo")],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    line = next(line for line in result.stdout.splitlines() if line.startswith("GET /health -> "))
    health = json.loads(line.removeprefix("GET /health -> "))
    assert health["status"] == "ok"
    assert health["database"] == "ok"
    assert (tmp_path / "demo" / "orders.db").is_file()


def test_readme_gives_the_commands_ci_and_these_tests_run() -> None:
    readme = (REPO / "README.md").read_text()
    assert "```bash\nbash scripts/demo.sh\n```" in readme
    assert "```bash\nbash scripts/test.sh\n```" in readme
    assert "bash scripts/test.sh" in (REPO / ".ci" / "run").read_text()
