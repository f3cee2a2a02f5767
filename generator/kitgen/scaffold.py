"""Creating services from the template and updating them: kitgen's wrapper over Copier."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import copier
from copier.errors import ConfigFileError, PathError, UnsafeTemplateError, UserMessageError

from kitgen._git import conflicted_paths, repository_root, require_clean
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
    require_clean(path)
    rerender(path, data=data or {}, vcs_ref=vcs_ref)
    return UpdateResult(path, conflicted_paths(path))


def rerender(
    path: Path,
    *,
    data: dict[str, Any],
    vcs_ref: str | copier.VcsRef | None,
    failure: str = "",
) -> None:
    """``copier update`` of ``path`` from its recorded answers plus ``data``.

    Local edits are re-applied on top of the new rendering; overlaps become inline
    conflict markers (``--conflict rej`` would move nearby edits into ``.rej`` files).
    """
    with _copier_errors(failure):
        copier.run_update(
            path,
            data=data,
            vcs_ref=vcs_ref,
            defaults=True,
            overwrite=True,
            skip_answered=True,
            conflict="inline",
            quiet=True,
            unsafe=False,
        )


@contextmanager
def _copier_errors(prefix: str = "") -> Iterator[None]:
    """Copier's user-facing failures (invalid answers, bad refs or paths, a template that
    needs --trust) become :class:`UserError`; anything else Copier raises is a bug (in the
    template or in kitgen) and propagates as an internal error."""
    try:
        yield
    except _COPIER_USER_ERRORS as exc:
        raise UserError(f"{prefix}{exc}") from exc


# ValueError: Copier's wording for invalid answers and template locations.
_COPIER_USER_ERRORS = (
    UserMessageError,
    UnsafeTemplateError,
    ConfigFileError,
    PathError,
    ValueError,
)
