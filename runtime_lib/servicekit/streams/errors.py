"""Exceptions raised by :mod:`servicekit.streams`, re-exported from :mod:`servicekit.errors`.

Everything derives from :class:`StreamsError`, itself a
:class:`servicekit.errors.ServiceKitError`, so one ``except`` clause covers the family.
"""

from __future__ import annotations

from servicekit.errors import (
    DeserializationError,
    EmitError,
    HandlerTimeoutError,
    MaxRetriesExceededError,
    NonRetryableError,
    StreamsConfigurationError,
    StreamsError,
)

__all__ = [
    "DeserializationError",
    "EmitError",
    "HandlerTimeoutError",
    "MaxRetriesExceededError",
    "NonRetryableError",
    "StreamsConfigurationError",
    "StreamsError",
]
