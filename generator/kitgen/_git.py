"""The few git questions kitgen asks, answered by the git CLI."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from kitgen.errors import UserError

_MARKERS = ("<<<<<<< ", ">>>>>>> ")


# Never wait for a password prompt nobody will see: a remote that needs credentials fails.
# Only the transports a template or service lives on (no ext::, no fd::).
SAFE_ENV = {
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_ASKPASS": "",
    "SSH_ASKPASS": "",
    "LC_ALL": "C",
    "GIT_ALLOW_PROTOCOL": "file:git:http:https:ssh",
}


# Variables that point git at a repository other than the one in ``cwd`` (what
# `git rev-parse --local-env-vars` lists, less the config ones the fleet relies on). A
# git hook exports them to its children: kitgen run from one must not write into the
# hook's repository, nor read the wrong index into the one it is working on.
_REPOSITORY_ENV = (
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_COMMON_DIR",
    "GIT_DIR",
    "GIT_GRAFT_FILE",
    "GIT_IMPLICIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_NAMESPACE",
    "GIT_NO_REPLACE_OBJECTS",
    "GIT_OBJECT_DIRECTORY",
    "GIT_PREFIX",
    "GIT_REPLACE_REF_BASE",
    "GIT_SHALLOW_FILE",
    "GIT_WORK_TREE",
)


def git_environment() -> dict[str, str]:
    """The environment kitgen runs git with: no prompts, no borrowed repository."""
    env = {k: v for k, v in os.environ.items() if k not in _REPOSITORY_ENV}
    return {**env, **SAFE_ENV}


def forget_borrowed_repository() -> None:
    """Drop the variables that point git elsewhere from this process's environment, so
    Copier's git calls (and any child's) work on the repositories kitgen names too."""
    for name in _REPOSITORY_ENV:
        os.environ.pop(name, None)


class GitError(UserError):
    """A git command failed; the message names the command, the directory and git's words."""


def git(cwd: Path, *args: str, timeout: float = 300, detach: bool = False) -> str:
    """Run ``git args`` in ``cwd`` and return its stdout; a failure is a :class:`GitError`.

    ``detach`` runs git in its own session, so a Ctrl-C at the terminal does not kill it
    halfway: for the few writes that must complete once started (a ref update, a push).
    """
    try:
        result = subprocess.run(
            ["git", *args],
            cwd=cwd,
            env=git_environment(),
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
            start_new_session=detach,
        )
    except FileNotFoundError:
        if shutil.which("git") is None:
            raise UserError("git is not installed (kitgen needs it to track templates)") from None
        raise UserError(f"{cwd} does not exist") from None
    except subprocess.TimeoutExpired:
        raise GitError(f"git {' '.join(args)} timed out after {timeout:.0f} s in {cwd}") from None
    if result.returncode != 0:
        detail = " ".join((result.stderr or result.stdout).split()) or _status(result.returncode)
        raise GitError(f"git {' '.join(args)} failed in {cwd}: {detail}")
    return result.stdout


def _status(returncode: int) -> str:
    return f"killed by signal {-returncode}" if returncode < 0 else f"exit code {returncode}"


def succeeds(cwd: Path, *args: str) -> bool:
    """Whether ``git args`` exits 0 (for questions git answers with its exit code)."""
    try:
        git(cwd, *args)
    except GitError:
        return False
    return True


def show_file(cwd: Path, ref: str, name: str) -> str | None:
    """The text of ``name`` at commit ``ref``, or ``None`` when it has no such file."""
    try:
        return git(cwd, "show", f"{ref}:{name}")
    except GitError:
        return None


def repository_root(path: Path) -> Path | None:
    """The work tree containing ``path``, or ``None`` outside git."""
    try:
        return Path(git(path, "rev-parse", "--show-toplevel").strip())
    except GitError:
        return None


def uncommitted_paths(path: Path) -> list[str]:
    """Paths with uncommitted changes (untracked files included)."""
    # --no-optional-locks: a status check must not rewrite the index under the user's feet.
    status = git(path, "--no-optional-locks", "status", "--porcelain")
    return [line[3:] for line in status.splitlines() if line]


def require_clean(path: Path, *, allow: tuple[str, ...] = (), why: str = "") -> None:
    """A :class:`UserError` listing what is uncommitted (paths in ``allow`` excepted)."""
    dirty = [name for name in uncommitted_paths(path) if name not in allow]
    if dirty:
        listed = ", ".join(dirty[:5]) + (" ..." if len(dirty) > 5 else "")
        raise UserError(
            f"{path} has uncommitted changes ({listed}): commit or stash them first{why}"
        )


def conflicted_paths(path: Path) -> list[str]:
    """Files a merge left unresolved: unmerged index entries, conflict markers, ``*.rej``.

    ``copier update`` exits 0 even when conflicts remain, so the outcome has to be read
    from the work tree itself.
    """
    conflicts = {line.split("\t", 1)[1] for line in git(path, "ls-files", "-u").splitlines()}
    listed = git(path, "ls-files", "--cached", "--others", "--exclude-standard").splitlines()
    for name in listed:
        file = path / name
        if name.endswith(".rej"):
            conflicts.add(name)
            continue
        if not file.is_file():
            continue
        try:
            text = file.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        if any(line.startswith(_MARKERS) for line in text.splitlines()):
            conflicts.add(name)
    return sorted(conflicts)
