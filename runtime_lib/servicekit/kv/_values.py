"""Values as Redis wants them: expiries in whole milliseconds, replies as bytes."""

from __future__ import annotations

import math


def ms(seconds: float) -> int:
    # Redis expiries are whole milliseconds and must be positive.
    return max(1, math.ceil(seconds * 1000))


def as_bytes(value: bytes | str) -> bytes:
    # Works with clients created with or without decode_responses=True.
    return value.encode() if isinstance(value, str) else value


def as_text(value: bytes | str) -> str:
    # The same, for replies that are names (a record's state, a script's verdict).
    return value.decode() if isinstance(value, bytes) else value
