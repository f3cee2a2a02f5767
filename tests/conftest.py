"""Fixtures shared by every test folder: real servers and unique names."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from servicekit.testgres import Server, resolve_postgres


@pytest.fixture(scope="session")
def redis_url() -> str:
    """URL of a real Redis (``$REDIS_URL`` or the local default)."""
    return os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
def key_prefix() -> str:
    """A Redis key prefix no other test (or test run) uses."""
    return f"kitgen-test:{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Server]:
    """A real Postgres: ``$DATABASE_URL``, the local server, or a throwaway one."""
    server = resolve_postgres()
    yield server
    server.close()
