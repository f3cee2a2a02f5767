"""Transactional isolation: each test runs inside one outer transaction, rolled back.

SQLAlchemy's recipe "Joining a Session into an External Transaction": the test's
connection begins a transaction, and the session makers of ``servicekit.database``
(``SessionLocal``, ``AsyncSessionLocal``, so ``db_session()``, the FastAPI dependencies
and an app's own sessions) hand out sessions bound to that connection with
``join_transaction_mode="create_savepoint"``. Code under test may commit (a ``RELEASE
SAVEPOINT``) and roll back (``ROLLBACK TO SAVEPOINT``) freely, the test reads what it
wrote on the same connection, and the rollback at the end leaves nothing behind. That
costs a pooled checkout and a ``BEGIN``/``ROLLBACK`` instead of a database clone.

Sync and async sessions use two connections (psycopg and asyncpg), so two outer
transactions: what one writes, the other does not see.
"""

from __future__ import annotations

import threading

from sqlalchemy import pool
from sqlalchemy.engine import URL, Connection, RootTransaction, make_url

from servicekit.database.engine import (
    _pin_sessions,
    _unpin_sessions,
    build_async_engine,
    build_engine,
)
from servicekit.testgres._loop_transaction import LoopTransaction
from servicekit.testgres._turns import ThreadTurns


class TestTransaction:
    """Outer transactions on ``url``'s database, one test at a time.

    :meth:`begin` opens one and points the session makers at it (an app binding its own
    engine to the same database keeps them there); :meth:`rollback` rolls it back and
    gives them back. With ``async_mode``, async sessions join an outer transaction of
    their own, opened on the event loop of the first one that runs a statement.
    """

    __test__ = False

    def __init__(self, url: str | URL, *, async_mode: bool = False) -> None:
        self.url = make_url(url)
        # One connection, checked out test after test: no connect, and no ping (a round
        # trip per test; a connection a test killed is replaced after the error shows it).
        self._engine = build_engine(
            self.url,
            {
                "poolclass": pool.QueuePool,
                "pool_size": 1,
                "max_overflow": 0,
                "pool_pre_ping": False,
            },
        )
        # Each test's async connection lives on its own loop: nothing to pool.
        self._async_engine = (
            build_async_engine(self.url, {"poolclass": pool.NullPool}) if async_mode else None
        )
        self._running: tuple[Connection, RootTransaction, ThreadTurns] | None = None
        self._loop_transaction: LoopTransaction | None = None

    def begin(self) -> None:
        """Open a test's outer transaction and pin the session makers to it."""
        if self._running is not None:
            raise RuntimeError("the previous test's transaction was not rolled back")
        connection = self._engine.connect()
        outer = connection.begin()
        # The calling thread runs the test: see servicekit.testgres._turns.
        turns = ThreadTurns(main=threading.get_ident())
        turns.install(self._engine, connection)
        self._running = (connection, outer, turns)
        _pin_sessions("sync", self.url, bind=connection, join_transaction_mode="create_savepoint")
        if self._async_engine is not None:
            self._loop_transaction = LoopTransaction(self._async_engine)
            _pin_sessions(
                "async",
                self.url,
                bind=self._async_engine,
                sync_session_class=self._loop_transaction.session_class,
                join_transaction_mode="create_savepoint",
            )

    def rollback(self) -> None:
        """Roll the test's writes back and unpin the session makers."""
        _unpin_sessions("sync")
        _unpin_sessions("async")
        if self._loop_transaction is not None:
            self._loop_transaction.close()
            self._loop_transaction = None
        if self._running is not None:
            connection, outer, turns = self._running
            self._running = None
            turns.uninstall()
            try:
                outer.rollback()
            finally:
                connection.close()

    def close(self) -> None:
        """Roll back what runs and close the connections."""
        self.rollback()
        self._engine.dispose()
        if self._async_engine is not None:
            # NullPool: nothing pooled, and each connection was closed on its loop.
            self._async_engine.sync_engine.dispose(close=False)
