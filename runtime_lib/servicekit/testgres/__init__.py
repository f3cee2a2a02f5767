"""Real Postgres (and Redis) for a test suite, with one line in ``conftest.py``::

    from servicekit import testgres
    from myservice.models import Base

    testgres.setup(Base, async_mode=True, redis_mode=True)

Every test then runs against a database that holds the schema, bound to
``servicekit.database`` and exported as ``$DATABASE_URL``, and isolated from the other
tests: inside an outer transaction rolled back at its end (``isolation="transaction"``),
or in a clone of a template database of its own (``isolation="database"``, and any test
marked ``@pytest.mark.real_commits``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import MetaData

from servicekit.testgres._pgbouncer import start_pgbouncer
from servicekit.testgres._processes import LocalServer, start_postgres
from servicekit.testgres._replica import start_replica
from servicekit.testgres.databases import DatabaseFactory
from servicekit.testgres.errors import TestgresError
from servicekit.testgres.isolation import isolate
from servicekit.testgres.servers import (
    RedisMode,
    Server,
    resolve_pgbouncer,
    resolve_postgres,
    resolve_redis,
    resolve_redis_cluster,
)
from servicekit.testgres.session import Isolation, TestgresConfig, TestgresSession
from servicekit.testgres.transactions import TestTransaction

__all__ = [
    "DatabaseFactory",
    "Isolation",
    "LocalServer",
    "RedisMode",
    "Server",
    "TestTransaction",
    "TestgresError",
    "TestgresSession",
    "isolate",
    "resolve_pgbouncer",
    "resolve_postgres",
    "resolve_redis",
    "resolve_redis_cluster",
    "setup",
    "start_pgbouncer",
    "start_postgres",
    "start_replica",
]


def setup(
    base: Any,
    *,
    async_mode: bool = False,
    redis_mode: RedisMode = False,
    default_schema: str | Iterable[str] | None = None,
    uri: str | None = None,
    migrate: Callable[[str], None] | None = None,
    isolation: Isolation = "database",
    namespace: dict[str, Any] | None = None,
) -> None:
    """Install the testgres fixtures in the calling ``conftest.py``.

    ``base`` is a declarative base (or a ``MetaData``) whose tables are created with
    ``create_all`` when the session starts; pass ``migrate`` (called with the template
    database's URL, e.g. to run ``alembic upgrade head``) to build the schema with
    migrations instead. ``default_schema`` ("a,b" or a list) creates those schemas and
    puts them first on ``search_path``. ``isolation`` is how tests are kept apart:
    ``"transaction"`` (an outer transaction each, rolled back: a millisecond) or
    ``"database"`` (a clone each: tens of milliseconds, commits real); a test marked
    ``@pytest.mark.real_commits`` (registered here) always gets a clone. Fixtures
    installed: ``testgres_database`` (autouse; the test's database URL), ``db_session``,
    ``async_db_session`` (with ``async_mode``) and ``redis_url`` (with ``redis_mode``).
    ``redis_mode="cluster"`` gives the session a Redis Cluster instead of one node
    (``$REDIS_CLUSTER_URL``, or a local one started from ``redis-server``), and
    ``$REDIS_URL``/``redis_url`` name it with a ``redis+cluster://`` URL.
    """
    metadata = base if isinstance(base, MetaData) else getattr(base, "metadata", None)
    if metadata is None and migrate is None:
        raise TypeError("setup() needs a declarative base, a MetaData or migrate=")
    if isinstance(default_schema, str):
        schemas = tuple(s.strip() for s in default_schema.split(",") if s.strip())
    else:
        schemas = tuple(default_schema or ())
    if isolation not in ("transaction", "database"):
        raise ValueError(f"isolation must be 'transaction' or 'database', not {isolation!r}")
    config = TestgresConfig(metadata, async_mode, redis_mode, schemas, uri, migrate, isolation)
    if namespace is None:
        frame = inspect.currentframe()
        caller = frame.f_back if frame is not None else None
        if caller is None:
            raise RuntimeError("setup() could not find the calling module; pass namespace=")
        namespace = caller.f_globals
    # pytest is imported only here: the server and database helpers work without it.
    from servicekit.testgres._fixtures import build_fixtures

    namespace.update(build_fixtures(config, namespace.get("pytest_configure")))
