"""The manifest schema (``manifest_version: 1``) as pydantic models.

Validation is strict (no coercion: ``"12"`` is not an integer, ``1`` is not ``true``) and
every model forbids unknown keys. The models hold the shape; the rules they apply live
beside them: names in :mod:`._names`, a field's options in :mod:`._options`, its default
in :mod:`._defaults`, and checks across items (unique names, fk targets, consumer handles)
in :mod:`._references`. Errors raised by the validators carry the path of the offending
key below the model (:class:`LocatedError`), so a loader can point at the exact line and
column.

Reserved SQL words are rejected, not quoted: a table or column called ``order`` or
``user`` would need quoting in every migration, raw query and ``psql`` session forever,
and one forgotten quote is a syntax error in production. The message suggests an
alternative (``table 'order' is an SQL reserved word; use 'orders'``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from kitgen.manifest import _defaults, _references
from kitgen.manifest import _names as names
from kitgen.manifest._options import (
    MAX_LENGTH_DEFAULT,
    PRECISION_DEFAULT,
    SCALE_DEFAULT,
    check_options,
)
from kitgen.manifest._references import LocatedError
from kitgen.manifest.naming import snake_case, table_of

__all__ = [
    "EVENT_FIELD_TYPES",
    "FIELD_TYPES",
    "ON_DELETE",
    "Consumer",
    "Database",
    "Entity",
    "EntityField",
    "Event",
    "EventField",
    "EventFieldType",
    "FieldType",
    "LocatedError",
    "Manifest",
    "OnDelete",
    "Repository",
]

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

FIELD_TYPES: tuple[str, ...] = get_args(FieldType)
EVENT_FIELD_TYPES: tuple[str, ...] = get_args(EventFieldType)
ON_DELETE: tuple[str, ...] = get_args(OnDelete)

# An empty section (`events:` with nothing under it) is an empty list.
_NULL_IS_EMPTY = BeforeValidator(lambda value: [] if value is None else value)


def _one_of(allowed: tuple[str, ...], what: str) -> Any:
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


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class EntityField(_Model):
    """One column of an entity."""

    name: EntityFieldName
    type: Annotated[FieldType, _one_of(FIELD_TYPES, "type")]
    nullable: bool = False
    unique: bool = False
    index: bool = False
    default: Any = None
    max_length: int | None = None
    precision: int | None = None
    scale: int | None = None
    values: list[EnumValue] | None = None
    to: ClassName | None = None
    on_delete: Annotated[OnDelete, _one_of(ON_DELETE, "on_delete")] | None = None

    @property
    def has_default(self) -> bool:
        return "default" in self.model_fields_set

    @property
    def resolved_max_length(self) -> int | None:
        if self.type != "str":
            return None
        return MAX_LENGTH_DEFAULT if self.max_length is None else self.max_length

    @property
    def resolved_precision(self) -> int | None:
        if self.type != "decimal":
            return None
        return PRECISION_DEFAULT if self.precision is None else self.precision

    @property
    def resolved_scale(self) -> int | None:
        if self.type != "decimal":
            return None
        return SCALE_DEFAULT if self.scale is None else self.scale

    @model_validator(mode="after")
    def _check_options(self) -> EntityField:
        check_options(self)
        return self

    def python_default(self) -> Any:
        """The validated default as a Python value (``Decimal`` for decimal fields).

        ``None`` when the field has no default. Raises :class:`ValueError` when the default
        does not fit the field (see :mod:`kitgen.manifest._defaults`).
        """
        return _defaults.python_default(self)


class Repository(_Model):
    """Repository options of an entity (``cached``: names of cached lookups)."""

    cached: list[Identifier] = Field(default_factory=list)


class Entity(_Model):
    """A table and the code around it: model, schemas, repository, routes."""

    name: EntityName
    table: TableName | None = None
    schema_: SchemaName | None = Field(default=None, alias="schema")
    primary_key: Annotated[PrimaryKey, _one_of(get_args(PrimaryKey), "primary_key")] = "int"
    fields: list[EntityField] = Field(min_length=1)
    unique_together: list[list[str]] = Field(default_factory=list)
    repository: Repository | None = None

    @property
    def module(self) -> str:
        return snake_case(self.name)

    @property
    def table_name(self) -> str:
        return self.table if self.table is not None else table_of(self.name)

    def field(self, name: str) -> EntityField | None:
        return next((field for field in self.fields if field.name == name), None)

    @model_validator(mode="after")
    def _check_entity(self) -> Entity:
        if self.table is None:
            try:
                names.check_table(self.table_name)
            except ValueError as exc:
                raise LocatedError(
                    ("name",), f"derived {exc}; set 'table' to another name"
                ) from None
        _references.check_entity(self)
        return self


class EventField(_Model):
    """One field of an event payload."""

    name: EventFieldName
    type: Annotated[EventFieldType, _one_of(EVENT_FIELD_TYPES, "type")]
    nullable: bool = False


class Event(_Model):
    """An event the service emits on its stream."""

    name: ClassName
    fields: list[EventField] = Field(default_factory=list)
    schema_version: int = Field(default=1, ge=1)

    @property
    def module(self) -> str:
        return snake_case(self.name)

    @model_validator(mode="after")
    def _check_event(self) -> Event:
        _references.check_event(self)
        return self


class Consumer(_Model):
    """A consumer group reading a stream and the events it handles."""

    group: GroupName
    stream: StreamName | None = None
    handles: list[Handle] = Field(min_length=1)


class Database(_Model):
    """Database settings: default schema for tables and sync/async code."""

    schema_: SchemaName | None = Field(default=None, alias="schema")
    async_: bool = Field(default=True, alias="async")


class Manifest(_Model):
    """A validated ``service.yaml``."""

    manifest_version: int
    service: ServiceName
    package: PackageName
    database: Database = Field(default_factory=Database)
    entities: Annotated[list[Entity], _NULL_IS_EMPTY] = Field(default_factory=list)
    events: Annotated[list[Event], _NULL_IS_EMPTY] = Field(default_factory=list)
    consumers: Annotated[list[Consumer], _NULL_IS_EMPTY] = Field(default_factory=list)

    @property
    def is_async(self) -> bool:
        return self.database.async_

    @property
    def default_stream(self) -> str:
        return f"{self.service}:events"

    def entity(self, name: str) -> Entity | None:
        return next((entity for entity in self.entities if entity.name == name), None)

    def event(self, name: str) -> Event | None:
        return next((event for event in self.events if event.name == name), None)

    def schema_of(self, entity: Entity) -> str | None:
        return entity.schema_ if entity.schema_ is not None else self.database.schema_

    def stream_of(self, consumer: Consumer) -> str:
        return consumer.stream if consumer.stream is not None else self.default_stream

    def to_answers(self) -> dict[str, Any]:
        """The manifest as Copier answers: see :mod:`kitgen.manifest.answers`."""
        from kitgen.manifest.answers import to_answers

        return to_answers(self)

    @model_validator(mode="before")
    @classmethod
    def _check_version(cls, data: Any) -> Any:
        if isinstance(data, dict) and "manifest_version" in data:
            version = data["manifest_version"]
            if isinstance(version, str) and version.strip() == "1":
                raise LocatedError(
                    ("manifest_version",),
                    f"manifest_version is the string {names.show(version)}; write the number 1 "
                    "(without quotes)",
                )
            if version != 1 or isinstance(version, bool):
                raise LocatedError(
                    ("manifest_version",),
                    f"unsupported manifest_version {names.show(version)}; "
                    "this kitgen reads manifest_version 1",
                )
        return data

    @model_validator(mode="after")
    def _check_references(self) -> Manifest:
        _references.check_manifest(self)
        return self
