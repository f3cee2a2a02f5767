"""Consuming events from a stream with a consumer group.

Delivery is at-least-once: a message is acknowledged only after every matching handler
succeeded, so a crash, a stop by cancellation or a lost acknowledgement means the message
is handled again. Handlers should be idempotent (see :func:`servicekit.kv.already_processed`).

:class:`EventRouter` holds the options and runs the lifecycle; the work is done by its
parts: handlers are kept by :mod:`._registry`, new entries read by :mod:`._reading`,
abandoned ones claimed by :mod:`._claiming`, every entry handled by :mod:`._dispatch`,
and the entries it holds kept from other consumers by :mod:`._lease`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from enum import StrEnum
from typing import TYPE_CHECKING, Any, TypeVar

from redis.exceptions import ResponseError

from servicekit.streams._claiming import Claimer
from servicekit.streams._client import ClientSlot
from servicekit.streams._dedupe import once_per_event
from servicekit.streams._dispatch import Dispatcher
from servicekit.streams._handlers import Deadline, Handler, event_classes
from servicekit.streams._lease import Lease
from servicekit.streams._lifecycle import Stop
from servicekit.streams._moves import atomic
from servicekit.streams._reading import Reader
from servicekit.streams._registry import HandlerRegistry
from servicekit.streams._settings import LOGGER_NAME, check_deadline
from servicekit.streams.backoff import Backoff, exponential
from servicekit.streams.errors import StreamsConfigurationError
from servicekit.streams.keys import dead_letter_stream
from servicekit.streams.registry import EventRegistry, event_registry

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from servicekit.redis_clients import RedisClient

__all__ = ["EventRouter", "GroupStartPosition"]

H = TypeVar("H", bound="Callable[[Any], Awaitable[Any]]")

logger = logging.getLogger(LOGGER_NAME)


class GroupStartPosition(StrEnum):
    """Where a newly created consumer group starts reading."""

    BEGINNING = "0"  # the whole stream history
    LATEST = "$"  # only messages added after the group was created


class EventRouter(ClientSlot):
    """Reads a stream with a consumer group and dispatches events to handlers.

    See ``docs/runtime/streams.md`` for every option. In short: ``claim_min_idle_ms`` is
    how long a message of a dead consumer sits unacknowledged before another consumer
    claims it (a live consumer refreshes the messages it handles every third of it, so a
    long handler keeps its message; every handler needs a finite worst case, checked at
    registration), ``claim_interval`` how often (seconds) to look for such messages
    (default: half of ``claim_min_idle_ms``, between 50 ms and 30 s), ``max_deliveries``
    how many deliveries a message gets before it is dead-lettered. ``dedupe_ttl``
    (seconds) makes every handler skip an event id it handled within that time (see
    :mod:`._dedupe`).
    """

    _supply_hint = "pass redis= to the router or to start()"

    def __init__(
        self,
        redis: RedisClient | None = None,
        *,
        stream: str = "events:all",
        group: str = "default",
        consumer: str | None = None,
        batch_size: int = 10,
        block_ms: int = 5000,
        handler_timeout: float = 30.0,
        group_start_id: GroupStartPosition | str = GroupStartPosition.BEGINNING,
        claim_interval: float | None = None,
        claim_min_idle_ms: int = 60_000,
        default_retries: int = 0,
        default_backoff: Backoff | None = None,
        max_deliveries: int = 5,
        dlq_stream: str | None = None,
        dlq_maxlen: int = 10_000,
        ordered: bool = True,
        dedupe_ttl: float | None = None,
        registry: EventRegistry = event_registry,
    ) -> None:
        if batch_size < 1 or block_ms < 1 or claim_min_idle_ms < 1 or max_deliveries < 1:
            raise StreamsConfigurationError(
                "batch_size, block_ms, claim_min_idle_ms and max_deliveries must be positive"
            )
        if dedupe_ttl is not None and not dedupe_ttl > 0:
            raise StreamsConfigurationError(f"dedupe_ttl must be positive, got {dedupe_ttl!r}")
        self._redis = redis
        self.stream = stream
        self.group = group
        self.consumer = consumer or f"{socket.gethostname()}-{os.getpid()}"
        self.batch_size = batch_size
        self.block_ms = block_ms
        self.handler_timeout = handler_timeout
        self.group_start_id = str(group_start_id)
        self.claim_min_idle_ms = claim_min_idle_ms
        self.claim_interval = (
            claim_interval
            if claim_interval is not None
            else min(30.0, max(0.05, claim_min_idle_ms / 2000))
        )
        self.default_retries = default_retries
        self.default_backoff: Backoff = default_backoff or exponential()
        self.max_deliveries = max_deliveries
        self.dlq_stream = dlq_stream
        self.dlq_maxlen = dlq_maxlen
        self.ordered = ordered
        self.dedupe_ttl = dedupe_ttl
        check_deadline(handler_timeout, "handler_timeout")
        self._handlers = HandlerRegistry()
        self._stop = Stop()
        self._dispatcher = Dispatcher(self, self._handlers, registry)
        self._reader = Reader(self, self._dispatcher, self._stop)
        self._claimer = Claimer(self, self._dispatcher, self._stop)
        self._lease = Lease(self, self._held)
        self._running = False
        self._stopped: asyncio.Event | None = None

    # -- setup ---------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._running

    def on(
        self,
        target: object,
        *,
        timeout: float | None = None,
        retries: int | None = None,
        backoff: Backoff | None = None,
        retryable_exceptions: tuple[type[BaseException], ...] | None = None,
    ) -> Callable[[H], H]:
        """Register a handler for an event class (and subclasses), a union or a glob.

        Globs match the routing key (``"order.*"``, ``"*"``). ``retries`` quick retries
        follow retryable errors (every ``Exception`` unless ``retryable_exceptions`` is
        given) and timeouts; any other error is non-retryable and dead-letters the message.
        """

        event_classes(target)  # reject a bad target here, not when the decorator runs

        def register(func: H) -> H:
            run: Callable[[Any], Awaitable[Any]] = func
            if self.dedupe_ttl is not None:
                # Per handler: of two handlers of one event, one may fail and be retried.
                namespace = f"{self.stream}:processed:{self.group}:{func.__qualname__}"
                run = once_per_event(
                    func, lambda: self.redis, ttl=self.dedupe_ttl, namespace=namespace
                )
            handler = Handler.build(
                run,
                target,
                timeout=self.handler_timeout if timeout is None else timeout,
                retries=self.default_retries if retries is None else retries,
                backoff=backoff or self.default_backoff,
                retryable=(Exception,) if retryable_exceptions is None else retryable_exceptions,
            )
            self._handlers.add(handler)
            return func

        return register

    async def ensure_group(self) -> None:
        """Create the stream and consumer group if missing (safe to call repeatedly)."""
        try:
            await self.redis.xgroup_create(
                self.stream, self.group, id=self.group_start_id, mkstream=True
            )
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def _check_dead_letter_slot(self) -> None:
        dlq_stream = self.dlq_stream
        if dlq_stream is not None and not atomic(self.redis, self.stream, dlq_stream):
            logger.warning(
                "dead-letter stream %r is not on the Redis Cluster slot of %r: dead-lettering "
                "is two commands, and a crash between them dead-letters an entry twice; "
                "name it %r to make it one transaction (docs/runtime/redis-keys.md)",
                dlq_stream,
                self.stream,
                dead_letter_stream(self.stream),
            )

    # -- lifecycle -----------------------------------------------------------------------

    def _held(self) -> set[Any]:
        """Ids of the entries this consumer holds: not handled yet, or handled and not
        acknowledged yet (the lease keeps them)."""
        return self._dispatcher.inflight | self._reader.acknowledging

    async def start(self, redis: RedisClient | None = None) -> None:
        """Consume until :meth:`stop` is called (or this task is cancelled)."""
        if redis is not None:
            self._redis = redis
        if self._running:
            raise StreamsConfigurationError("this router is already running")
        self._running = True
        self._stop.reset()
        self._dispatcher.inflight.clear()  # left over if a previous run was cancelled mid-read
        self._stopped = asyncio.Event()
        try:
            self._check_dead_letter_slot()
            await self.ensure_group()
            claimer = asyncio.create_task(self._claimer.run(), name=f"claim:{self.stream}")
            lease = asyncio.create_task(self._lease.run(), name=f"lease:{self.stream}")
            try:
                with Deadline() as deadline:
                    await self._reader.drain_own_backlog(deadline)
                    await self._reader.run(deadline)
            except BaseException:
                claimer.cancel()
                raise
            finally:
                self._stop.request()
                try:
                    await asyncio.wait([claimer])
                finally:
                    # Only now is nothing handled any more: handlers that finish after a
                    # stop request keep their entries until here.
                    lease.cancel()
                    await asyncio.wait([lease])
        finally:
            self._running = False
            self._stopped.set()

    async def stop(self) -> None:
        """Stop gracefully: no new reads; in-flight handlers finish and are acknowledged.

        Returns once :meth:`start` has returned. Do not await it from inside a handler
        of the same router (it would wait for itself); cancel a task instead.
        """
        if not self._running or self._stopped is None:
            return
        self._stop.request()
        while not self._stopped.is_set():
            # Only the blocking read is interrupted, never a handler. The cancel is
            # repeated because redis-py ignores one that arrives while it is still taking
            # a connection from the pool, and would then block for block_ms.
            self._reader.interrupt()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), 0.002)

    @property
    def _read_task(self) -> asyncio.Future[Any] | None:
        """The read in flight, if any (for tests)."""
        return self._reader.task
