"""Typed readers for environment settings, with errors that name the variable."""

from __future__ import annotations

import os

from servicekit.errors import ConfigurationError

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})


def env_str(name: str, default: str) -> str:
    """Return ``$name`` or ``default`` when it is unset or empty."""
    return os.environ.get(name) or default


def env_int(name: str, default: int) -> int:
    """Return ``$name`` as an int; a non-integer value is a :class:`ConfigurationError`."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be an integer, got {raw!r}") from None


def env_float(name: str, default: float) -> float:
    """Return ``$name`` as a float; an unparsable value is a :class:`ConfigurationError`."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number, got {raw!r}") from None


def env_bool(name: str, default: bool) -> bool:
    """Return ``$name`` as a bool (1/true/yes/on or 0/false/no/off, any case)."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigurationError(f"{name} must be a boolean (true/false), got {raw!r}")
