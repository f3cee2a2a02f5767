"""Errors raised by ``servicekit.database``."""

from __future__ import annotations

from typing import Any

from servicekit.errors import ConfigurationError, ServiceKitError


class DatabaseError(ServiceKitError):
    """Base class of the database layer's own errors."""


class NotBoundError(DatabaseError, ConfigurationError):
    """A session was requested before :func:`bind` / :func:`async_bind` ran."""


class NotFound(DatabaseError, LookupError):
    """``get_or_raise`` found no row with the requested primary key."""

    def __init__(self, model: type[Any], ident: Any) -> None:
        self.model = model
        self.ident = ident
        super().__init__(f"{model.__name__} with primary key {ident!r} not found")
