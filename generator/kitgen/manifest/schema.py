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

from typing import Annotated, Any, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

from kitgen.manifest import (
    _consumer_settings,
    _defaults,
    _endpoints,
    _references,
    _repository_code,
)
from kitgen.manifest import _names as names
from kitgen.manifest._options import (
    MAX_LENGTH_DEFAULT,
    PRECISION_DEFAULT,
    SCALE_DEFAULT,
    check_options,
)
from kitgen.manifest._references import LocatedError
from kitgen.manifest._types import (
    EVENT_FIELD_TYPES,
    FIELD_TYPES,
    NULL_IS_EMPTY,
    ON_DELETE,
    BackoffKind,
    ClassName,
    DeadLetters,
    DeleteMode,
    EntityEventKind,
    EntityFieldName,
    EntityName,
    EnumValue,
    EventFieldName,
    EventFieldType,
    FieldType,
    GroupName,
    Handle,
    Identifier,
    OnDelete,
    PackageName,
    PrimaryKey,
    SchemaName,
    ServiceName,
    StartPosition,
    StreamName,
    TableName,
    one_of,
)
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


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class EntityField(_Model):
    """One column of an entity."""

    name: EntityFieldName
    type: Annotated[FieldType, one_of(FIELD_TYPES, "type")]
    nullable: bool = False
    unique: bool = False
    index: bool = False
    default: Any = None
    max_length: int | None = None
    precision: int | None = None
    scale: int | None = None
    values: list[EnumValue] | None = None
    to: ClassName | None = None
    on_delete: Annotated[OnDelete, one_of(ON_DELETE, "on_delete")] | None = None

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
    """Repository options of an entity: cached lookups (``by_<field>``) and their TTL."""

    cached: list[Identifier] = Field(default_factory=list)
    ttl: int | None = Field(default=None, ge=1, le=2_592_000)  # seconds; None: CACHE_TTL


class Entity(_Model):
    """A table and the code around it: model, schemas, repository, routes."""

    name: EntityName
    table: TableName | None = None
    schema_: SchemaName | None = Field(default=None, alias="schema")
    primary_key: Annotated[PrimaryKey, one_of(get_args(PrimaryKey), "primary_key")] = "int"
    fields: list[EntityField] = Field(default_factory=list)  # none: id and timestamps only
    unique_together: list[list[str]] = Field(default_factory=list)
    repository: Repository | None = None
    delete: Annotated[DeleteMode, one_of(get_args(DeleteMode), "delete")] = "none"
    versioned: bool = False  # a version column: PATCH and DELETE name the version read
    endpoints: list[str] | None = None  # None: every route the entity can have
    # announced by the write paths through the transactional outbox
    events: list[Annotated[EntityEventKind, one_of(get_args(EntityEventKind), "event")]] = Field(
        default_factory=list
    )

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
        _endpoints.check_endpoints(self)
        return self


class EventField(_Model):
    """One field of an event payload."""

    name: EventFieldName
    type: Annotated[EventFieldType, one_of(EVENT_FIELD_TYPES, "type")]
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


class ConsumerBackoff(_Model):
    """The wait before each quick retry of a failed handler (seconds)."""

    kind: Annotated[BackoffKind, one_of(get_args(BackoffKind), "kind")] = "exponential"
    initial: float = Field(default=1.0, gt=0, le=3600)  # the first (constant: every) wait
    max: float = Field(default=60.0, gt=0, le=3600)  # the longest wait

    @model_validator(mode="after")
    def _check_backoff(self) -> ConsumerBackoff:
        _consumer_settings.check_backoff(self)
        return self


class Consumer(_Model):
    """A consumer group reading a stream, the events it handles and how it delivers them.

    The delivery settings default to the stream router's defaults, except dead letters,
    which are on (``{<stream>}:dead``): without them a poison message stays pending forever.
    """

    group: GroupName
    stream: StreamName | None = None
    handles: list[Handle] = Field(min_length=1)
    dead_letters: DeadLetters = True
    max_deliveries: int = Field(default=5, ge=1, le=1000)
    retries: int = Field(default=0, ge=0, le=100)
    backoff: ConsumerBackoff | None = None
    timeout: float = Field(default=30.0, gt=0, le=86400)
    claim_min_idle_ms: int = Field(default=60_000, ge=100, le=86_400_000)
    start: Annotated[StartPosition, one_of(get_args(StartPosition), "start")] = "beginning"
    # seconds each handler remembers an event id it handled, skipping redeliveries; None: off
    dedupe: float | None = Field(default=None, gt=0, le=2_592_000)


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
    entities: Annotated[list[Entity], NULL_IS_EMPTY] = Field(default_factory=list)
    events: Annotated[list[Event], NULL_IS_EMPTY] = Field(default_factory=list)
    consumers: Annotated[list[Consumer], NULL_IS_EMPTY] = Field(default_factory=list)

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
        _consumer_settings.check_consumers(self)
        _repository_code.check_lookups(self)
        return self
