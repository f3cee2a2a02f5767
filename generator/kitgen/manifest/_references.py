"""Checks across items: names that must differ, and names that must point at something.

Every repeat is found by :func:`unique`; its message is a template (``{key}``, the repeated
key; ``{first}``, the index of its first occurrence). Problems are :class:`LocatedError`
with the path of the offending key below the model being validated, so a loader can
point at the exact line and column.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import TYPE_CHECKING, NamedTuple, TypeVar

from kitgen.manifest._names import show
from kitgen.manifest._reserved import CLASS_NAMES_TAKEN, DEFAULT_SCHEMA, ENTITY_CLASS_SUFFIXES
from kitgen.manifest._yaml import KeyPath
from kitgen.manifest.naming import entity_event_name, enum_class, is_event_name

if TYPE_CHECKING:
    from kitgen.manifest.schema import Consumer, Entity, Event, Manifest

__all__ = ["LocatedError", "check_entity", "check_event", "check_manifest", "unique"]

K = TypeVar("K", bound=Hashable)


class LocatedError(ValueError):
    """A validation error about ``path`` below the model being validated."""

    def __init__(self, path: KeyPath, message: str, *, at_key: bool = False):
        super().__init__(message)
        self.path = path
        self.message = message
        self.at_key = at_key


def unique(
    keys: Sequence[K],
    path: Callable[[int], KeyPath],
    message: str,
    *,
    each: Callable[[int, K], None] | None = None,
) -> None:
    """:class:`LocatedError` at ``path(index)`` of the first key equal to an earlier one.

    ``each(index, key)``, when given, checks every key before it is compared, so a problem
    with a key (an unknown name, say) is reported before a repeat further down the list.
    """
    first: dict[K, int] = {}
    for index, key in enumerate(keys):
        if each is not None:
            each(index, key)
        if key in first:
            raise LocatedError(path(index), message.format(key=key, first=first[key]))
        first[key] = index


def _field_path(index: int) -> KeyPath:
    return ("fields", index, "name")


def check_event(event: Event) -> None:
    """The fields of an event have different names."""
    unique(
        [field.name for field in event.fields],
        _field_path,
        f"duplicate field '{{key}}' in '{event.name}'",
    )


def check_entity(entity: Entity) -> None:
    """Different field names; unique_together groups of two or more known fields, once each."""
    names = [field.name for field in entity.fields]
    unique(names, _field_path, f"duplicate field '{{key}}' in '{entity.name}'")
    for group_index, group in enumerate(entity.unique_together):
        _check_group(entity, group_index, group, set(names))


def _check_group(entity: Entity, group_index: int, group: list[str], known: set[str]) -> None:
    def path(index: int) -> KeyPath:
        return ("unique_together", group_index, index)

    def check_known(index: int, name: str) -> None:
        if name not in known:
            raise LocatedError(
                path(index),
                f"unknown field {show(name)} in '{entity.name}'; fields: "
                + ", ".join(field.name for field in entity.fields),
            )

    if len(group) < 2:
        raise LocatedError(
            ("unique_together", group_index),
            "a unique_together group names at least two fields (for one field use 'unique: true')",
        )
    unique(group, path, "field '{key}' listed twice", each=check_known)


class _Table(NamedTuple):
    """Where an entity's rows are: no two entities may share one."""

    schema: str
    name: str


def check_manifest(manifest: Manifest) -> None:
    """Names that differ across the manifest; fk targets and handled events that exist."""
    _unique_names("entities", "entity", manifest.entities)
    _unique_names("events", "event", manifest.events)
    unique(
        [consumer.group for consumer in manifest.consumers],
        lambda index: ("consumers", index, "group"),
        "duplicate group '{key}' (also consumers[{first}])",
    )
    entities = manifest.entities
    leaves = ["table" if entity.table is not None else "name" for entity in entities]
    # Without a schema a table lands in the default one, so `schema: public` and no
    # schema at all are the same place.
    unique(
        [
            _Table(manifest.schema_of(entity) or DEFAULT_SCHEMA, entity.table_name)
            for entity in entities
        ],
        lambda index: ("entities", index, leaves[index]),
        "table '{key.name}' is also the table of entities[{first}] in schema "
        f"'{{key.schema}}' (an entity without 'schema' uses database.schema, else "
        f"'{DEFAULT_SCHEMA}'); set a different 'table'",
    )
    entity_names = [entity.name for entity in entities]
    for index, event in enumerate(manifest.events):
        if event.name in entity_names:
            raise LocatedError(
                ("events", index, "name"),
                f"'{event.name}' is already an entity; entity and event names become Python "
                "classes and must all differ",
            )
    _check_enum_classes(entities)
    for e_index, entity in enumerate(entities):
        for f_index, field in enumerate(entity.fields):
            if field.to is not None and field.to not in entity_names:
                raise LocatedError(
                    ("entities", e_index, "fields", f_index, "to"),
                    f"unknown entity '{field.to}'; entities: "
                    + (", ".join(entity_names) or "(none)"),
                )
    _check_required_cycles(entities)
    announced = {
        entity_event_name(entity.name, kind): (index, position)
        for index, entity in enumerate(entities)
        for position, kind in enumerate(entity.events)
    }
    for name, (e_index, position) in announced.items():
        if name in entity_names:
            raise LocatedError(
                ("entities", e_index, "events", position),
                f"'{name}', the event this announces, is already an entity; rename one",
            )
    for index, event in enumerate(manifest.events):
        if event.name in announced:
            e_index, position = announced[event.name]
            raise LocatedError(
                ("events", index, "name"),
                f"'{event.name}' is the event entities[{e_index}].events[{position}] "
                "announces; rename this one",
            )
    event_names = [event.name for event in manifest.events] + list(announced)
    for index, consumer in enumerate(manifest.consumers):
        _check_handles(consumer, ("consumers", index, "handles"), event_names)


