"""Errors raised by ``servicekit.testgres``, re-exported from :mod:`servicekit.errors`."""

from __future__ import annotations

from servicekit.errors import TestgresError

__all__ = ["TestgresError"]
