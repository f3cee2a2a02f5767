"""Moving staged events from the outbox table to Redis Streams."""

from __future__ import annotations

import asyncio
import logging
from functools import partial
from typing import TYPE_CHECKING, Self

from servicekit.outbox._batch import BatchSteps, Message
from servicekit.outbox._sessions import SessionFactory, Transactions
from servicekit.streams._client import ClientSlot
from servicekit.streams._entries import EntryPacker
from servicekit.streams._lifecycle import Stop
from servicekit.streams._wire import round_trips
from servicekit.streams.backoff import Backoff, exponential
from servicekit.streams.errors import StreamsConfigurationError

if TYPE_CHECKING:
    from collections.abc import Sequence
    from types import TracebackType

    from servicekit.outbox.mixin import OutboxMixin
    from servicekit.redis_clients import RedisClient

__all__ = ["OutboxRelay"]

logger = logging.getLogger(__name__)

# Failures counted into the backoff at most: an exponential delay of a larger attempt
# number would overflow a float (the delay itself is capped by the strategy).
_MAX_ATTEMPT = 64


class OutboxRelay(ClientSlot):
    """Appends the rows of an outbox table to their streams, oldest first, at least once.

    One batch is one transaction: lock the ``batch_size`` oldest rows no other relay holds
    (``SELECT ... ORDER BY id LIMIT n FOR UPDATE SKIP LOCKED``), append them all with
    ``XADD`` in one round trip (no MULTI/EXEC; on a Redis Cluster one per node, all at
    once), delete them, commit. Each entry is byte for
    byte what :class:`~servicekit.streams.EventEmitter` would have appended; ``maxlen`` and
    ``approximate`` trim each stream as the emitter does.

    **At least once.** A relay that dies (or loses Redis or the database) after the
    ``XADD`` and before the commit leaves the rows in place, and they are sent again:
    consumers must de-duplicate by event id (e.g. with
    :func:`servicekit.kv.already_processed`). Several relays can run on one table, each
    row being sent by one of them while they are healthy; batches of different relays may
    then reach a stream in any order (see ``docs/runtime/outbox.md``).

    ``sessions`` makes sessions: an ``async_sessionmaker`` (its sessions' ``run_sync``
    runs the database steps) or a ``sessionmaker`` (they run in a worker thread). Use
    :meth:`run_once` to send one batch, or run the loop: ``async with relay:`` (or
    :meth:`start` / :meth:`stop`, or ``await relay.run()``). The loop polls every
    ``poll_interval`` seconds while the table is empty and goes on at once after a full
    batch; a failing batch is logged once per outage and retried after ``backoff(n)``
    seconds (``n``: failures in a row).
    """

    _supply_hint = "pass redis= to the relay or call configure() first"

    def __init__(
        self,
        sessions: SessionFactory,
        model: type[OutboxMixin],
        redis: RedisClient | None = None,
        *,
        batch_size: int = 500,
        poll_interval: float = 1.0,
        maxlen: int | None = 100_000,
        approximate: bool = True,
        backoff: Backoff | None = None,
    ) -> None:
        if batch_size < 1:
            raise StreamsConfigurationError("batch_size must be positive")
        if poll_interval < 0:
            raise StreamsConfigurationError("poll_interval must not be negative")
        if maxlen is not None and maxlen < 1:
            raise StreamsConfigurationError("maxlen must be positive or None")
        self._redis = redis
        self.model = model
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.maxlen = maxlen
        self.approximate = approximate
        self.backoff: Backoff = backoff or exponential(initial=0.25, max_delay=30.0)
        self._transactions = Transactions(sessions)
        self._steps = BatchSteps(model, batch_size)
        self._packers: dict[str, EntryPacker] = {}
        self._stop = Stop()
        self._running = False
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        """Whether the relay loop is running."""
        return self._running

    async def run_once(self) -> int:
        """Send one batch; return how many rows it held (0: the table had none to send).

        Errors of Redis (``redis.exceptions.RedisError``, ``OSError``) and of the database
        (``sqlalchemy.exc.SQLAlchemyError``) propagate; the batch's rows then stay in
        the table, and whatever part of it reached Redis is sent again next time.
        """
        redis = self.redis
        async with self._transactions.begin() as transaction:
            messages = await transaction.run(self._steps.claim)
            if not messages:
                return 0
            await round_trips(redis, self._pack(messages))
            ids = [message[0] for message in messages]
            await transaction.run(partial(self._steps.delete, ids=ids))
        return len(messages)

    def _pack(self, messages: Sequence[Message]) -> list[tuple[str, bytes]]:
        """``(stream, XADD)`` of each message, in id order."""
        packers = self._packers
        commands = []
        for _, stream, event_type, schema_version, data in messages:
            packer = packers.get(stream)
            if packer is None:
                packer = packers[stream] = EntryPacker(
                    stream, maxlen=self.maxlen, approximate=self.approximate
                )
            commands.append((stream, packer.pack(event_type.encode(), schema_version, data)))
        return commands

    # -- the loop ------------------------------------------------------------------------

    async def run(self) -> None:
        """Relay until :meth:`stop` is called (cancelling it stops at once, mid-batch)."""
        self.start()
        assert self._task is not None
        await self._task

    def start(self) -> None:
        """Run the relay loop in a background task of the running event loop.

        A failing batch never ends the task: it is logged and retried.
        """
        if self._running:
            raise StreamsConfigurationError("this relay is already running")
        self.redis  # noqa: B018 -- a missing client is a setup error: raise it here
        # Set before the task runs, so that a stop() right after start() is not lost.
        self._running = True
        self._stop.reset()
        task = asyncio.create_task(self._loop(), name=f"outbox-relay:{self.model.__name__}")
        task.add_done_callback(self._ended)
        self._task = task

    async def stop(self) -> None:
        """Stop the loop: the batch in flight is finished (sent and committed) first."""
        self._stop.request()
        task, self._task = self._task, None
        if task is not None:
            await task

    def _ended(self, task: asyncio.Task[None]) -> None:
        self._running = False

    async def _loop(self) -> None:
        failures = 0
        while not self._stop.requested:
            try:
                sent = await self.run_once()
            except Exception as exc:
                failures += 1
                if failures == 1:
                    # "Type: message": redis-py's repr of a connection error hides the
                    # host and errno its message names.
                    logger.warning(
                        "outbox relay of %s failed, retrying until it succeeds: %s: %s",
                        self.model.__name__,
                        type(exc).__name__,
                        exc,
                    )
                else:
                    logger.debug(
                        "outbox relay failed again (%d): %s: %s", failures, type(exc).__name__, exc
                    )
                await self._stop.sleep(self.backoff(min(failures, _MAX_ATTEMPT)))
                continue
            if failures:
                logger.info(
                    "outbox relay of %s recovered after %d failed attempt(s)",
                    self.model.__name__,
                    failures,
                )
                failures = 0
            if sent < self.batch_size:
                await self._stop.sleep(self.poll_interval)

    async def __aenter__(self) -> Self:
        self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
