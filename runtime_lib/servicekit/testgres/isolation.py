"""What surrounds each test: its database bound, its environment, and its isolation.

``"transaction"``: the test runs inside an outer transaction rolled back at its end
(:class:`~servicekit.testgres.TestTransaction`), on a database shared by the session's
transactional tests; a millisecond or so. ``"database"``: the test gets a clone of the
template of its own, dropped afterwards; tens of milliseconds, but its commits are real
and any connection (another process, a killed backend) sees them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import pool

from servicekit import database
from servicekit.database.engine import _unbind_async
from servicekit.testgres.session import Isolation, TestgresSession

_ISOLATED_ENV = ("DATABASE_URL", "REDIS_URL", "CACHE_PREFIX")


@contextmanager
def isolate(session: TestgresSession, isolation: Isolation, *, async_mode: bool) -> Iterator[str]:
    """Run the enclosed test isolated as ``isolation`` says; yields its database URL.

    The URL (through the session's PgBouncer, if it has one) is bound to
    ``servicekit.database`` (``bind()`` and, with ``async_mode``, ``async_bind()``, on
    ``NullPool``) and exported as ``$DATABASE_URL``; with Redis, ``$REDIS_URL`` is set and
    ``$CACHE_PREFIX`` is unique to the test.
    """
    factory = session.databases
    transactions = None
    if isolation == "transaction":
        transactions = session.transactions(async_mode=async_mode)
    if transactions is None:
        name = factory.clone()
        url = session.url(name).render_as_string(hide_password=False)
    else:
        url = transactions.url.render_as_string(hide_password=False)
    saved = {key: os.environ.get(key) for key in _ISOLATED_ENV}
    os.environ["DATABASE_URL"] = url
    if session.redis is not None:
        os.environ["REDIS_URL"] = session.redis.url
        os.environ["CACHE_PREFIX"] = f"test-{uuid.uuid4().hex[:12]}"
    database.bind(url, poolclass=pool.NullPool)
    if async_mode:
        database.async_bind(url, poolclass=pool.NullPool)
    if transactions is not None:
        transactions.begin()
    try:
        yield url
    finally:
        if transactions is not None:
            transactions.rollback()
        database.dispose()
        # A sync fixture cannot await async_dispose(); with NullPool there is nothing to
        # close anyway, and a clone's DROP .. WITH (FORCE) closes anything a test leaked.
        _unbind_async()
        if transactions is None:
            factory.release(name)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
