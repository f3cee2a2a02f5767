"""Consuming events from a stream with a consumer group.

Delivery is at-least-once: a message is acknowledged only after every matching handler
succeeded, so a crash, a stop by cancellation or a lost acknowledgement means the message
is handled again. Handlers should be idempotent (see :func:`servicekit.kv.already_processed`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import socket
from contextvars import Token
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from time import monotonic
from typing import TYPE_CHECKING, Any, TypeVar

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from servicekit.streams._client import ClientSlot
from servicekit.streams._handlers import Deadline, Handler, event_classes
from servicekit.streams._wire import command, round_trip
from servicekit.streams.backoff import Backoff, exponential
from servicekit.streams.correlation import _context
from servicekit.streams.dead_letters import DeadLetterReason, entry_fields
from servicekit.streams.errors import (
    DeserializationError,
    NonRetryableError,
    StreamsConfigurationError,
    StreamsError,
)
from servicekit.streams.events import GenericEvent
from servicekit.streams.registry import EventRegistry, event_registry
from servicekit.streams.serialization import decode_entries, decode_fields, field_mapping

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from redis.asyncio import Redis

    from servicekit.streams.events import BaseEvent

__all__ = ["EventRouter", "GroupStartPosition"]

logger = logging.getLogger(__name__)

H = TypeVar("H", bound="Callable[[Any], Awaitable[Any]]")

_TRANSIENT = (RedisConnectionError, RedisTimeoutError, OSError)
# XAUTOCLAIM pages handled per claim pass, so one pass over a huge backlog of a dead
# consumer does not starve the stop flag; the cursor resumes where the pass ended.
_CLAIM_PAGES_PER_PASS = 10
_CURSOR_START = "0-0"
# How much longer than block_ms a read may take before the server counts as unresponsive.
_READ_MARGIN = 10.0


@dataclass(frozen=True, slots=True)
class _Read:
    """A read in flight: its task, the acknowledgements it carries, when it was started,
    and a future done once its command is on the socket (or it ended without sending)."""

    task: asyncio.Future[Any]
    acks: list[Any]
    sent_at: float
    sent: asyncio.Future[None]


def _mark_sent(sent: asyncio.Future[None], _task: object) -> None:
    # A read cancelled or failed before it sent anything must not be waited for as sent.
    if not sent.done():
        sent.set_result(None)


class GroupStartPosition(StrEnum):
    """Where a newly created consumer group starts reading."""

    BEGINNING = "0"  # the whole stream history
    LATEST = "$"  # only messages added after the group was created


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _entries(reply: Any) -> list[Any]:
    """The ``[id, fields]`` entries of a raw XREADGROUP reply (RESP2 list or RESP3 map).

    ``fields`` stays the reply's flat ``[name, value, ...]`` list (see
    :func:`~servicekit.streams.serialization.decode_entries`): building a dict per entry
    would cost more than a no-op handler. It is None for an entry deleted from the stream
    while it was pending.
    """
    if not reply:
        return []
    chunks = list(reply.values()) if isinstance(reply, dict) else [item[1] for item in reply]
    # One stream is read, so one chunk (and no copy) is the rule.
    return chunks[0] if len(chunks) == 1 else [entry for chunk in chunks for entry in chunk]


class EventRouter(ClientSlot):
    """Reads a stream with a consumer group and dispatches events to handlers.

    See ``docs/runtime/streams.md`` for every option. In short: ``claim_min_idle_ms`` is
    how long a message may sit unacknowledged before another consumer claims it (every
    handler's worst case must fit in it, checked at registration), ``claim_interval`` how
    often (seconds) to look for such messages (default: half of ``claim_min_idle_ms``,
    between 50 ms and 30 s), ``max_deliveries`` how many deliveries a message gets before
    it is dead-lettered.
    """

    _supply_hint = "pass redis= to the router or to start()"

    def __init__(
        self,
        redis: Redis | None = None,
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
        registry: EventRegistry = event_registry,
    ) -> None:
        if batch_size < 1 or block_ms < 1 or claim_min_idle_ms < 1 or max_deliveries < 1:
            raise StreamsConfigurationError(
                "batch_size, block_ms, claim_min_idle_ms and max_deliveries must be positive"
            )
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
        self._registry = registry
        self._handlers: list[Handler] = []
        self._matches: dict[tuple[type[BaseEvent], str], tuple[tuple[Handler, ...], float]] = {}
        self._claim_cursor: Any = _CURSOR_START
        self._inflight: set[Any] = set()
        self._max_worst_case = 0.0
        self._stream_group = (stream.encode(), group.encode())
        self._read_command = command(
            b"XREADGROUP", b"GROUP", group.encode(), self.consumer.encode(),
            b"COUNT", b"%d" % batch_size, b"BLOCK", b"%d" % block_ms,
            b"STREAMS", stream.encode(), b">",
        )  # fmt: skip
        self._running = False
        self._stopping = False
        self._read_task: asyncio.Future[Any] | None = None
        self._stop_event: asyncio.Event | None = None
        self._stopped: asyncio.Event | None = None
        self._check_deadline(handler_timeout, "handler_timeout")

    # -- setup ---------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._running

    def _check_deadline(self, seconds: float, what: str) -> None:
        # A message whose handler is still running must not look abandoned: if it could
        # stay unacknowledged longer than claim_min_idle_ms, another consumer would claim
        # it and run it a second time while the first run is still going.
        if seconds * 1000 >= self.claim_min_idle_ms:
            raise StreamsConfigurationError(
                f"{what} allows {seconds:g}s per message, not less than "
                f"claim_min_idle_ms={self.claim_min_idle_ms}: a live handler would be "
                "claimed by another consumer; raise claim_min_idle_ms or lower the timeout"
            )

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
            handler = Handler.build(
                func,
                target,
                timeout=self.handler_timeout if timeout is None else timeout,
                retries=self.default_retries if retries is None else retries,
                backoff=backoff or self.default_backoff,
                retryable=(Exception,) if retryable_exceptions is None else retryable_exceptions,
            )
            self._check_deadline(handler.worst_case(), f"handler {handler.name}")
            self._handlers.append(handler)
            self._max_worst_case = max(self._max_worst_case, handler.worst_case())
            self._matches.clear()
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

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self, redis: Redis | None = None) -> None:
        """Consume until :meth:`stop` is called (or this task is cancelled)."""
        if redis is not None:
            self._redis = redis
        if self._running:
            raise StreamsConfigurationError("this router is already running")
        self._running, self._stopping = True, False
        self._inflight.clear()  # left over if a previous run was cancelled mid-read
        self._stop_event, self._stopped = asyncio.Event(), asyncio.Event()
        try:
            await self.ensure_group()
            claimer = asyncio.create_task(self._claim_loop(), name=f"claim:{self.stream}")
            deadline = Deadline()
            try:
                await self._drain_own_backlog(deadline)
                await self._read_loop(deadline)
            except BaseException:
                claimer.cancel()
                raise
            finally:
                deadline.close()
                self._stopping = True
                self._stop_event.set()
                await asyncio.wait([claimer])
        finally:
            self._running = False
            self._stopped.set()

    async def stop(self) -> None:
        """Stop gracefully: no new reads; in-flight handlers finish and are acknowledged.

        Returns once :meth:`start` has returned. Do not await it from inside a handler
        of the same router (it would wait for itself); cancel a task instead.
        """
        if not self._running or self._stop_event is None or self._stopped is None:
            return
        self._stopping = True
        self._stop_event.set()
        while not self._stopped.is_set():
            # Only the blocking read is interrupted, never a handler. Entries the server
            # delivered to an interrupted read stay pending and are claimed later. The
            # cancel is repeated because redis-py ignores one that arrives while it is
            # still taking a connection from the pool, and would then block for block_ms.
            read = self._read_task
            if read is not None and not read.done():
                read.cancel()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), 0.002)

    # -- reading -------------------------------------------------------------------------

    async def _read_loop(self, deadline: Deadline) -> None:
        # Reads run one batch ahead: while a batch is handled, the read of the next one is
        # already on its way, so the consumer never sits idle waiting for Redis. Each read
        # carries the acknowledgements queued so far (one round trip for both); what is
        # still queued when the loop ends is acknowledged on the way out.
        queued: list[Any] = []
        try:
            await self._read_batches(deadline, queued)
        finally:
            ahead = self._read_task
            if ahead is not None:
                # Left behind when this task was cancelled mid-batch. What it read stays
                # pending under this consumer and is claimed later.
                ahead.cancel()
                self._read_task = None
            await self._ack(queued)

    def _start_read(self, queued: list[Any]) -> _Read:
        acks = queued[:]
        queued.clear()
        sent: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        task = asyncio.ensure_future(self._read(acks, sent))
        task.add_done_callback(functools.partial(_mark_sent, sent))
        return _Read(task, acks, monotonic(), sent)

    async def _read(self, acks: list[Any], sent: asyncio.Future[None]) -> list[Any]:
        packed = self._read_command
        if acks:
            packed = command(b"XACK", *self._stream_group, more=acks) + packed
        # The reply may take block_ms: the client's socket timeout must not cut it short.
        replies = await round_trip(
            self.redis,
            packed,
            2 if acks else 1,
            timeout=self.block_ms / 1000 + _READ_MARGIN,
            sent=sent,
        )
        entries = _entries(replies[-1])
        # Delivered to this consumer from now on: the claim loop must not take them too.
        self._inflight.update([entry[0] for entry in entries])
        return entries

    async def _read_batches(self, deadline: Deadline, queued: list[Any]) -> None:
        failures = 0
        read: _Read | None = None
        while True:
            if read is None:
                if self._stopping:
                    return
                read = self._start_read(queued)
            self._read_task = read.task
            try:
                entries = await read.task
            except asyncio.CancelledError:
                queued.extend(read.acks)  # unknown whether they arrived: XACK is idempotent
                task = asyncio.current_task()
                if self._stopping and task is not None and not task.cancelling():
                    return
                raise
            except ResponseError as exc:
                queued.extend(read.acks)
                read = None
                if "NOGROUP" not in str(exc):
                    raise
                # The stream or group was deleted under us: recreate and carry on.
                await self.ensure_group()
                continue
            except _TRANSIENT as exc:
                queued.extend(read.acks)
                read = None
                failures += 1
                delay = min(5.0, 0.1 * 2**failures)
                logger.warning("reading %r failed (%s); retrying in %.1fs", self.stream, exc, delay)
                await self._sleep(delay)
                continue
            finally:
                self._read_task = None
            failures = 0
            sent_at = read.sent_at
            # Entries already delivered to this consumer are handled even when stopping.
            read = None if self._stopping else self._start_read(queued)
            if read is not None:
                self._read_task = read.task
            try:
                if read is not None:
                    # Let the read send its command before handling starts: handlers that
                    # never wait would otherwise keep it from leaving until the batch is
                    # done. Sending takes redis-py a few turns of the loop (a connection
                    # from the pool; a task per write when the client has a socket
                    # timeout), so a single sleep(0) does not do: the read would go out
                    # only after the batch, and its whole round trip be waited for.
                    await read.sent
                if entries:
                    queued.extend(await self._handle_batch(entries, None, deadline, sent_at))
            except BaseException:
                if read is not None:
                    # Leaving: _read_loop cancels the read ahead, which may not have
                    # delivered the acknowledgements it carries (XACK is idempotent).
                    queued.extend(read.acks)
                raise

    async def _sleep(self, seconds: float) -> None:
        """Sleep, but wake up at once when stop() is called."""
        assert self._stop_event is not None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop_event.wait(), seconds)

    async def _drain_own_backlog(self, deadline: Deadline) -> None:
        """Handle entries this consumer name read but never acknowledged (a restart)."""
        stream, group = self._stream_group
        last = b"0"
        while not self._stopping:
            packed = command(
                b"XREADGROUP", b"GROUP", group, self.consumer.encode(),
                b"COUNT", b"%d" % self.batch_size, b"STREAMS", stream, last,
            )  # fmt: skip
            (reply,) = await round_trip(self.redis, packed, 1)
            entries = _entries(reply)
            if not entries:
                return
            last = entries[-1][0]
            # Entries trimmed from the stream while pending come back without fields.
            await self._ack([message_id for message_id, fields in entries if fields is None])
            entries = [(message_id, fields) for message_id, fields in entries if fields is not None]
            if entries:
                deliveries = await self._delivery_counts(entries)
                await self._ack(await self._handle_batch(entries, deliveries, deadline))

    # -- recovery ------------------------------------------------------------------------

    async def _claim_loop(self) -> None:
        # A separate task: claiming never delays reading new messages, and a long read
        # block never delays claiming.
        deadline = Deadline()
        try:
            while not self._stopping:
                await self._sleep(self.claim_interval)
                if self._stopping:
                    return
                try:
                    await self._claim_pass(deadline)
                except RedisError as exc:
                    logger.warning("claiming pending entries of %r failed: %s", self.stream, exc)
                except Exception:
                    # Recovery must outlive a bug in one pass, or pending entries would
                    # silently never be claimed again.
                    logger.exception("claiming pending entries of %r failed", self.stream)
        finally:
            deadline.close()

    async def _claim_pass(self, deadline: Deadline) -> None:
        redis = self.redis
        for _ in range(_CLAIM_PAGES_PER_PASS):
            if self._stopping:
                return
            reply = await redis.xautoclaim(
                self.stream,
                self.group,
                self.consumer,
                min_idle_time=self.claim_min_idle_ms,
                start_id=self._claim_cursor,
                count=self.batch_size,
            )
            self._claim_cursor, claimed = reply[0], reply[1]
            # Redis 6.2 reports entries deleted from the stream as nil; 7.x drops them
            # from the pending list itself. Either way there is nothing left to handle.
            gone = [message_id for message_id, fields in claimed if fields is None]
            if gone:
                await redis.xack(self.stream, self.group, *gone)
            entries = [
                (message_id, fields)
                for message_id, fields in claimed
                if fields is not None and message_id not in self._inflight
            ]
            if entries:
                deliveries = await self._delivery_counts(entries)
                await self._ack(await self._handle_batch(entries, deliveries, deadline))
            if _text(self._claim_cursor) == _CURSOR_START:
                return

    async def _delivery_counts(self, entries: list[tuple[Any, Any]]) -> dict[Any, int]:
        rows = await self.redis.xpending_range(
            self.stream,
            self.group,
            min=entries[0][0],
            max=entries[-1][0],
            count=len(entries) + len(self._inflight) + 16,
            consumername=self.consumer,
        )
        return {row["message_id"]: int(row["times_delivered"]) for row in rows}

    # -- handling ------------------------------------------------------------------------

    async def _handle_batch(
        self,
        entries: list[tuple[Any, Any]],
        deliveries: dict[Any, int] | None,
        deadline: Deadline,
        since: float | None = None,
    ) -> list[Any]:
        """Handle a batch; return the ids to acknowledge.

        ``since`` is when the entries were delivered at the latest (by default: now); the
        time they waited before being handled counts toward their idle time.
        """
        ids = [message_id for message_id, _ in entries]
        since = monotonic() if since is None else since
        self._inflight.update(ids)
        try:
            if self.ordered or len(entries) == 1:
                outcomes = await self._handle_in_order(entries, ids, deliveries, deadline, since)
            else:
                # All entries start now and each ends within the slowest handler's worst
                # case, so one check covers the batch.
                if monotonic() - since + self._max_worst_case >= self.claim_min_idle_ms / 1000:
                    await self._renew(ids)
                outcomes = await asyncio.gather(
                    *(self._handle(mid, fields, deliveries) for mid, fields in entries)
                )
            return [mid for mid, ok in zip(ids, outcomes, strict=True) if ok]
        finally:
            self._inflight.difference_update(ids)

    async def _ack(self, ids: list[Any]) -> None:
        if not ids:
            return
        try:
            await self.redis.xack(self.stream, self.group, *ids)
        except RedisError as exc:
            logger.warning(
                "acknowledging %d entries failed (%s); they will be redelivered", len(ids), exc
            )

    async def _handle_in_order(
        self,
        entries: list[Any],
        ids: list[Any],
        deliveries: dict[Any, int] | None,
        deadline: Deadline,
        since: float,
    ) -> list[bool]:
        # Entries are handled one after the other, so the last one waits for all before
        # it. Its idle time (what XAUTOCLAIM looks at) grows meanwhile; before a handler
        # could push the batch past claim_min_idle_ms, the batch's entries are re-claimed
        # by this consumer (XCLAIM JUSTID), which resets their idle time without counting
        # a delivery. Short handlers never pay for this.
        # This is the hot path: the common case (one handler, success) is kept inline,
        # down to the handler's deadline (see Deadline.arm), so an entry costs no
        # coroutine but the handler's own.
        limit = self.claim_min_idle_ms / 1000
        renewed_at = since
        outcomes: list[bool] = []
        outcome = outcomes.append
        matches = self._matches
        # The context is set for each handled event and put back to the caller's value
        # before anything but a handler runs, but reset only once, at the end: a reset per
        # entry costs as much as the set. A handler (and any task it starts) still sees
        # its own event, and nothing else sees one.
        outer = _context.get()
        first: Token[Any] | None = None
        try:
            for (message_id, fields), event in zip(
                entries, decode_entries(entries, self._registry), strict=True
            ):
                if deliveries is not None or isinstance(event, DeserializationError):
                    dead = self._dead_reason(message_id, event, deliveries)
                    if dead is not None:
                        _context.set(outer)
                        outcome(await self._dead_letter(message_id, fields, *dead))
                        continue
                    assert not isinstance(event, DeserializationError)
                # Inline cache hit of _handlers_for (keyed like it; GenericEvent misses).
                match = matches.get((type(event), ""))
                handlers, worst_case = match or self._handlers_for(event)
                if not handlers:
                    outcome(True)  # nobody is interested: the entry is done
                    continue
                if monotonic() - renewed_at + worst_case >= limit:
                    _context.set(outer)
                    renewed_at = await self._renew(ids)
                if len(handlers) > 1:
                    _context.set(outer)
                    outcome(await self._dispatch(message_id, fields, event, handlers))
                    continue
                handler = handlers[0]
                token = _context.set((None, event))
                # Only the first token is kept: resetting it restores the caller's value.
                first = first or token
                # Deadline.run, inline.
                cancelling = deadline.arm(handler.timeout)
                try:
                    await handler.func(event)
                except asyncio.CancelledError:
                    if not deadline.timed_out(cancelling):
                        raise
                    error: BaseException = handler._timed_out()
                except Exception as exc:
                    deadline.disarm()
                    error = exc
                else:
                    deadline.disarm()
                    outcome(True)
                    continue
                outcome(
                    await self._retry(message_id, fields, event, handlers, error, deadline, outer)
                )
        finally:
            if first is not None:
                _context.reset(first)
        return outcomes

    async def _retry(
        self,
        message_id: Any,
        fields: Any,
        event: BaseEvent,
        handlers: tuple[Handler, ...],
        error: BaseException,
        deadline: Deadline,
        outer: tuple[str | None, BaseEvent | None],
    ) -> bool:
        """Retry the only handler after its first attempt failed (in the event's context),
        then settle the entry in the ``outer`` context; True to acknowledge it."""
        final = await handlers[0].retry(event, error, deadline)
        _context.set(outer)
        return final is None or await self._settle(message_id, fields, handlers, [final])

    async def _renew(self, ids: list[Any]) -> float:
        """Reset the idle time of in-flight entries; returns when (monotonic clock)."""
        # Entries of a read that ran ahead and has completed are waiting too: renew them
        # with the batch. (A read still in flight delivers after this renewal, so its
        # entries are younger than the batch's.)
        ahead = self._read_task
        if ahead is not None and ahead.done() and not ahead.cancelled() and not ahead.exception():
            ids = ids + [message_id for message_id, _ in ahead.result()]
        try:
            await self.redis.xclaim(self.stream, self.group, self.consumer, 0, ids, justid=True)
        except RedisError as exc:
            logger.warning("renewing %d in-flight entries failed: %s", len(ids), exc)
        return monotonic()

    def _handlers_for(self, event: BaseEvent) -> tuple[tuple[Handler, ...], float]:
        # The routing key is fixed per class, except for GenericEvent.
        cls = type(event)
        key = (cls, event.routing_key if cls is GenericEvent else "")
        match = self._matches.get(key)
        if match is None:
            handlers = tuple(h for h in self._handlers if h.matches(event))
            worst_case = max((h.worst_case() for h in handlers), default=0.0)
            match = self._matches[key] = (handlers, worst_case)
        return match

    async def _handle(
        self, message_id: Any, fields: Any, deliveries: dict[Any, int] | None
    ) -> bool:
        """Handle one entry in its own task; True when it should be acknowledged."""
        prepared = self._prepare(message_id, fields, deliveries)
        if isinstance(prepared, tuple):
            return await self._dead_letter(message_id, fields, *prepared)
        handlers, _ = self._handlers_for(prepared)
        return await self._dispatch(message_id, fields, prepared, handlers) if handlers else True

    def _prepare(
        self, message_id: Any, fields: Any, deliveries: dict[Any, int] | None
    ) -> BaseEvent | tuple[DeadLetterReason, str]:
        """The entry's event, or why the entry is dead."""
        try:
            event: BaseEvent | DeserializationError = decode_fields(fields, self._registry)
        except DeserializationError as exc:
            event = exc
        dead = self._dead_reason(message_id, event, deliveries)
        if dead is not None:
            return dead
        assert not isinstance(event, DeserializationError)
        return event

    def _dead_reason(
        self,
        message_id: Any,
        event: BaseEvent | DeserializationError,
        deliveries: dict[Any, int] | None,
    ) -> tuple[DeadLetterReason, str] | None:
        """Why an entry is dead (too many deliveries first, then a broken event), if it is."""
        if deliveries is not None:
            delivery = deliveries.get(message_id, 1)
            if delivery > self.max_deliveries:
                return (
                    DeadLetterReason.MAX_DELIVERIES_EXCEEDED,
                    f"delivered {delivery} times without being acknowledged",
                )
        if isinstance(event, DeserializationError):
            return DeadLetterReason.DESERIALIZATION_FAILED, str(event)
        return None

    async def _dispatch(
        self, message_id: Any, fields: Any, event: BaseEvent, handlers: tuple[Handler, ...]
    ) -> bool:
        """Run several handlers (or one outside the router's own tasks) concurrently."""
        token = _context.set((None, event))
        try:
            outcomes = list(await asyncio.gather(*(h.run(event) for h in handlers)))
        finally:
            _context.reset(token)
        return await self._settle(message_id, fields, handlers, outcomes)

    async def _settle(
        self,
        message_id: Any,
        fields: Any,
        handlers: tuple[Handler, ...],
        outcomes: list[StreamsError | None],
    ) -> bool:
        """Decide about an entry after its handlers ran; True to acknowledge it."""
        failures = [(h, e) for h, e in zip(handlers, outcomes, strict=True) if e is not None]
        if not failures:
            return True
        for handler, error in failures:
            logger.error(
                "%s failed on entry %s of %r: %s",
                handler.name,
                _text(message_id),
                self.stream,
                error,
                exc_info=error.__cause__ or error,
            )
        for handler, error in failures:
            if isinstance(error, NonRetryableError):
                cause = error.__cause__ or error
                return await self._dead_letter(
                    message_id,
                    fields,
                    DeadLetterReason.NON_RETRYABLE_ERROR,
                    f"{type(cause).__name__}: {cause}",
                    handler.name,
                )
        # Retryable failures: leave the entry pending; it is claimed again after
        # claim_min_idle_ms, until max_deliveries sends it to the dead letters.
        return False

    async def _dead_letter(
        self,
        message_id: Any,
        fields: Any,
        reason: DeadLetterReason,
        error: str,
        handler: str = "",
    ) -> bool:
        """Dead-letter an entry. Always False: the entry is acknowledged here (with its
        dead letter) or, without a DLQ or when Redis fails, left pending."""
        if self.dlq_stream is None:
            # Without a DLQ nothing is dropped: the entry stays in the pending list, where
            # XPENDING/XRANGE show it, until the stream's MAXLEN trims it away.
            logger.error(
                "entry %s of %r is dead (%s: %s); no dlq_stream, leaving it pending",
                _text(message_id),
                self.stream,
                reason.value,
                error,
            )
            return False
        entry = entry_fields(
            message_id=_text(message_id),
            stream=self.stream,
            group=self.group,
            reason=reason,
            error=error,
            handler=handler,
            failed_at=datetime.now(UTC),
            original=dict(field_mapping(fields)),
        )
        # One MULTI/EXEC: the entry is either moved (dead letter written and source
        # acknowledged) or left untouched, never lost or duplicated by a crash in between.
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.xadd(self.dlq_stream, entry, maxlen=self.dlq_maxlen, approximate=True)  # type: ignore[arg-type]
                pipe.xack(self.stream, self.group, message_id)
                await pipe.execute()
        except RedisError as exc:
            logger.warning("entry %s of %r left pending: %s", _text(message_id), self.stream, exc)
            return False
        logger.warning(
            "entry %s of %r dead-lettered to %r (%s)",
            _text(message_id),
            self.stream,
            self.dlq_stream,
            reason.value,
        )
        return False
