"""Events: naming, envelope, registry, serialisation and schema migration."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, ClassVar

import pytest
import redis.asyncio
from pydantic import ValidationError, model_validator

from servicekit.streams import (
    BaseEvent,
    DeserializationError,
    EventEmitter,
    EventRouter,
    GenericEvent,
    event_registry,
    event_type_for,
)
from servicekit.streams.serialization import decode_event, encode_event

from .conftest import Names, running, wait_for


class UserCreated(BaseEvent):
    user_id: str
    email: str


class S3ObjectUploaded(BaseEvent):
    key: str


class SkEvCustomNamed(BaseEvent):
    event_type: ClassVar[str] = "custom.named"


@pytest.mark.parametrize(
    ("class_name", "expected"),
    [
        ("UserCreated", "user.created"),
        ("S3ObjectUploaded", "s3_object.uploaded"),
        ("OrderLineItemAdded", "order_line_item.added"),
        ("HTTPRequestSent", "http_request.sent"),
        ("Ping", "ping"),
    ],
)
def test_event_type_is_derived_from_the_class_name(class_name: str, expected: str) -> None:
    assert event_type_for(class_name) == expected


def test_classes_carry_and_register_their_type() -> None:
    assert UserCreated.event_type == "user.created"
    assert S3ObjectUploaded(key="k").event_type == "s3_object.uploaded"
    assert SkEvCustomNamed.event_type == "custom.named"
    assert event_registry.get("user.created") is UserCreated
    assert event_registry.get("custom.named") is SkEvCustomNamed
    # GenericEvent never claims a type name.
    assert "generic.event" not in event_registry


def test_envelope_defaults_and_immutability() -> None:
    event = UserCreated(user_id="u1", email="a@b.c", unknown_field="ignored")  # type: ignore[call-arg]
    assert isinstance(event.id, uuid.UUID)
    assert event.timestamp.tzinfo is not None
    assert event.timestamp.utcoffset() == timedelta(0)
    assert event.correlation_id is None and event.causation_id is None
    assert event.metadata == {}
    assert not hasattr(event, "unknown_field")
    with pytest.raises(ValidationError):
        event.email = "x@y.z"


def test_timestamps_are_normalised_to_utc() -> None:
    naive = UserCreated(user_id="u", email="e", timestamp=datetime(2024, 1, 1, 12, 0))
    assert naive.timestamp == datetime(2024, 1, 1, 12, 0, tzinfo=UTC)
    local = UserCreated(
        user_id="u",
        email="e",
        timestamp=datetime(2024, 1, 1, 14, 0, tzinfo=timezone(timedelta(hours=2))),
    )
    assert local.timestamp == datetime(2024, 1, 1, 12, 0, tzinfo=UTC)
    assert local.timestamp.utcoffset() == timedelta(0)


def test_round_trip_through_the_stream_format() -> None:
    event = UserCreated(user_id="u1", email="a@b.c", correlation_id="c-1", metadata={"k": 1})
    event_type, version, data = encode_event(event)
    fields = {
        b"event_type": event_type.encode(),
        b"schema_version": str(version).encode(),
        b"data": data,
    }
    assert decode_event(fields) == event
    # Clients created with decode_responses=True hand over str fields.
    text_fields = {"event_type": event_type, "schema_version": str(version), "data": data.decode()}
    assert decode_event(text_fields) == event


def test_unknown_types_become_generic_events_and_round_trip() -> None:
    event_id = str(uuid.uuid4())
    fields = {
        b"event_type": b"nobody.registered",
        b"schema_version": b"3",
        b"data": f'{{"id": "{event_id}", "timestamp": "2024-01-01T00:00:00Z", "a": 1}}'.encode(),
    }
    event = decode_event(fields)
    assert isinstance(event, GenericEvent)
    assert event.raw_type == "nobody.registered"
    assert event.routing_key == "nobody.registered"
    assert event.data == {"a": 1}
    assert event.raw_schema_version == 3
    assert str(event.id) == event_id
    # Re-emitting a GenericEvent writes it back as it was.
    event_type, version, data = encode_event(event)
    assert (event_type, version) == ("nobody.registered", 3)
    again = decode_event(
        {b"event_type": event_type.encode(), b"schema_version": b"3", b"data": data}
    )
    assert again == event


@pytest.mark.parametrize(
    "fields",
    [
        {b"data": b"{}"},  # no type
        {b"event_type": b"user.created"},  # no data
        {b"event_type": b"user.created", b"data": b"not json"},
        {b"event_type": b"user.created", b"data": b"[1, 2]"},
        {b"event_type": b"user.created", b"data": b'{"user_id": "u"}'},  # email missing
        {b"event_type": b"nobody.registered", b"data": b"[]"},
    ],
)
def test_broken_entries_raise_deserialization_errors(fields: dict[bytes, bytes]) -> None:
    with pytest.raises(DeserializationError):
        decode_event(fields)


# -- schema versions -------------------------------------------------------------------


class SkEvAccountOpened(BaseEvent):
    """Version 2 added ``opened_at``; version 1 payloads are migrated on read."""

    schema_version: ClassVar[int] = 2

    account_id: str
    opened_at: datetime

    @model_validator(mode="before")
    @classmethod
    def _migrate(cls, data: Any) -> Any:
        version = data.pop("_schema_version", cls.schema_version)
        timestamp = data.pop("_timestamp", None)
        if version < 2:
            data["opened_at"] = timestamp
        return data


async def test_old_payload_is_migrated_on_read(
    redis_client: redis.asyncio.Redis, names: Names
) -> None:
    stream = names("events")
    # What a producer still on version 1 wrote: no opened_at, schema_version 1.
    await redis_client.xadd(
        stream,
        {
            "event_type": "sk_ev_account.opened",
            "schema_version": "1",
            "data": '{"id": "8c5a4f8e-7f57-4a40-9d7c-3c1f3f0b2f11", '
            '"timestamp": "2024-05-01T10:00:00Z", "account_id": "acc-1"}',
        },
    )
    # And a current producer.
    current = SkEvAccountOpened(account_id="acc-2", opened_at=datetime(2025, 1, 1, tzinfo=UTC))
    await EventEmitter(redis_client, stream=stream).emit(current)

    received: list[SkEvAccountOpened] = []
    router = EventRouter(redis_client, stream=stream, group=names("group"), block_ms=50)

    @router.on(SkEvAccountOpened)
    async def handle(event: SkEvAccountOpened) -> None:
        received.append(event)

    async with running(router):
        await wait_for(lambda: len(received) == 2)
    old, new = received
    assert old.account_id == "acc-1"
    assert old.opened_at == datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
    assert new == current
