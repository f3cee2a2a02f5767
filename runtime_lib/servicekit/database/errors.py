"""Errors raised by ``servicekit.database``, re-exported from :mod:`servicekit.errors`."""

from __future__ import annotations

from servicekit.errors import (
    DatabaseError,
    DatabaseTimeoutError,
    DatabaseUnavailableError,
    NotBoundError,
    NotFound,
    NotFoundError,
    ReadOnlySessionError,
    RetryableConflictError,
    StaleVersionError,
)

__all__ = [
    "DatabaseError",
    "DatabaseTimeoutError",
    "DatabaseUnavailableError",
    "NotBoundError",
    "NotFound",
    "NotFoundError",
    "ReadOnlySessionError",
    "RetryableConflictError",
    "StaleVersionError",
]
