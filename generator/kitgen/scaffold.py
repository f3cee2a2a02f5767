"""Creating services from the template and updating them: kitgen's wrapper over Copier."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import copier
from copier.errors import CopierError

from kitgen._git import conflicted_paths, repository_root, uncommitted_paths
from kitgen.errors import UserError
from kitgen.template import template_source


@dataclass(frozen=True)
class UpdateResult:
    """What ``copier update`` left behind."""

    path: Path
    conflicts: list[str]

    @property
    def clean(self) -> bool:
        return not self.conflicts


def new_service(
    destination: Path,
    *,
    data: dict[str, Any] | None = None,
    defaults: bool = False,
    template: str | None = None,
    vcs_ref: str | None = None,
) -> Path:
    """Render the template into ``destination`` (which must not exist or be empty)."""
    if destination.exists() and any(destination.iterdir()):
        raise UserError(f"{destination} already exists and is not empty")
    source = template_source(template)
    with _copier_errors():
        copier.run_copy(
            source,
            destination,
            data=data or {},
            defaults=defaults,
            vcs_ref=vcs_ref,
            quiet=True,
            unsafe=False,
        )
    return destination


def update_service(
    path: Path,
    *,
    vcs_ref: str | None = None,
    data: dict[str, Any] | None = None,
) -> UpdateResult:
    """``copier update`` with inline conflict markers, then read the outcome from git.

    The work tree must be clean, so that whatever the update changes can be reviewed
    and reverted with git.
    """
    if repository_root(path) is None:
        raise UserError(f"{path} is not inside a git repository: commit the service first")
    dirty = uncommitted_paths(path)
    if dirty:
        listed = ", ".join(dirty[:5]) + (" ..." if len(dirty) > 5 else "")
        raise UserError(f"{path} has uncommitted changes ({listed}): commit or stash them first")
    with _copier_errors():
        copier.run_update(
            path,
            data=data or {},
            vcs_ref=vcs_ref,
            defaults=True,
            overwrite=True,
            skip_answered=True,
            conflict="inline",
            quiet=True,
            unsafe=False,
        )
    return UpdateResult(path, conflicted_paths(path))


@contextmanager
def _copier_errors() -> Iterator[None]:
    """Turn Copier's user-facing failures (invalid answers, bad refs) into :class:`UserError`."""
    try:
        yield
    except (ValueError, CopierError) as exc:
        raise UserError(str(exc)) from exc
