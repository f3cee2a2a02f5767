"""The manifest schema (``manifest_version: 1``) as pydantic models.

Validation is strict (no coercion: ``"12"`` is not an integer, ``1`` is not ``true``) and
every model forbids unknown keys. Cross-references (fk targets, consumer handles, unique
names) are checked by :class:`Manifest`. Errors raised by the validators carry the path
of the offending key below the model (:class:`LocatedError`), so a loader can point at
the exact line and column.

Reserved SQL words are rejected, not quoted: a table or column called ``order`` or
``user`` would need quoting in every migration, raw query and ``psql`` session forever,
and one forgotten quote is a syntax error in production. The message suggests an
alternative (``table 'order' is an SQL reserved word; use 'orders'``).
"""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation, localcontext
from typing import Annotated, Any, Literal, get_args

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from kitgen.manifest import _names as names
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

MAX_LENGTH_DEFAULT = 255
MAX_LENGTH_LIMIT = 10_485_760  # PostgreSQL's limit for varchar(n)
PRECISION_DEFAULT = 12
PRECISION_LIMIT = 1000
SCALE_DEFAULT = 2
_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)

# Options beyond nullable/unique/index/default, and the types they apply to.
_TYPE_OPTIONS: dict[str, tuple[str, ...]] = {
    "max_length": ("str",),
    "precision": ("decimal",),
    "scale": ("decimal",),
    "values": ("enum",),
    "to": ("fk",),
    "on_delete": ("fk",),
}
_SECTIONS = frozenset({"entities", "events", "consumers"})
_NO_DEFAULT_TYPES = frozenset({"date", "datetime", "uuid", "fk"})


class LocatedError(ValueError):
    """A validation error about ``path`` below the model being validated."""

    def __init__(self, path: tuple[str | int, ...], message: str, *, at_key: bool = False):
        super().__init__(message)
        self.path = path
        self.message = message
        self.at_key = at_key


def _one_of(allowed: tuple[str, ...], what: str) -> Any:
    def check(value: Any) -> Any:
        if value not in allowed:
            raise ValueError(f"unknown {what} {names.show(value)}; allowed: {', '.join(allowed)}")
        return value

    return BeforeValidator(check)


