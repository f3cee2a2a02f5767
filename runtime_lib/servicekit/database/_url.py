"""Database URL normalisation: one ``DATABASE_URL`` serves sync and async code."""

from __future__ import annotations

import os

from sqlalchemy.engine import URL, make_url

from servicekit.database.errors import NotBoundError

_POSTGRES_NAMES = frozenset({"postgres", "postgresql"})
_SYNC_DRIVER = {"postgresql": "psycopg", "sqlite": "pysqlite"}
_ASYNC_DRIVER = {"postgresql": "asyncpg", "sqlite": "aiosqlite"}


def resolve_url(url: str | URL | None) -> str | URL:
    """Return ``url``, or ``$DATABASE_URL`` when it is not given."""
    if url is not None:
        return url
    env_url = os.environ.get("DATABASE_URL", "").strip()
    if not env_url:
        raise NotBoundError("DATABASE_URL is not set and no url was passed to bind()")
    return env_url


def normalize_url(url: str | URL, *, is_async: bool) -> URL:
    """Point a Postgres or SQLite URL at the driver for the requested mode.

    ``postgres://``, ``postgresql://`` and any ``postgresql+<driver>://`` become
    ``postgresql+psycopg`` (sync) or ``postgresql+asyncpg`` (async); ``sqlite`` maps to
    pysqlite / aiosqlite the same way. Other dialects are returned unchanged, so an
    explicit choice for them is respected.
    """
    parsed = make_url(url) if isinstance(url, str) else url
    backend = parsed.get_backend_name()
    if backend in _POSTGRES_NAMES:
        backend = "postgresql"
    drivers = _ASYNC_DRIVER if is_async else _SYNC_DRIVER
    driver = drivers.get(backend)
    if driver is None:
        return parsed
    drivername = backend if driver == "pysqlite" else f"{backend}+{driver}"
    return parsed.set(drivername=drivername)
