"""Appending events to a stream."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, overload

from redis.exceptions import RedisError

from servicekit.streams._client import ClientSlot
from servicekit.streams._wire import TRANSIENT_ERRORS, bulk, round_trip
from servicekit.streams.backoff import Exponential
from servicekit.streams.correlation import get_causation_id, get_correlation_id
from servicekit.streams.errors import EmitError, StreamsConfigurationError
from servicekit.streams.serialization import (
    FIELD_DATA,
    FIELD_SCHEMA_VERSION,
    FIELD_TYPE,
    encode_event,
)

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from servicekit.streams.events import BaseEvent

__all__ = ["EventEmitter"]

logger = logging.getLogger(__name__)

_TYPE_FIELD = bulk(FIELD_TYPE.encode())
_VERSION_FIELD = bulk(FIELD_SCHEMA_VERSION.encode())
_DATA_FIELD = bulk(FIELD_DATA.encode())


def _stamp(event: BaseEvent, caused_by: BaseEvent | None) -> BaseEvent:
    """Fill in correlation and causation ids the caller left empty."""
    if caused_by is not None:
        causation: str | None = str(caused_by.id)
        # The first event of a chain is its own correlation root.
        correlation: str | None = caused_by.correlation_id or causation
    else:
        correlation, causation = get_correlation_id(), get_causation_id()
    update: dict[str, Any] = {}
    if event.correlation_id is None and correlation is not None:
        update["correlation_id"] = correlation
    if event.causation_id is None and causation is not None:
        update["causation_id"] = causation
    return event.model_copy(update=update) if update else event


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
        redis: Redis | None = None,
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
        # Everything of an XADD but the three field values is the same for every event:
        # pack it once (the array header counts the six field arguments that follow).
        head = [b"XADD", stream.encode(), b"*"]
        if maxlen is not None:
            head[2:2] = [b"MAXLEN", b"~" if approximate else b"=", b"%d" % maxlen]
        self._head = b"*%d\r\n" % (len(head) + 6) + b"".join(bulk(arg) for arg in head)

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
            commands = [self._command(_stamp(item, caused_by)) for item in event]
            return await self._send(redis, commands)
        (message_id,) = await self._send(redis, [self._command(_stamp(event, caused_by))])
        return message_id

    def _command(self, event: BaseEvent) -> bytes:
        event_type, version, data = encode_event(event)
        return b"".join(
            (
                self._head,
                _TYPE_FIELD,
                bulk(event_type.encode()),
                _VERSION_FIELD,
                bulk(b"%d" % version),
                _DATA_FIELD,
                bulk(data),
            )
        )

    async def _send(self, redis: Redis, commands: list[bytes]) -> list[str]:
        attempt = 0
        while True:
            try:
                # One write and one read on the socket for the whole list; no MULTI/EXEC,
                # since appending needs no atomicity.
                replies = await round_trip(redis, b"".join(commands), len(commands))
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
