"""Where the service template comes from.

Copier records the template's location in every service (``_src_path``) and later
updates from it, so it must be a git location with version tags: never a path inside
site-packages, which has neither history nor tags.
"""

from __future__ import annotations

import os
from pathlib import Path

from kitgen._git import repository_root
from kitgen.errors import UserError

TEMPLATE_ENV = "KITGEN_TEMPLATE"


def template_source(explicit: str | None = None) -> str:
    """The template to use: ``explicit``, else ``$KITGEN_TEMPLATE``, else kitgen's own clone."""
    if explicit:
        return explicit
    from_env = os.environ.get(TEMPLATE_ENV, "").strip()
    if from_env:
        return from_env
    checkout = repository_root(Path(__file__).resolve().parent)
    if checkout is not None and (checkout / "copier.yml").is_file():
        return str(checkout)
    raise UserError(
        "kitgen is not running from a clone of its repository, so it cannot tell where the "
        f"template lives: pass --template <git URL or path> or set ${TEMPLATE_ENV}"
    )
