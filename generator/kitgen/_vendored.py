"""The vendored runtime: is a service's ``servicekit/`` what the template shipped?

Compared by git blob ids, so a template's copy is read from its history without a
checkout, and a service's from its work tree (``kitgen check``) or a commit (``kitgen
fleet status``) alike.
"""

from __future__ import annotations

import hashlib
import tomllib
from pathlib import Path

from kitgen._git import git

VENDORED = "servicekit"
UPSTREAM_ROOT = "runtime_lib"
_SKIPPED_PARTS = frozenset({"__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache"})


def vendored_packages(pyproject: str | None) -> list[str]:
    """The vendored packages a service declares (``[tool.kitgen] vendored``).

    Each is vendored from ``runtime_lib/<name>`` in the template. A service without the
    table (or with one kitgen cannot read) vendors ``servicekit``.
    """
    try:
        table = tomllib.loads(pyproject or "").get("tool", {}).get("kitgen", {})
    except tomllib.TOMLDecodeError:
        return [VENDORED]
    names = table.get("vendored") if isinstance(table, dict) else None
    if not isinstance(names, list) or not names:
        return [VENDORED]
    return [name for name in names if isinstance(name, str) and name.isidentifier()]


def upstream_of(package: str) -> str:
    """Where the template keeps a vendored package."""
    return f"{UPSTREAM_ROOT}/{package}"


def committed_blobs(repo: Path, ref: str, directory: str) -> dict[str, str]:
    """``{path inside directory: blob id}`` of the regular files under ``directory`` at ``ref``."""
    listing = git(repo, "ls-tree", "-r", "-z", "--full-tree", ref, "--", directory)
    blobs: dict[str, str] = {}
    for entry in filter(None, listing.split("\0")):
        meta, _, name = entry.partition("\t")
        mode, kind, blob = meta.split()
        if kind == "blob" and mode.startswith("100"):
            blobs[name[len(directory) + 1 :]] = blob
    return blobs


def worktree_blobs(directory: Path) -> dict[str, str]:
    """``{path inside directory: blob id}`` of the files on disk (caches skipped)."""
    if not directory.is_dir():
        return {}
    blobs: dict[str, str] = {}
    for path in sorted(directory.rglob("*")):
        relative = path.relative_to(directory)
        if not path.is_file() or _SKIPPED_PARTS.intersection(relative.parts):
            continue
        if path.suffix in (".pyc", ".pyo"):
            continue
        data = path.read_bytes()
        blobs[relative.as_posix()] = hashlib.sha1(  # git's object id, not a security hash
            b"blob %d\0" % len(data) + data, usedforsecurity=False
        ).hexdigest()
    return blobs


def edited_files(
    actual: dict[str, str], shipped: dict[str, str], package: str = VENDORED
) -> list[str]:
    """``<package>/...`` paths that differ, were added or were removed."""
    changed = {
        name for name in actual.keys() | shipped.keys() if actual.get(name) != shipped.get(name)
    }
    return [f"{package}/{name}" for name in sorted(changed)]


def runtime_version(text: str | None) -> str | None:
    """The ``__version__`` in a ``servicekit/_version.py`` text."""
    for line in (text or "").splitlines():
        name, sep, value = line.partition("=")
        if sep and name.strip() == "__version__":
            return value.strip().strip("\"'")
    return None
