"""kitgen: scaffold platform services and keep them up to date.

The CLI (``kitgen``) is a thin layer over this package's Python API.
"""

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from kitgen.errors import KitgenError, UserError

if TYPE_CHECKING:
    from kitgen.scaffold import UpdateResult, new_service, update_service

try:
    __version__ = version("kitgen")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"

__all__ = [
    "KitgenError",
    "UpdateResult",
    "UserError",
    "__version__",
    "new_service",
    "update_service",
]


def __getattr__(name: str) -> Any:
    # Copier and SQLAlchemy take seconds to import: load them when first used, so that
    # `kitgen --help` and a mistyped command answer at once.
    if name in ("UpdateResult", "new_service", "update_service"):
        from kitgen import scaffold

        return getattr(scaffold, name)
    raise AttributeError(f"module 'kitgen' has no attribute {name!r}")
