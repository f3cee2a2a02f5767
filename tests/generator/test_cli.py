"""The kitgen console script as a user runs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

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


def test_exit_codes_come_from_one_mapper(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """User error 2, interrupt 130, a bug 70 with its traceback in a log file."""
    import kitgen.fleet
    from kitgen.cli import EXIT_INTERNAL_ERROR, EXIT_INTERRUPTED, EXIT_USER_ERROR, run

    monkeypatch.setenv("KITGEN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    assert run(["fleet", "status"]) == EXIT_USER_ERROR
    assert "fleet.yaml does not exist" in capsys.readouterr().err

    def interrupted(path: Path) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(kitgen.fleet, "load_inventory", interrupted)
    assert run(["fleet", "status"]) == EXIT_INTERRUPTED
    assert "interrupted" in capsys.readouterr().err

    def broken(path: Path) -> None:
        raise RuntimeError("an [unexpected] state")

    monkeypatch.setattr(kitgen.fleet, "load_inventory", broken)
    assert run(["fleet", "status"]) == EXIT_INTERNAL_ERROR
    err = capsys.readouterr().err
    assert "internal error: RuntimeError: an [unexpected] state" in " ".join(err.split())
    assert "Traceback" not in err
    logs = list((tmp_path / "cache" / "logs").glob("kitgen-crash-*.log"))
    assert len(logs) == 1
    assert str(logs[0]) in err.replace("\n", "")
    assert "Traceback (most recent call last)" in logs[0].read_text()
    assert 'raise RuntimeError("an [unexpected] state")' in logs[0].read_text()


def test_user_text_is_never_read_as_markup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from kitgen.cli import run

    monkeypatch.chdir(tmp_path)
    assert run(["fleet", "status", "--inventory", "[red]x[/].yaml"]) == 2
    assert "[red]x[/].yaml does not exist" in capsys.readouterr().err


def test_a_missing_git_is_a_user_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from kitgen.cli import run

    (tmp_path / "fleet.yaml").write_text(
        "services:\n  - name: a\n    url: https://example.com/a.git\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    monkeypatch.setenv("KITGEN_CACHE_DIR", str(tmp_path / "cache"))
    for command in (["update", "."], ["fleet", "status"], ["fleet", "update", "--to", "1.0.0"]):
        assert run(command) == 2, command
        err = capsys.readouterr().err
        assert "git is not installed" in err, (command, err)
        assert "Traceback" not in err