class _Reference(NamedTuple):
    """A required (non-nullable) foreign key: ``entity.field`` points at ``to``."""

    entity: str
    field: str
    to: str


def _check_required_cycles(entities: Sequence[Entity]) -> None:
    """No cycle of required references, a self-reference included: its first row could
    never be inserted, and the generated test factories would recurse forever."""
    required: dict[str, list[_Reference]] = {entity.name: [] for entity in entities}
    for entity in entities:
        for field in entity.fields:
            if field.to is not None and not field.nullable:
                required[entity.name].append(_Reference(entity.name, field.name, field.to))
    for e_index, entity in enumerate(entities):
        for f_index, field in enumerate(entity.fields):
            if field.to is None or field.nullable:
                continue
            first = _Reference(entity.name, field.name, field.to)
            back = _required_path(required, field.to, entity.name)
            if back is not None:
                cycle = " -> ".join(f"{ref.entity}.{ref.field}" for ref in [first, *back])
                raise LocatedError(
                    ("entities", e_index, "fields", f_index, "to"),
                    f"required references form a cycle ({cycle} -> {entity.name}): no first "
                    "row could be inserted; make a reference in it 'nullable: true'",
                )


def _required_path(
    required: dict[str, list[_Reference]], start: str, goal: str
) -> list[_Reference] | None:
    """The required references leading from entity ``start`` to ``goal`` (none when
    ``start`` is ``goal``), or None when there is no such path."""
    paths: dict[str, list[_Reference]] = {start: []}
    waiting = [start]
    while waiting:
        name = waiting.pop(0)
        if name == goal:
            return paths[name]
        for reference in required.get(name, []):
            if reference.to not in paths:
                paths[reference.to] = [*paths[name], reference]
                waiting.append(reference.to)
    return None


def _check_enum_classes(entities: Sequence[Entity]) -> None:
    """An enum field's StrEnum (entity name + field name) is a class of its own."""
    taken = {name: "a class the generated code imports" for name in CLASS_NAMES_TAKEN}
    taken |= {entity.name: f"entity '{entity.name}'" for entity in entities}
    for entity in entities:
        for suffix in ENTITY_CLASS_SUFFIXES:
            taken.setdefault(entity.name + suffix, f"the {suffix} class of '{entity.name}'")
    for e_index, entity in enumerate(entities):
        for f_index, field in enumerate(entity.fields):
            if field.type != "enum":
                continue
            name = enum_class(entity.name, field.name)
            if name in taken:
                raise LocatedError(
                    ("entities", e_index, "fields", f_index, "name"),
                    f"the enum class of '{entity.name}.{field.name}' would be '{name}', "
                    f"the name of {taken[name]}; rename the field or the entity",
                )
            taken[name] = f"the enum class of '{entity.name}.{field.name}'"


def _unique_names(section: str, noun: str, items: Sequence[Entity] | Sequence[Event]) -> None:
    def path(index: int) -> KeyPath:
        return (section, index, "name")

    unique(
        [item.name for item in items],
        path,
        f"duplicate {noun} '{{key}}' (also {section}[{{first}}])",
    )
    unique(
        [item.module for item in items],
        path,
        f"{noun} module '{{key}}' is also the module of {section}[{{first}}]; rename one",
    )


def _check_handles(consumer: Consumer, at: KeyPath, event_names: list[str]) -> None:
    def check_known(index: int, handle: str) -> None:
        if is_event_name(handle) and handle not in event_names:
            raise LocatedError(
                (*at, index),
                f"unknown event '{handle}'; declare it under 'events' or use a "
                "routing-key glob such as 'order.*'; events: "
                + (", ".join(event_names) or "(none)"),
            )

    unique(consumer.handles, lambda index: (*at, index), "'{key}' listed twice", each=check_known)
