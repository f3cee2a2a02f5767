"""One transaction for the relay, on a sync or an async session.

The relay's database steps are plain functions of a sync :class:`Session`. On an
:class:`AsyncSession` they run through ``run_sync``; on a sync session they run in a
worker thread, always the same one for a relay, so that work a cancelled caller left
running in the thread and the rollback that follows never overlap.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Protocol, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

T = TypeVar("T")

SessionFactory = Callable[[], Session] | Callable[[], AsyncSession]


class Transaction(Protocol):
    """Runs sync database steps in one open transaction."""

    async def run(self, step: Callable[[Session], T]) -> T: ...


class _AsyncTransaction:
    __slots__ = ("_session",)

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def run(self, step: Callable[[Session], T]) -> T:
        return await self._session.run_sync(step)


class _ThreadTransaction:
    __slots__ = ("_executor", "_session")

    def __init__(self, session: Session, executor: ThreadPoolExecutor) -> None:
        self._session = session
        self._executor = executor

    async def run(self, step: Callable[[Session], T]) -> T:
        return await asyncio.wrap_future(self._executor.submit(step, self._session))


class Transactions:
    """Opens transactions on the sessions ``factory`` makes, sync or async."""

    def __init__(self, factory: SessionFactory) -> None:
        self._factory = factory
        self._executor: ThreadPoolExecutor | None = None

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[Transaction]:
        """A transaction that commits when the block ends and rolls back on an error."""
        session = self._factory()  # making a session does no I/O
        if isinstance(session, AsyncSession):
            async with session, session.begin():
                yield _AsyncTransaction(session)
            return
        if self._executor is None:
            # Its idle thread ends when the relay (and so the executor) is garbage.
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="outbox-relay")
        executor = self._executor
        transaction = _ThreadTransaction(session, executor)
        try:
            yield transaction
            await transaction.run(Session.commit)
        finally:
            # Closing rolls back whatever was not committed. Queued behind any step still
            # running, and done even if this task is cancelled while it waits.
            await asyncio.shield(asyncio.wrap_future(executor.submit(session.close)))
