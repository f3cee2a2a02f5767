"""What every hostile-input case asserts: the exit code, one clear message, nothing written.

A case runs the installed ``kitgen`` console script (as users do) in a copy of a committed
service, then compares the whole tree -- every file's bytes, every symlink, git's status
and HEAD -- with a snapshot taken before the run.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

KITGEN = Path(sys.executable).with_name("kitgen")
_SKIPPED = frozenset(
    {".git", ".venv", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache"}
)

TreeState = dict[str, object]


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
