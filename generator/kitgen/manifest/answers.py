"""The manifest as Copier answers: the contract with the per-entity templates.

:func:`to_answers` returns plain JSON-serialisable data (str/int/bool/None/list/dict) in
manifest order. Every name in it passed the manifest's name rules; every default is the
source literal of a validated Python value, spelled as ``ruff format`` spells it
(:mod:`._literals`), so a template pastes it as is.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kitgen.manifest._consumer_settings import router_args, router_imports
from kitgen.manifest._endpoints import endpoint_code
from kitgen.manifest._entity_code import entity_code, field_code, on_delete
from kitgen.manifest._event_code import event_field_annotation, events_imports
from kitgen.manifest._imports import Imports, import_lines
from kitgen.manifest._literals import python_literal
from kitgen.manifest._repository_code import repository_code
from kitgen.manifest.naming import (
    handler_function,
    is_event_name,
    route_of,
    routing_key,
    snake_case,
)
from kitgen.manifest.sections import CONSUMERS, ENTITIES, EVENTS, SECTION_KEYS, SECTIONS, Section

if TYPE_CHECKING:
    from kitgen.manifest.schema import Consumer, Entity, EntityField, Event, Manifest

__all__ = ["ANSWER_KEYS", "EVENTS_IMPORTS", "to_answers"]

EVENTS_IMPORTS = "events_imports"
# Every answer kitgen writes, in the order it writes them.
ANSWER_KEYS: tuple[str, ...] = (*SECTION_KEYS, EVENTS_IMPORTS)


def to_answers(manifest: Manifest) -> dict[str, Any]:
    """``{"entities": [...], "events": [...], "consumers": [...], "events_imports": [...]}``.

    One key per section (:data:`kitgen.manifest.sections.SECTION_KEYS`), in that order,
    then the events module's import block: the one service-wide value a template needs.
    """
    answers: dict[str, Any] = {
        section.key: [_ITEM[section](manifest, item) for item in getattr(manifest, section.key)]
        for section in SECTIONS
    }
    answers[EVENTS_IMPORTS] = events_imports(manifest)
    return answers


def _entity(manifest: Manifest, entity: Entity) -> dict[str, Any]:
    fields = [_field(manifest, entity, field) for field in entity.fields]
    routes = endpoint_code(manifest, entity, fields)
    return {
        "name": entity.name,
        "module": entity.module,
        "table": entity.table_name,
        "schema": manifest.schema_of(entity),
        "primary_key": entity.primary_key,
        "route": route_of(entity.name),
        "unique_together": [list(group) for group in entity.unique_together],
        "fields": fields,
        **routes,
        **entity_code(manifest, entity, fields, routes),
        **repository_code(manifest, entity, routes),
    }


def _field(manifest: Manifest, entity: Entity, field: EntityField) -> dict[str, Any]:
    target = manifest.entity(field.to) if field.to is not None else None
    return {
        "name": field.name,
        "type": field.type,
        "nullable": field.nullable,
        "unique": field.unique,
        "index": field.index,
        "max_length": field.resolved_max_length,
        "precision": field.resolved_precision,
        "scale": field.resolved_scale,
        "values": list(field.values) if field.type == "enum" and field.values else None,
        "to": target.name if target else None,
        "to_module": target.module if target else None,
        "to_table": target.table_name if target else None,
        "to_schema": manifest.schema_of(target) if target else None,
        "to_pk": target.primary_key if target else None,
        "on_delete": on_delete(field) if target else None,
        "default": python_literal(field.python_default()) if field.has_default else None,
        **field_code(manifest, entity, field),
    }


def _event(manifest: Manifest, event: Event) -> dict[str, Any]:
    return {
        "name": event.name,
        "module": event.module,
        "routing_key": routing_key(event.name),
        "schema_version": event.schema_version,
        "fields": [
            {
                "name": field.name,
                "type": field.type,
                "nullable": field.nullable,
                "annotation": event_field_annotation(field),
            }
            for field in event.fields
        ],
    }


def _consumer(manifest: Manifest, consumer: Consumer) -> dict[str, Any]:
    handles: list[dict[str, Any]] = []
    taken: set[str] = set()
    for handle in consumer.handles:
        if is_event_name(handle):
            module = snake_case(handle)
            entry = {"kind": "event", "name": handle, "module": module}
            base = module
        else:
            entry = {"kind": "glob", "pattern": handle}
            base = re.sub(r"[^a-z0-9]+", "_", handle.replace("*", "any")).strip("_") or "any"
        function, suffix = base, 2
        while function in taken:  # "order.*" and "order_*" must not share a handler name
            function, suffix = f"{base}_{suffix}", suffix + 1
        taken.add(function)
        handles.append({**entry, "function": function})
    stream = manifest.stream_of(consumer)
    imports: Imports = {("logging", None), ("servicekit.streams", "EventRouter")}
    imports |= router_imports(consumer)
    for entry in handles:
        if entry["kind"] == "event":
            imports.add((f"{manifest.package}.events", entry["name"]))
        else:  # a glob's handler takes any event
            imports.add(("servicekit.streams", "BaseEvent"))
    return {
        "group": consumer.group,
        "module": consumer.group.replace("-", "_"),
        "stream": stream,
        "function": handler_function(consumer.group),
        "handles": handles,
        "imports": import_lines(imports, manifest.package),
        "router_args": router_args(consumer, stream),
    }


# The answers of one item, by section.
_ITEM: dict[Section, Callable[[Manifest, Any], dict[str, Any]]] = {
    ENTITIES: _entity,
    EVENTS: _event,
    CONSUMERS: _consumer,
}
