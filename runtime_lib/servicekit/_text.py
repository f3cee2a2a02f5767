"""Redis replies as text: redis-py gives ``bytes`` or ``str`` depending on the client's
``decode_responses``; servicekit accepts both."""

from __future__ import annotations

from typing import Any


def as_text(value: Any) -> str:
    """``value`` as ``str``: bytes decoded as UTF-8, anything else through ``str()``."""
    return value.decode() if isinstance(value, bytes) else str(value)
