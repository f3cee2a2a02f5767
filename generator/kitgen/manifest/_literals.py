"""Python source literals for manifest defaults, spelled the way ``ruff format`` spells them.

The per-entity templates paste these into models and schemas, so they must already be
formatted: double quotes unless the text holds a double quote (and no single one).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any


def python_literal(value: Any) -> str:
    """Source text that evaluates to ``value`` (None, bools, numbers, str, list, dict)."""
    if value is None or isinstance(value, bool | int | float):
        return repr(value)
    if isinstance(value, Decimal):
        return f'Decimal("{value}")'
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, list):
        return "[" + ", ".join(python_literal(item) for item in value) + "]"
    if isinstance(value, dict):
        items = (f"{python_literal(key)}: {python_literal(item)}" for key, item in value.items())
        return "{" + ", ".join(items) + "}"
    raise TypeError(f"no literal for {type(value).__name__}")


def _string(text: str) -> str:
    if '"' in text and "'" not in text:
        return repr(text)
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'
