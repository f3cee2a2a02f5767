"""What every hostile-input case asserts: the exit code, one clear message, nothing written.

A case runs the installed ``kitgen`` console script (as users do) in a copy of a committed
service, then compares the whole tree -- every file's bytes, every symlink, git's status
and HEAD -- with a snapshot taken before the run.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

KITGEN = Path(sys.executable).with_name("kitgen")
_SKIPPED = frozenset(
    {".git", ".venv", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache"}
)

TreeState = dict[str, object]
Setup = Callable[[Path], None]


def kitgen(
    cwd: Path,
    *args: str,
    env: dict[str, str] | None = None,
    stdin: str | None = None,
    timeout: float = 600,
) -> subprocess.CompletedProcess[str]:
    """Run ``kitgen`` as a user would, without a terminal."""
    base = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "VIRTUAL_ENV")}
    return subprocess.run(
        [str(KITGEN), *args],
        cwd=cwd,
        env={**base, **(env or {})},
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=True
    ).stdout


def tree_state(root: Path) -> TreeState:
    """Every file's bytes and every symlink's target under ``root``, plus git's view."""
    state: TreeState = {}
    for directory, names, files in os.walk(root):
        names[:] = sorted(name for name in names if name not in _SKIPPED)
        here = Path(directory)
        for name in names:
            path = here / name
            if path.is_symlink():
                state[str(path.relative_to(root))] = ("symlink", os.readlink(path))
        for name in sorted(files):
            path = here / name
            key = str(path.relative_to(root))
            if path.is_symlink():
                state[key] = ("symlink", os.readlink(path))
            else:
                state[key] = path.read_bytes()
    if (root / ".git").exists():
        state[":git-status"] = git(root, "status", "--porcelain", "--untracked-files=all")
        state[":git-head"] = git(root, "rev-parse", "HEAD")
    return state


def assert_unchanged(before: TreeState, root: Path) -> None:
    after = tree_state(root)
    changed = sorted(
        key for key in before.keys() | after.keys() if before.get(key) != after.get(key)
    )
    assert not changed, f"the run changed {changed}"


def assert_refused(
    result: subprocess.CompletedProcess[str], *, code: int = 2, says: str = ""
) -> str:
    """One clear message, no traceback, the expected exit code; returns the message."""
    output = result.stdout + result.stderr
    assert result.returncode == code, f"exit {result.returncode}, expected {code}:\n{output}"
    assert "Traceback" not in output, output
    assert "\x1b" not in output, f"raw escape sequence in the output: {output!r}"
    message = " ".join(output.split())
    assert message, "no message at all"
    assert says.lower() in message.lower(), f"expected {says!r} in:\n{output}"
    return message


def start_kitgen(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """Start ``kitgen`` without waiting, in a process group of its own: the group is what
    a terminal's Ctrl-C reaches (``os.killpg``), the process alone is ``os.kill``."""
    base = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "VIRTUAL_ENV")}
    return subprocess.Popen(
        [str(KITGEN), *args],
        cwd=cwd,
        env={**base, **(env or {})},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def finished(
    process: subprocess.Popen[str], timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Wait for a process from :func:`start_kitgen`; its outcome as :func:`kitgen` gives it."""
    stdout, stderr = process.communicate(timeout=timeout)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def untouched(service: Path) -> None:
    """A case's setup that leaves the service as committed."""
    del service


def committed(edit: Setup) -> Setup:
    """``edit``, then a commit: the work tree is clean, as kitgen requires."""

    def setup(service: Path) -> None:
        edit(service)
        git(service, "add", "-A")
        git(service, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "edit")

    return setup
