"""Dead letters: messages the router gave up on, kept in a stream for inspection.

Each dead letter records where the message came from, why it was given up, the error and
handler involved, and the original fields, so it can be examined and :func:`replay`-ed
once the cause is fixed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import orjson

from servicekit._text import as_text
from servicekit.streams._moves import put_back
from servicekit.streams.serialization import FIELD_DATA, FIELD_SCHEMA_VERSION, FIELD_TYPE

if TYPE_CHECKING:
    from servicekit.redis_clients import RedisClient

__all__ = ["DeadLetter", "DeadLetterReason", "read_dead_letters", "replay"]


class DeadLetterReason(StrEnum):
    MAX_DELIVERIES_EXCEEDED = "max_deliveries_exceeded"
    DESERIALIZATION_FAILED = "deserialization_failed"
    NON_RETRYABLE_ERROR = "non_retryable_error"


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One entry of a dead-letter stream (``dlq_stream``)."""

    dlq_stream: str
    id: str
    original_msg_id: str
    original_stream: str
    original_group: str
    reason: DeadLetterReason
    error: str
    handler: str
    failed_at: datetime
    event_type: str
    schema_version: str
    data: str

    @classmethod
    def from_entry(cls, dlq_stream: str, message_id: Any, fields: dict[Any, Any]) -> DeadLetter:
        text = {as_text(key): as_text(value) for key, value in fields.items()}
        return cls(
            dlq_stream=dlq_stream,
            id=as_text(message_id),
            original_msg_id=text["original_msg_id"],
            original_stream=text["original_stream"],
            original_group=text["original_group"],
            reason=DeadLetterReason(text["reason"]),
            error=text.get("error", ""),
            handler=text.get("handler", ""),
            failed_at=datetime.fromisoformat(text["failed_at"]),
            event_type=text.get("event_type", ""),
            schema_version=text.get("schema_version", ""),
            data=text.get("data", ""),
        )


async def read_dead_letters(
    redis: RedisClient, stream: str, *, count: int = 100, start: str = "-"
) -> list[DeadLetter]:
    """The oldest ``count`` dead letters from ``start`` (an entry id, inclusive)."""
    entries: Any = await redis.xrange(stream, min=start, count=count)
    return [DeadLetter.from_entry(stream, message_id, fields) for message_id, fields in entries]


async def replay(
    redis: RedisClient, letter: DeadLetter, *, stream: str | None = None, delete: bool = True
) -> str:
    """Append the original message again (to ``stream`` or where it came from).

    With ``delete``, the dead letter is removed in the same transaction, so it is neither
    lost nor replayed twice (on a Redis Cluster: when the two streams share a slot, as
    :func:`~servicekit.streams.keys.dead_letter_stream` names them; else it is removed
    right after, and a crash in between replays it twice). Returns the new message id.
    """
    return await put_back(
        redis,
        stream=stream or letter.original_stream,
        entry={
            FIELD_TYPE: letter.event_type,
            FIELD_SCHEMA_VERSION: letter.schema_version or "1",
            FIELD_DATA: letter.data,
        },
        dlq_stream=letter.dlq_stream,
        letter_id=letter.id if delete else None,
    )


def entry_fields(
    *,
    message_id: str,
    stream: str,
    group: str,
    reason: DeadLetterReason,
    error: str,
    handler: str,
    failed_at: datetime,
    original: dict[Any, Any],
) -> dict[str, str | bytes]:
    """The fields of the dead letter for a message whose fields were ``original``.

    A message that is not one of our events (written by some other producer) keeps all of
    its fields, as a JSON object under ``data``.
    """
    text = {as_text(key): value for key, value in original.items()}
    data = text.get(FIELD_DATA)
    if data is None or FIELD_TYPE not in text:
        data = orjson.dumps({key: as_text(value) for key, value in text.items()})
    return {
        "original_msg_id": message_id,
        "original_stream": stream,
        "original_group": group,
        "reason": reason.value,
        "error": error,
        "handler": handler,
        "failed_at": failed_at.isoformat(),
        "event_type": as_text(text.get(FIELD_TYPE, "")),
        "schema_version": as_text(text.get(FIELD_SCHEMA_VERSION, "")),
        "data": data,
    }
