"""The exception hierarchy shared by every servicekit module.

Everything servicekit raises on purpose derives from :class:`ServiceKitError`, so a
service can catch the whole family in one place. :class:`ConfigurationError` is the
branch for mistakes in setup (a missing ``DATABASE_URL``, using a client before it was
initialised): those are programming errors and are never swallowed by fail-open code.
"""

from __future__ import annotations


class ServiceKitError(Exception):
    """Base class of every error servicekit raises deliberately."""


class ConfigurationError(ServiceKitError):
    """servicekit was used before it was set up, or set up with invalid values."""
