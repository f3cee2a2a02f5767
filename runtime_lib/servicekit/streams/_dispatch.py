"""Handling entries: the one dispatch path of a router.

A batch is handled either one entry after the other (``ordered``, and any batch of one)
or with each entry in a task of its own; both ways go through
:meth:`Dispatcher._one_by_one`, so the dead-letter decision, the handler lookup, the
handler's deadline and retries, the correlation context and the settling of failures
exist once. The entries being handled keep their owner through :mod:`._lease`.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from redis.exceptions import RedisError

from servicekit._text import as_text
from servicekit.streams._handlers import Deadline
from servicekit.streams._moves import dead_letter
from servicekit.streams._settings import LOGGER_NAME
from servicekit.streams.correlation import HandlingScope
from servicekit.streams.dead_letters import DeadLetterReason, entry_fields
from servicekit.streams.errors import DeserializationError, NonRetryableError
from servicekit.streams.serialization import decode_entries, field_mapping

if TYPE_CHECKING:
    from collections.abc import Sequence

    from servicekit.streams._handlers import Handler
    from servicekit.streams._registry import HandlerRegistry
    from servicekit.streams._settings import RouterSettings
    from servicekit.streams.errors import StreamsError
    from servicekit.streams.events import BaseEvent
    from servicekit.streams.registry import EventRegistry

logger = logging.getLogger(LOGGER_NAME)


async def _run_alone(handler: Handler, event: BaseEvent) -> StreamsError | None:
    """:meth:`Handler.run` in a task of its own, which needs a deadline of its own."""
    with Deadline() as deadline:
        return await handler.run(event, deadline)


class Dispatcher:
    """Runs the handlers of the entries a router read or claimed, and acknowledges or
    dead-letters each entry accordingly."""

    def __init__(
        self, settings: RouterSettings, handlers: HandlerRegistry, events: EventRegistry
    ) -> None:
        self._settings = settings
        self._handlers = handlers
        self._events = events
        self.inflight: set[Any] = set()
        """Ids of the entries delivered to this consumer and not handled yet; claiming
        skips them and the lease refreshes them. Readers add what they read; a batch's ids
        leave once it is handled."""

    async def handle_batch(
        self,
        entries: Sequence[Any],
        deliveries: dict[Any, int] | None,
        deadline: Deadline,
    ) -> list[Any]:
        """Handle ``(id, fields)`` entries; return the ids to acknowledge.

        ``deliveries`` (redelivered entries only) maps ids to delivery counts. ``deadline``
        belongs to the calling task.
        """
        ids = [message_id for message_id, _ in entries]
        self.inflight.update(ids)
        try:
            if self._settings.ordered or len(entries) == 1:
                outcomes = await self._one_by_one(entries, deliveries, deadline)
            else:
                outcomes = await asyncio.gather(*(self._alone(e, deliveries) for e in entries))
            return [mid for mid, ok in zip(ids, outcomes, strict=True) if ok]
        finally:
            self.inflight.difference_update(ids)

    async def handle_redelivered(self, entries: Sequence[Any], deadline: Deadline) -> None:
        """Handle entries delivered before (claimed, or left pending by a previous run),
        dead-lettering those delivered more than ``max_deliveries`` times, and
        acknowledge what is done."""
        deliveries = await self._delivery_counts(entries)
        await self.ack(await self.handle_batch(entries, deliveries, deadline))

    async def ack(self, ids: list[Any]) -> None:
        """Acknowledge ``ids``; a failure is logged (the entries will be redelivered)."""
        if not ids:
            return
        settings = self._settings
        try:
            await settings.redis.xack(settings.stream, settings.group, *ids)
        except RedisError as exc:
            logger.warning(
                "acknowledging %d entries failed (%s); they will be redelivered", len(ids), exc
            )

    async def _alone(self, entry: Sequence[Any], deliveries: dict[Any, int] | None) -> bool:
        """Handle one entry of a concurrent batch in its own task; True to acknowledge it."""
        with Deadline() as deadline:
            (outcome,) = await self._one_by_one([entry], deliveries, deadline)
        return outcome

    async def _one_by_one(
        self,
        entries: Sequence[Any],
        deliveries: dict[Any, int] | None,
        deadline: Deadline,
    ) -> list[bool]:
        """Handle entries one after the other in this task; True for each to acknowledge.

        The handlers of one entry run concurrently.
        """
        # This is the hot path: an entry whose only handler succeeds costs a lookup, a
        # context switch and an attempt under the task's shared deadline, nothing more.
        # (However long the batch takes, its entries stay this consumer's: see _lease.)
        outcomes: list[bool] = []
        outcome = outcomes.append
        match = self._handlers.match
        scope = HandlingScope()
        try:
            events = decode_entries(entries, self._events)
            for (message_id, fields), event in zip(entries, events, strict=True):
                if deliveries is not None or isinstance(event, DeserializationError):
                    dead = self._dead_reason(message_id, event, deliveries)
                    if dead is not None:
                        scope.leave()
                        outcome(await self._dead_letter(message_id, fields, *dead))
                        continue
                    assert not isinstance(event, DeserializationError)
                handlers = match(event)
                if not handlers:
                    outcome(True)  # nobody is interested: the entry is done
                    continue
                scope.enter(event)
                errors: Sequence[StreamsError | None]
                if len(handlers) == 1:
                    error = await handlers[0].run(event, deadline)
                    if error is None:
                        outcome(True)
                        continue
                    errors = [error]
                else:
                    errors = await asyncio.gather(*(_run_alone(h, event) for h in handlers))
                scope.leave()
                outcome(await self._settle(message_id, fields, handlers, errors))
        finally:
            scope.close()
        return outcomes

    async def _delivery_counts(self, entries: Sequence[Any]) -> dict[Any, int]:
        settings = self._settings
        rows = await settings.redis.xpending_range(
            settings.stream,
            settings.group,
            min=entries[0][0],
            max=entries[-1][0],
            count=len(entries) + len(self.inflight) + 16,
            consumername=settings.consumer,
        )
        return {row["message_id"]: int(row["times_delivered"]) for row in rows}

    def _dead_reason(
        self,
        message_id: Any,
        event: BaseEvent | DeserializationError,
        deliveries: dict[Any, int] | None,
    ) -> tuple[DeadLetterReason, str] | None:
        """Why an entry is dead (too many deliveries first, then a broken event), if it is."""
        if deliveries is not None:
            delivery = deliveries.get(message_id, 1)
            if delivery > self._settings.max_deliveries:
                return (
                    DeadLetterReason.MAX_DELIVERIES_EXCEEDED,
                    f"delivered {delivery} times without being acknowledged",
                )
        if isinstance(event, DeserializationError):
            return DeadLetterReason.DESERIALIZATION_FAILED, str(event)
        return None

    async def _settle(
        self,
        message_id: Any,
        fields: Any,
        handlers: tuple[Handler, ...],
        outcomes: Sequence[StreamsError | None],
    ) -> bool:
        """Decide about an entry after its handlers ran; True to acknowledge it."""
        failures = [(h, e) for h, e in zip(handlers, outcomes, strict=True) if e is not None]
        if not failures:
            return True
        for handler, error in failures:
            logger.error(
                "%s failed on entry %s of %r: %s",
                handler.name,
                as_text(message_id),
                self._settings.stream,
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
        settings = self._settings
        stream, dlq_stream = settings.stream, settings.dlq_stream
        if dlq_stream is None:
            # Without a DLQ nothing is dropped: the entry stays in the pending list, where
            # XPENDING/XRANGE show it, until the stream's MAXLEN trims it away.
            logger.error(
                "entry %s of %r is dead (%s: %s); no dlq_stream, leaving it pending",
                as_text(message_id),
                stream,
                reason.value,
                error,
            )
            return False
        entry = entry_fields(
            message_id=as_text(message_id),
            stream=stream,
            group=settings.group,
            reason=reason,
            error=error,
            handler=handler,
            failed_at=datetime.now(UTC),
            original=dict(field_mapping(fields)),
        )
        # Moved in one MULTI/EXEC where the two streams share a slot: the entry is either
        # moved (dead letter written and source acknowledged) or left untouched, never
        # lost or duplicated by a crash in between (see _moves).
        try:
            await dead_letter(
                settings.redis,
                stream=stream,
                group=settings.group,
                message_id=message_id,
                dlq_stream=dlq_stream,
                dlq_maxlen=settings.dlq_maxlen,
                letter=entry,
            )
        except RedisError as exc:
            logger.warning("entry %s of %r left pending: %s", as_text(message_id), stream, exc)
            return False
        logger.warning(
            "entry %s of %r dead-lettered to %r (%s)",
            as_text(message_id),
            stream,
            dlq_stream,
            reason.value,
        )
        return False
