"""Appending events to a stream."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, overload

from redis.exceptions import RedisError

from servicekit.streams._client import ClientSlot
from servicekit.streams._entries import EntryPacker
from servicekit.streams._wire import TRANSIENT_ERRORS, round_trip
from servicekit.streams.backoff import Exponential
from servicekit.streams.correlation import stamp
from servicekit.streams.errors import EmitError, StreamsConfigurationError
from servicekit.streams.serialization import encode_event

if TYPE_CHECKING:
    from servicekit.redis_clients import RedisClient
    from servicekit.streams.events import BaseEvent

__all__ = ["EventEmitter"]

logger = logging.getLogger(__name__)


class EventEmitter(ClientSlot):
    """Appends events to one stream with ``XADD``.

    ``maxlen`` trims the stream as it grows (``None`` keeps everything); with
    ``approximate`` (the default) Redis trims whole internal nodes, which is much cheaper
    and may keep slightly more than ``maxlen`` entries. Connection failures are retried
    ``max_retries`` times with exponential backoff from ``retry_delay`` seconds, then
    :class:`EmitError` is raised. A retried batch may have been partly written before the
    connection dropped, so consumers can see an event twice (delivery is at-least-once).
    """

    def __init__(
        self,
        redis: RedisClient | None = None,
        *,
        stream: str = "events:all",
        maxlen: int | None = 100_000,
        approximate: bool = True,
        max_retries: int = 3,
        retry_delay: float = 0.1,
    ) -> None:
        if maxlen is not None and maxlen < 1:
            raise StreamsConfigurationError("maxlen must be positive or None")
        if max_retries < 0 or retry_delay < 0:
            raise StreamsConfigurationError("max_retries and retry_delay must not be negative")
        self._redis = redis
        self.stream = stream
        self.maxlen = maxlen
        self.max_retries = max_retries
        self.retry_delay = retry_delay
        # Retry n waits retry_delay * 2 ** (n - 1): Exponential's first step is 2 * initial.
        # No jitter: a producer retrying alone gains nothing from spreading its retries.
        self._backoff = Exponential(initial=retry_delay / 2, jitter=False)
        self._packer = EntryPacker(stream, maxlen=maxlen, approximate=approximate)

    @overload
    async def emit(self, event: BaseEvent, *, caused_by: BaseEvent | None = None) -> str: ...

    @overload
    async def emit(
        self, event: Sequence[BaseEvent], *, caused_by: BaseEvent | None = None
    ) -> list[str]: ...

    async def emit(
        self, event: BaseEvent | Sequence[BaseEvent], *, caused_by: BaseEvent | None = None
    ) -> str | list[str]:
        """Append one event (returns its message id) or a list in one round trip (ids).

        ``caused_by`` sets each event's causation id to that event's id and carries its
        correlation id. Without it, the ids of the current :func:`correlation_scope` or
        handled event apply. Ids an event already has are kept.
        """
        redis = self.redis
        if isinstance(event, Sequence):
            if not event:
                return []
            commands = [self._command(stamp(item, caused_by)) for item in event]
            return await self._send(redis, commands)
        (message_id,) = await self._send(redis, [self._command(stamp(event, caused_by))])
        return message_id

    def _command(self, event: BaseEvent) -> bytes:
        event_type, version, data = encode_event(event)
        return self._packer.pack(event_type.encode(), version, data)

    async def _send(self, redis: RedisClient, commands: list[bytes]) -> list[str]:
        attempt = 0
        while True:
            try:
                # One write and one read on the socket for the whole list; no MULTI/EXEC,
                # since appending needs no atomicity.
                replies = await round_trip(redis, commands, key=self.stream)
                return [reply.decode() for reply in replies]
            except TRANSIENT_ERRORS as exc:
                if attempt >= self.max_retries:
                    raise EmitError(
                        f"could not append {len(commands)} event(s) to {self.stream!r} "
                        f"after {attempt + 1} attempts: {exc}"
                    ) from exc
                attempt += 1
                delay = self._backoff(attempt)
                logger.warning(
                    "emit to %r failed (%s); retry %d in %.2fs", self.stream, exc, attempt, delay
                )
                await asyncio.sleep(delay)
            except RedisError as exc:
                raise EmitError(f"could not append to {self.stream!r}: {exc}") from exc
