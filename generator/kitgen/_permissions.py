"""Whether kitgen may write a service's work tree, checked before anything is written.

Copier writes files one by one; a read-only file or directory met half-way leaves the
tree half-written (and git cannot restore files in a directory it may not write). So
every directory and file a re-render may touch is checked up front.
"""

from __future__ import annotations

import os
from pathlib import Path

from kitgen.errors import UserError

# Never rendered by the template; the service's own tooling owns them.
_NOT_RENDERED = frozenset(
    {".venv", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache", "node_modules"}
)


def require_writable(root: Path) -> None:
    """A :class:`UserError` naming the first read-only directory or file under ``root``."""
    for directory, names, files in os.walk(root):
        here = Path(directory)
        _require_access(here, root)
        if here == root:
            _require_access(root / ".git", root)  # git records kitgen's edits in its index
        names[:] = sorted(name for name in names if name not in _NOT_RENDERED | {".git"})
        for name in sorted(files):
            _require_access(here / name, root)


def _require_access(path: Path, root: Path) -> None:
    if path.is_symlink() or not path.exists():
        return  # a symlink's own permissions mean nothing; a missing path is not written
    if not os.access(path, os.W_OK):
        what = "directory" if path.is_dir() else "file"
        shown = path.relative_to(root).as_posix() if path != root else str(root)
        raise UserError(
            f"{shown} is a read-only {what}: kitgen writes the service's files in place; "
            "make it writable (chmod u+w) and run again"
        )
