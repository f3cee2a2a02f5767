"""Staging an event in the outbox, in the caller's transaction."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

from servicekit.outbox.mixin import OutboxMixin
from servicekit.streams.correlation import stamp
from servicekit.streams.serialization import encode_event

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession
    from sqlalchemy.orm import Session

    from servicekit.streams.events import BaseEvent

__all__ = ["stage_event"]

MessageT = TypeVar("MessageT", bound=OutboxMixin)


def stage_event(
    session: Session | AsyncSession,
    model: type[MessageT],
    event: BaseEvent,
    *,
    stream: str,
    caused_by: BaseEvent | None = None,
) -> MessageT:
    """Add ``event`` to the outbox ``model`` in ``session``; return the new row.

    The row is only added to the session (no I/O, no Redis): it is written with the
    session's next flush and commits or rolls back with everything else in the
    transaction. :class:`~servicekit.outbox.OutboxRelay` later appends it to ``stream``.
    Correlation and causation ids are filled in now, as
    :meth:`~servicekit.streams.EventEmitter.emit` would (``caused_by``, else the current
    :func:`~servicekit.streams.correlation_scope` or handled event), and the event is
    encoded now, so the stored fields are the very bytes the emitter would send.
    """
    event_type, schema_version, data = encode_event(stamp(event, caused_by))
    message = model()
    message.stream = stream
    message.event_type = event_type
    message.schema_version = schema_version
    message.data = data
    session.add(message)
    return message
