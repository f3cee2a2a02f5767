"""The kitgen console script as a user runs it."""

from __future__ import annotations

import subprocess
import sys

from kitgen import __version__


def _kitgen(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from kitgen.cli import main; main()", *args],
        capture_output=True,
        check=False,
        text=True,
        timeout=60,
    )


def test_version() -> None:
    result = _kitgen("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"kitgen {__version__}"


def test_help_lists_usage() -> None:
    result = _kitgen("--help")
    assert result.returncode == 0
    assert "Usage: kitgen" in result.stdout


def test_unknown_command_is_a_usage_error_without_traceback() -> None:
    result = _kitgen("frobnicate")
    assert result.returncode == 2
    assert "No such command 'frobnicate'" in result.stderr
    assert "Traceback" not in result.stderr
