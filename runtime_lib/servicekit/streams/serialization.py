"""How an event is laid out in a stream entry, and how it is read back.

An entry has three fields: ``event_type`` (the routing key), ``schema_version`` and
``data`` (the event as compact JSON, written by pydantic-core and read by orjson). Reading
accepts both ``bytes`` and ``str`` fields, so it works whatever ``decode_responses`` the
client was created with.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import orjson
from pydantic import ValidationError

from servicekit._text import as_text
from servicekit.streams.errors import DeserializationError
from servicekit.streams.events import BaseEvent, GenericEvent
from servicekit.streams.registry import EventRegistry, event_registry

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

__all__ = [
    "FIELD_DATA",
    "FIELD_SCHEMA_VERSION",
    "FIELD_TYPE",
    "decode_entries",
    "decode_event",
    "decode_fields",
    "encode_event",
    "field_mapping",
]

FIELD_TYPE = "event_type"
FIELD_SCHEMA_VERSION = "schema_version"
FIELD_DATA = "data"
_TYPE_KEY = FIELD_TYPE.encode()
_DATA_KEY = FIELD_DATA.encode()
# How many items the flat field list of an entry written by EventEmitter has: type,
# schema version and data, each as a name and a value.
_EMITTED_LEN = 6

_ENVELOPE = frozenset(BaseEvent.model_fields)
_GENERIC_ONLY = {"raw_type", "data", "raw_schema_version"}


def encode_event(event: BaseEvent) -> tuple[str, int, bytes]:
    """``(event_type, schema_version, data)`` for one event."""
    if isinstance(event, GenericEvent):
        # Write the payload back flat, as its original producer did.
        envelope = event.model_dump(mode="json", exclude=_GENERIC_ONLY)
        return event.raw_type, event.raw_schema_version, orjson.dumps({**event.data, **envelope})
    # The compiled pydantic-core serializer: no intermediate dict, one bytes object.
    return event.event_type, event.schema_version, event.__pydantic_serializer__.to_json(event)


def _field(fields: Mapping[Any, Any], name: str) -> Any:
    value = fields.get(name)
    return fields.get(name.encode()) if value is None else value


def decode_event(fields: Mapping[Any, Any], registry: EventRegistry = event_registry) -> BaseEvent:
    """Rebuild the event stored in a stream entry's fields.

    Raises :class:`DeserializationError` when the entry is not an event or does not
    validate against its class.
    """
    # redis-py gives bytes keys unless the client decodes responses; try those first.
    raw_type = fields.get(_TYPE_KEY)
    if raw_type is not None:
        raw = fields.get(_DATA_KEY)
        validate = registry.json_validator(raw_type)
        if validate is not None and raw is not None:
            # The common case: pydantic-core parses and validates the JSON in one pass.
            try:
                return validate(raw)
            except ValidationError as exc:
                raise DeserializationError(f"{raw_type.decode()}: {exc}") from exc
        cls = registry.get_raw(raw_type)
        event_type = raw_type.decode()
    else:
        raw_type, raw = fields.get(FIELD_TYPE), fields.get(FIELD_DATA)
        event_type = None if raw_type is None else as_text(raw_type)
        cls = None if event_type is None else registry.get(event_type)
    if event_type is None or raw is None:
        raise DeserializationError("entry has no event_type or data field")
    try:
        version = int(_field(fields, FIELD_SCHEMA_VERSION) or 1)
        payload = orjson.loads(raw)
    except (ValueError, TypeError) as exc:
        raise DeserializationError(f"{event_type}: unreadable entry: {exc}") from exc
    if not isinstance(payload, dict):
        raise DeserializationError(f"{event_type}: data is not a JSON object")
    try:
        if cls is None:
            envelope = {key: payload.pop(key) for key in _ENVELOPE & payload.keys()}
            return GenericEvent(
                raw_type=event_type, data=payload, raw_schema_version=version, **envelope
            )
        # The migration contract: a "before" validator may read (and pop) these two keys;
        # models without one ignore them like any unknown field.
        payload["_schema_version"] = version
        payload["_timestamp"] = payload.get("timestamp")
        return cls.model_validate(payload)
    except ValidationError as exc:
        raise DeserializationError(f"{event_type}: {exc}") from exc


def field_mapping(fields: Mapping[Any, Any] | Sequence[Any]) -> Mapping[Any, Any]:
    """An entry's fields as a mapping, given a mapping or the flat ``[name, value, ...]``
    list of a raw reply."""
    if isinstance(fields, Mapping):
        return fields
    pairs = iter(fields)
    return dict(zip(pairs, pairs, strict=False))


def decode_fields(
    fields: Mapping[Any, Any] | Sequence[Any], registry: EventRegistry = event_registry
) -> BaseEvent:
    """:func:`decode_event` for fields given as a mapping or a raw flat list."""
    result = decode_entries(((None, fields),), registry)[0]
    if isinstance(result, DeserializationError):
        raise result
    return result


def decode_entries(
    entries: Iterable[Sequence[Any]], registry: EventRegistry = event_registry
) -> list[BaseEvent | DeserializationError]:
    """Decode the ``(id, fields)`` entries of a read: each event, or why it is broken.

    ``fields`` is a mapping or the flat list of a raw reply. This is the consumer's hot
    path, so the layout EventEmitter writes (a flat list of exactly its three fields) is
    validated here without building a dict per entry or calling a function per entry;
    anything else goes through :func:`decode_event`.
    """
    # Validators looked up once per type and read; the registry's own cache is keyed
    # the same way but costs a method call per entry.
    validators: dict[bytes, Callable[[bytes], BaseEvent] | None] = {}
    decoded: list[BaseEvent | DeserializationError] = []
    append = decoded.append
    for _, fields in entries:
        if (
            type(fields) is list
            and len(fields) == _EMITTED_LEN
            and fields[0] == _TYPE_KEY
            and fields[4] == _DATA_KEY
        ):
            raw_type = fields[1]
            try:
                validate = validators[raw_type]
            except KeyError:
                validate = validators[raw_type] = registry.json_validator(raw_type)
            if validate is not None:
                try:
                    append(validate(fields[5]))
                except ValidationError as exc:
                    error = DeserializationError(f"{raw_type.decode()}: {exc}")
                    error.__cause__ = exc
                    append(error)
                continue
        try:
            append(decode_event(field_mapping(fields), registry))
        except DeserializationError as exc:
            append(exc)
    return decoded
