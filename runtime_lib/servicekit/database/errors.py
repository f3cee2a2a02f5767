"""Errors raised by ``servicekit.database``, re-exported from :mod:`servicekit.errors`."""

from __future__ import annotations

from servicekit.errors import (
    DatabaseError,
    NotBoundError,
    NotFound,
    NotFoundError,
    StaleVersionError,
)

__all__ = ["DatabaseError", "NotBoundError", "NotFound", "NotFoundError", "StaleVersionError"]
