"""kitgen: scaffold platform services and keep them up to date.

The CLI (``kitgen``) is a thin layer over this package's Python API.
"""

from importlib.metadata import PackageNotFoundError, version

from kitgen.errors import KitgenError, UserError
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
