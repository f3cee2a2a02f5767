"""The types of the manifest models' keys: choices, and names checked by :mod:`._names`."""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import AfterValidator, BeforeValidator

from kitgen.manifest import _names as names

EventFieldType = Literal[
    "str",
    "int",
    "float",
    "decimal",
    "bool",
    "date",
    "datetime",
    "uuid",
    "json",
    "list[str]",
    "list[int]",
]
FieldType = Literal[EventFieldType, "text", "bigint", "enum", "fk"]
OnDelete = Literal["cascade", "restrict", "set null", "no action"]
PrimaryKey = Literal["int", "uuid"]
# What DELETE /{id} does: no route (the default), mark the row deleted, or remove it.
DeleteMode = Literal["none", "soft", "hard"]
# What an entity announces on the service stream, through the outbox.
EntityEventKind = Literal["created", "updated", "deleted"]

FIELD_TYPES: tuple[str, ...] = get_args(FieldType)
EVENT_FIELD_TYPES: tuple[str, ...] = get_args(EventFieldType)
ON_DELETE: tuple[str, ...] = get_args(OnDelete)

# An empty section (`events:` with nothing under it) is an empty list.
NULL_IS_EMPTY = BeforeValidator(lambda value: [] if value is None else value)


def one_of(allowed: tuple[str, ...], what: str) -> Any:
    def check(value: Any) -> Any:
        if value not in allowed:
            raise ValueError(f"unknown {what} {names.show(value)}; allowed: {', '.join(allowed)}")
        return value

    return BeforeValidator(check)


ClassName = Annotated[str, AfterValidator(names.check_class_name)]
EntityName = Annotated[str, AfterValidator(names.check_entity_name)]
EntityFieldName = Annotated[str, AfterValidator(names.check_entity_field_name)]
EventFieldName = Annotated[str, AfterValidator(names.check_event_field_name)]
EnumValue = Annotated[str, AfterValidator(names.check_enum_value)]
Identifier = Annotated[str, AfterValidator(lambda v: names.check_identifier(v, "cached lookup"))]
TableName = Annotated[str, AfterValidator(names.check_table)]
SchemaName = Annotated[str, AfterValidator(names.check_schema_name)]
ServiceName = Annotated[str, AfterValidator(lambda v: names.check_slug(v, "service"))]
GroupName = Annotated[str, AfterValidator(names.check_group)]
PackageName = Annotated[str, AfterValidator(names.check_package)]
StreamName = Annotated[str, AfterValidator(names.check_stream)]
Handle = Annotated[str, AfterValidator(names.check_handle)]

BackoffKind = Literal["exponential", "linear", "constant"]
StartPosition = Literal["beginning", "latest"]


def _dead_letters(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("off", "no", "false", "none", "null"):
        raise ValueError(
            f"{names.show(value)} would name a dead-letter stream; write false (no quotes) "
            "to turn dead letters off"
        )
    if isinstance(value, str):
        return names.check_stream(value)
    raise ValueError(f"expected true, false or a stream name, got {names.show(value)}")


# true: ``{<stream>}:dead``; false: none; else the stream to dead-letter to.
DeadLetters = Annotated[bool | str, BeforeValidator(_dead_letters)]