ClassName = Annotated[str, AfterValidator(names.check_class_name)]
EntityFieldName = Annotated[str, AfterValidator(names.check_entity_field_name)]
EventFieldName = Annotated[str, AfterValidator(names.check_event_field_name)]
EnumValue = Annotated[str, AfterValidator(names.check_enum_value)]
Identifier = Annotated[str, AfterValidator(lambda v: names.check_identifier(v, "cached lookup"))]
TableName = Annotated[str, AfterValidator(names.check_table)]
SchemaName = Annotated[str, AfterValidator(names.check_schema_name)]
ServiceName = Annotated[str, AfterValidator(lambda v: names.check_slug(v, "service"))]
GroupName = Annotated[str, AfterValidator(lambda v: names.check_slug(v, "group"))]
PackageName = Annotated[str, AfterValidator(names.check_package)]
StreamName = Annotated[str, AfterValidator(names.check_stream)]
Handle = Annotated[str, AfterValidator(names.check_handle)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _int_in(value: object, bounds: tuple[int, int], what: str) -> int:
    if not _is_int(value):
        raise ValueError(f"must be an integer for type '{what}', got {names.show(value)}")
    assert isinstance(value, int)
    low, high = bounds
    if not low <= value <= high:
        raise ValueError(f"{value} is out of range for type '{what}' ({low}..{high})")
    return value


def _json_value(value: object, depth: int = 0) -> Any:
    if depth > 20:
        raise ValueError("is nested too deeply")
    if value is None or isinstance(value, bool | str):
        return names.check_text(value, "default") if isinstance(value, str) else value
    if _is_int(value):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{names.show(value)} is not a finite number")
        return value
    if isinstance(value, list):
        return [_json_value(item, depth + 1) for item in value]
    if isinstance(value, dict):
        return {
            names.check_text(key, "default key"): _json_value(item, depth + 1)
            for key, item in value.items()
        }
    raise ValueError(f"{names.show(value)} is not a JSON value")


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
        for option, types in _TYPE_OPTIONS.items():
            if option in self.model_fields_set and self.type not in types:
                raise LocatedError(
                    (option,),
                    f"option not valid for type '{self.type}'; {option} applies to type "
                    + " and ".join(f"'{t}'" for t in types),
                    at_key=True,
                )
        self._check_ranges()
        if self.type == "enum" and not self.values:
            raise LocatedError(
                ("values",) if self.values is not None else (),
                "type 'enum' needs 'values': a non-empty list of lower-case identifiers",
            )
        if self.type == "fk" and self.to is None:
            raise LocatedError((), "type 'fk' needs 'to': the name of the entity it points at")
        if self.on_delete == "set null" and not self.nullable:
            raise LocatedError(
                ("on_delete",), "on_delete 'set null' needs 'nullable: true' on the field"
            )
        if self.has_default:
            try:
                self.python_default()
            except ValueError as exc:
                raise LocatedError(("default",), str(exc)) from None
        return self

    def _check_ranges(self) -> None:
        if self.max_length is not None and not 1 <= self.max_length <= MAX_LENGTH_LIMIT:
            raise LocatedError(
                ("max_length",),
                f"max_length must be between 1 and {MAX_LENGTH_LIMIT}, got {self.max_length}",
            )
        if self.precision is not None and not 1 <= self.precision <= PRECISION_LIMIT:
            raise LocatedError(
                ("precision",),
                f"precision must be between 1 and {PRECISION_LIMIT}, got {self.precision}",
            )
        precision = self.resolved_precision
        scale = self.resolved_scale
        if precision is not None and scale is not None and not 0 <= scale <= precision:
            raise LocatedError(
                ("scale",) if self.scale is not None else ("precision",),
                f"scale must be between 0 and precision ({precision}), got {scale}",
            )
        if self.values is not None:
            seen: set[str] = set()
            for index, value in enumerate(self.values):
                if value in seen:
                    raise LocatedError(("values", index), f"duplicate enum value '{value}'")
                seen.add(value)

    def python_default(self) -> Any:
        """The validated default as a Python value (``Decimal`` for decimal fields).

        ``None`` when the field has no default. Raises :class:`ValueError` when the default
        does not fit the field.
        """
        if not self.has_default:
            return None
        value = self.default
        if value is None:
            if not self.nullable:
                raise ValueError("null needs 'nullable: true'; or leave the default out")
            return None
        kind = self.type
        if kind in _NO_DEFAULT_TYPES:
            raise ValueError(f"type '{kind}' takes no default")
        if kind in ("str", "text", "enum"):
            if not isinstance(value, str):
                raise ValueError(f"must be a string for type '{kind}', got {names.show(value)}")
            names.check_text(value, "default")
            limit = self.resolved_max_length
            if limit is not None and len(value) > limit:
                raise ValueError(
                    f"{names.show(value)} is {len(value)} characters long; max_length is {limit}"
                )
            if kind == "enum" and value not in (self.values or []):
                raise ValueError(
                    f"{names.show(value)} is not one of the values: " + ", ".join(self.values or [])
                )
            return value
        if kind in ("int", "bigint"):
            return _int_in(value, _INT32 if kind == "int" else _INT64, kind)
        if kind == "float":
            return _float_default(value)
        if kind == "decimal":
            return self._decimal_default(value)
        if kind == "bool":
            if not isinstance(value, bool):
                raise ValueError(f"must be true or false for type 'bool', got {names.show(value)}")
            return value
        if kind in ("list[str]", "list[int]"):
            if not isinstance(value, list):
                raise ValueError(f"must be a list for type '{kind}', got {names.show(value)}")
            if kind == "list[str]":
                for item in value:
                    if not isinstance(item, str):
                        raise ValueError(f"items must be strings, got {names.show(item)}")
                    names.check_text(item, "default item")
                return list(value)
            return [_int_in(item, _INT32, "list[int]") for item in value]
        return _json_value(value)

    def _decimal_default(self, value: object) -> Decimal:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ValueError(
                f"must be a number or a numeric string for type 'decimal', got {names.show(value)}"
            )
        precision = self.resolved_precision or PRECISION_DEFAULT
        scale = self.resolved_scale or 0
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            raise ValueError(f"{names.show(value)} is not a decimal number") from None
        if not number.is_finite():
            raise ValueError(f"{names.show(value)} is not a finite number")
        with localcontext() as context:
            context.prec = PRECISION_LIMIT * 2 + 10
            exponent = number.as_tuple().exponent
            assert isinstance(exponent, int)
            digits_after = max(0, -exponent)
            if digits_after > scale and number != number.quantize(Decimal(1).scaleb(-scale)):
                raise ValueError(f"{names.show(value)} has more than {scale} decimal places")
            if abs(number) >= Decimal(10) ** (precision - scale):
                raise ValueError(f"{names.show(value)} does not fit numeric({precision}, {scale})")
        return number


def _float_default(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"must be a number for type 'float', got {names.show(value)}")
    try:
        number = float(value)
    except OverflowError:
        raise ValueError(f"{value} is too large for type 'float'") from None
    if not math.isfinite(number):
        raise ValueError(f"{names.show(value)} is not a finite number")
    return number


def _unique_field_names(owner: str, names_: list[str]) -> set[str]:
    """The set of field names; :class:`LocatedError` at the first repeated one."""
    seen: set[str] = set()
    for index, name in enumerate(names_):
        if name in seen:
            raise LocatedError(("fields", index, "name"), f"duplicate field '{name}' in '{owner}'")
        seen.add(name)
    return seen


class Repository(_Model):
    """Repository options of an entity (``cached``: names of cached lookups)."""

    cached: list[Identifier] = Field(default_factory=list)


class Entity(_Model):
    """A table and the code around it: model, schemas, repository, routes."""

    name: ClassName
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
        seen = _unique_field_names(self.name, [field.name for field in self.fields])
        for group_index, group in enumerate(self.unique_together):
            if len(group) < 2:
                raise LocatedError(
                    ("unique_together", group_index),
                    "a unique_together group names at least two fields "
                    "(for one field use 'unique: true')",
                )
            for index, name in enumerate(group):
                if name not in seen:
                    raise LocatedError(
                        ("unique_together", group_index, index),
                        f"unknown field {names.show(name)} in '{self.name}'; fields: "
                        + ", ".join(field.name for field in self.fields),
                    )
                if group.index(name) != index:
                    raise LocatedError(
                        ("unique_together", group_index, index), f"field '{name}' listed twice"
                    )
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
        _unique_field_names(self.name, [field.name for field in self.fields])
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
    entities: list[Entity] = Field(default_factory=list)
    events: list[Event] = Field(default_factory=list)
    consumers: list[Consumer] = Field(default_factory=list)

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
        if isinstance(data, dict):
            # An empty section (`events:` with nothing under it) is an empty list.
            data = {
                key: [] if value is None and key in _SECTIONS else value
                for key, value in data.items()
            }
        if isinstance(data, dict) and "manifest_version" in data:
            version = data["manifest_version"]
            if version != 1 or isinstance(version, bool):
                raise LocatedError(
                    ("manifest_version",),
                    f"unsupported manifest_version {names.show(version)}; "
                    "this kitgen reads manifest_version 1",
                )
        return data

    @model_validator(mode="after")
    def _check_references(self) -> Manifest:
        _check_unique_names(self)
        entity_names = [entity.name for entity in self.entities]
        for e_index, entity in enumerate(self.entities):
            for f_index, field in enumerate(entity.fields):
                if field.to is not None and field.to not in entity_names:
                    raise LocatedError(
                        ("entities", e_index, "fields", f_index, "to"),
                        f"unknown entity '{field.to}'; entities: "
                        + (", ".join(entity_names) or "(none)"),
                    )
        event_names = [event.name for event in self.events]
        for c_index, consumer in enumerate(self.consumers):
            for h_index, handle in enumerate(consumer.handles):
                if handle[:1].isupper() and handle not in event_names:
                    raise LocatedError(
                        ("consumers", c_index, "handles", h_index),
                        f"unknown event '{handle}'; declare it under 'events' or use a "
                        "routing-key glob such as 'order.*'; events: "
                        + (", ".join(event_names) or "(none)"),
                    )
                if consumer.handles.index(handle) != h_index:
                    raise LocatedError(
                        ("consumers", c_index, "handles", h_index), f"'{handle}' listed twice"
                    )
        return self


def _first_duplicate(keys: list[str]) -> tuple[int, int] | None:
    """(first index, duplicate index) of the first repeated key."""
    first: dict[str, int] = {}
    for index, key in enumerate(keys):
        if key in first:
            return first[key], index
        first[key] = index
    return None


def _check_unique_names(manifest: Manifest) -> None:
    entities, events = manifest.entities, manifest.events
    named: list[tuple[str, list[str], str, str]] = []
    # (section, keys, leaf, message template with {key} and {first})
    for section, noun, items in (("entities", "entity", entities), ("events", "event", events)):
        named.append(
            (
                section,
                [i.name for i in items],
                "name",
                f"duplicate {noun} '{{key}}' (also {section}[{{first}}])",
            )
        )
        named.append(
            (
                section,
                [i.module for i in items],
                "name",
                f"{noun} module '{{key}}' is also the module of {section}[{{first}}]; rename one",
            )
        )
    named.append(
        (
            "consumers",
            [c.group for c in manifest.consumers],
            "group",
            "duplicate group '{key}' (also consumers[{first}])",
        )
    )
    for section, keys, leaf, template in named:
        found = _first_duplicate(keys)
        if found is not None:
            first, index = found
            raise LocatedError(
                (section, index, leaf), template.format(key=keys[index], first=first)
            )
    tables = [f"{manifest.schema_of(e) or ''}.{e.table_name}" for e in entities]
    found = _first_duplicate(tables)
    if found is not None:
        first, index = found
        entity = entities[index]
        raise LocatedError(
            ("entities", index, "table" if entity.table is not None else "name"),
            f"table '{entity.table_name}' is also the table of entities[{first}] in schema "
            f"'{manifest.schema_of(entity) or 'default'}'; set a different 'table'",
        )
    entity_names = {entity.name for entity in entities}
    for index, event in enumerate(events):
        if event.name in entity_names:
            raise LocatedError(
                ("events", index, "name"),
                f"'{event.name}' is already an entity; entity and event names become Python "
                "classes and must all differ",
            )
