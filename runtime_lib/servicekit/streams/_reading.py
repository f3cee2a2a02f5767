"""Reading new entries for a router: the read-ahead pipeline, and the backlog on start."""

from __future__ import annotations

import asyncio
import functools
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from redis.exceptions import ResponseError

from servicekit.streams._settings import LOGGER_NAME
from servicekit.streams._wire import TRANSIENT_ERRORS, command, round_trip
from servicekit.streams.backoff import exponential

if TYPE_CHECKING:
    from servicekit.streams._dispatch import Dispatcher
    from servicekit.streams._handlers import Deadline
    from servicekit.streams._lifecycle import Stop
    from servicekit.streams._settings import RouterSettings

logger = logging.getLogger(LOGGER_NAME)

# How much longer than block_ms a read may take before the server counts as unresponsive.
_READ_MARGIN = 10.0
# Delays between reads that failed in a row: 0.2, 0.4, 0.8, ... seconds, at most 5.
_RETRY_DELAY = exponential(initial=0.1, max_delay=5.0, jitter=False)


@dataclass(frozen=True, slots=True)
class _Read:
    """A read in flight: its task, the acknowledgements it carries, and a future done once
    its command is on the socket (or it ended without sending)."""

    task: asyncio.Future[Any]
    acks: list[Any]
    sent: asyncio.Future[None]


def _mark_sent(sent: asyncio.Future[None], _task: object) -> None:
    # A read cancelled or failed before it sent anything must not be waited for as sent.
    if not sent.done():
        sent.set_result(None)


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


class Reader:
    """Reads a router's new entries and hands them to its dispatcher."""

    def __init__(self, settings: RouterSettings, dispatcher: Dispatcher, stop: Stop) -> None:
        self._settings = settings
        self._dispatcher = dispatcher
        self._stop = stop
        self.task: asyncio.Future[Any] | None = None
        """The read in flight, if any."""
        self.acknowledging: set[Any] = set()
        """Ids of handled entries whose acknowledgement waits for a read to carry it, or
        is on its way with one. Until it arrives they are still this consumer's, and a
        read may take block_ms: the lease keeps them."""
        stream, group = settings.stream.encode(), settings.group.encode()
        self._stream_group = (stream, group)
        self._read_command = command(
            b"XREADGROUP", b"GROUP", group, settings.consumer.encode(),
            b"COUNT", b"%d" % settings.batch_size, b"BLOCK", b"%d" % settings.block_ms,
            b"STREAMS", stream, b">",
        )  # fmt: skip

    def interrupt(self) -> None:
        """Cancel the read in flight. Entries the server delivered to it stay pending and
        are claimed later."""
        read = self.task
        if read is not None and not read.done():
            read.cancel()

    async def drain_own_backlog(self, deadline: Deadline) -> None:
        """Handle entries this consumer name read but never acknowledged (a restart)."""
        settings, dispatcher = self._settings, self._dispatcher
        stream, group = self._stream_group
        last = b"0"
        while not self._stop.requested:
            packed = command(
                b"XREADGROUP", b"GROUP", group, settings.consumer.encode(),
                b"COUNT", b"%d" % settings.batch_size, b"STREAMS", stream, last,
            )  # fmt: skip
            (reply,) = await round_trip(settings.redis, [packed], key=settings.stream)
            entries = _entries(reply)
            if not entries:
                return
            last = entries[-1][0]
            # Entries trimmed from the stream while pending come back without fields.
            await dispatcher.ack([message_id for message_id, fields in entries if fields is None])
            entries = [(message_id, fields) for message_id, fields in entries if fields is not None]
            if entries:
                await dispatcher.handle_redelivered(entries, deadline)

    async def run(self, deadline: Deadline) -> None:
        """Read and handle new entries until a stop is requested."""
        # Reads run one batch ahead: while a batch is handled, the read of the next one is
        # already on its way, so the consumer never sits idle waiting for Redis. Each read
        # carries the acknowledgements queued so far (one round trip for both); what is
        # still queued when the loop ends is acknowledged on the way out.
        queued: list[Any] = []
        try:
            await self._read_batches(deadline, queued)
        finally:
            ahead = self.task
            if ahead is not None:
                # Left behind when this task was cancelled mid-batch. What it read stays
                # pending under this consumer and is claimed later.
                ahead.cancel()
                self.task = None
            try:
                await self._dispatcher.ack(queued)
            finally:
                self.acknowledging.clear()

    def _start_read(self, queued: list[Any]) -> _Read:
        acks = queued[:]
        queued.clear()
        sent: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        task = asyncio.ensure_future(self._read(acks, sent))
        task.add_done_callback(functools.partial(_mark_sent, sent))
        return _Read(task, acks, sent)

    async def _read(self, acks: list[Any], sent: asyncio.Future[None]) -> list[Any]:
        commands = [self._read_command]
        if acks:
            commands.insert(0, command(b"XACK", *self._stream_group, more=acks))
        # The reply may take block_ms: the client's socket timeout must not cut it short.
        replies = await round_trip(
            self._settings.redis,
            commands,
            key=self._settings.stream,
            timeout=self._settings.block_ms / 1000 + _READ_MARGIN,
            sent=sent,
        )
        entries = _entries(replies[-1])
        # Delivered to this consumer from now on: the claim loop must not take them too.
        self._dispatcher.inflight.update([entry[0] for entry in entries])
        return entries

    async def _recover(self, exc: ResponseError) -> None:
        """Carry on after a read failed with ``exc``, or raise it."""
        if str(exc).startswith("UNBLOCKED"):
            # The stream key went away while the read blocked: deleted, or moved to
            # another node by a slot migration. The next read is redirected, or finds
            # the group missing.
            return
        if "NOGROUP" not in str(exc):
            raise exc
        # The stream or group was deleted under us: recreate and carry on.
        await self._settings.ensure_group()

    async def _read_batches(self, deadline: Deadline, queued: list[Any]) -> None:
        stop = self._stop
        failures = 0
        read: _Read | None = None
        while True:
            if read is None:
                if stop.requested:
                    return
                read = self._start_read(queued)
            self.task = read.task
            try:
                entries = await read.task
            except asyncio.CancelledError:
                queued.extend(read.acks)  # unknown whether they arrived: XACK is idempotent
                task = asyncio.current_task()
                if stop.requested and task is not None and not task.cancelling():
                    return
                raise
            except TRANSIENT_ERRORS as exc:
                # Before ResponseError: a cluster's MOVED or CLUSTERDOWN (a failover) is one.
                queued.extend(read.acks)
                read = None
                failures += 1
                delay = _RETRY_DELAY(failures)
                logger.warning(
                    "reading %r failed (%s); retrying in %.1fs", self._settings.stream, exc, delay
                )
                await stop.sleep(delay)
                continue
            except ResponseError as exc:
                queued.extend(read.acks)
                read = None
                await self._recover(exc)
                continue
            finally:
                self.task = None
            failures = 0
            self.acknowledging.difference_update(read.acks)
            # Entries already delivered to this consumer are handled even when stopping.
            read = None if stop.requested else self._start_read(queued)
            if read is not None:
                self.task = read.task
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
                    handled = await self._dispatcher.handle_batch(entries, None, deadline)
                    queued.extend(handled)
                    self.acknowledging.update(handled)
            except BaseException:
                if read is not None:
                    # Leaving: run() cancels the read ahead, which may not have delivered
                    # the acknowledgements it carries (XACK is idempotent).
                    queued.extend(read.acks)
                raise
