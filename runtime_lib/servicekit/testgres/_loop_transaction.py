"""A test's async outer transaction, opened on the event loop that first needs it.

An asyncpg connection belongs to the loop that opened it, and a test cannot know that
loop in advance: an app under ``TestClient`` runs on the client's own loop (in a portal
thread), an async test on pytest-asyncio's. So the connection is opened by the first
async session that runs a statement, on its loop, and every later async session of the
test must run there too (``client.portal.call`` reaches the app's loop from a test). It
is rolled back and closed on that loop: when the test ends, or when the loop shuts down
first (a ``TestClient`` closing), since shutting a loop down cancels its tasks and a
keeper task does it then.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
from typing import Any

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.orm import Session
from sqlalchemy.util import await_only
from sqlalchemy.util.concurrency import in_greenlet

from servicekit.errors import ConfigurationError
from servicekit.testgres._turns import TURN_TIMEOUT, TaskTurns


class LoopTransaction:
    """The outer transaction async sessions join, on the loop of the first one."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._loop: asyncio.AbstractEventLoop | None = None
        self._opened: asyncio.Task[AsyncConnection] | None = None
        self._keeper: asyncio.Task[None] | None = None
        self._done: asyncio.Event | None = None
        self._turns: TaskTurns | None = None
        self.session_class = self._session_class()

    def bind(self) -> Connection | Engine:
        """The outer connection, opened on the running loop when a session needs it.

        Called in a greenlet when a session runs a statement; outside one (a caller
        after the bind's dialect), before the connection is open, the engine answers.
        """
        loop = asyncio.get_running_loop()
        if self._keeper is not None and self._keeper.done():
            self._opened = None  # its loop shut down: a new loop starts afresh
        if self._opened is not None and loop is not self._loop:
            raise ConfigurationError(
                "this test's async sessions share one outer transaction, opened on another"
                " event loop (an asyncpg connection belongs to its loop): run the database"
                " code on the app's loop with client.portal.call(...), or mark the test"
                " @pytest.mark.real_commits"
            )
        if self._opened is not None and self._opened.done():
            return _sync_side(self._opened.result())
        if not in_greenlet():
            return self._engine.sync_engine
        if self._opened is None:
            # Sessions of concurrent tasks may ask at once: one opens, all wait for it.
            self._loop, self._opened = loop, loop.create_task(self._open())
        return _sync_side(await_only(asyncio.shield(self._opened)))

    def close(self) -> None:
        """Roll back and close the connection on its loop, wherever that loop stands."""
        keeper, loop, done = self._keeper, self._loop, self._done
        self._opened = self._keeper = self._loop = self._done = None
        if keeper is None or loop is None or done is None or keeper.done():
            return
        if loop.is_closed():
            # Closed without cancelling its tasks: the connection cannot be closed
            # politely; the server rolls back when the socket goes.
            return
        if loop.is_running():  # in another thread (a portal still open)
            future = asyncio.run_coroutine_threadsafe(_finish(keeper, done), loop)
            try:
                future.result(TURN_TIMEOUT)
            except concurrent.futures.TimeoutError:
                future.cancel()
            return
        loop.run_until_complete(_finish(keeper, done))

    async def _open(self) -> AsyncConnection:
        connection = await self._engine.connect()
        await connection.begin()
        turns = TaskTurns()
        turns.install(self._engine.sync_engine, _sync_side(connection))
        self._turns, self._done = turns, asyncio.Event()
        self._keeper = asyncio.create_task(self._keep(connection, turns, self._done))
        return connection

    @staticmethod
    async def _keep(connection: AsyncConnection, turns: TaskTurns, done: asyncio.Event) -> None:
        try:
            await done.wait()
        finally:
            turns.uninstall()
            # A test may have killed the connection (the server rolled back then).
            with contextlib.suppress(Exception):
                await connection.rollback()
            with contextlib.suppress(Exception):
                await connection.close()

    def _session_class(self) -> type[Session]:
        outer = self

        class JoinedSession(Session):
            """Binds to the outer connection, opened when the first statement needs it."""

            def get_bind(self, *args: Any, **kw: Any) -> Connection | Engine:
                return outer.bind()

        return JoinedSession


async def _finish(keeper: asyncio.Task[None], done: asyncio.Event) -> None:
    done.set()
    await keeper


def _sync_side(connection: AsyncConnection) -> Connection:
    sync = connection.sync_connection
    assert sync is not None  # started by _open()
    return sync
