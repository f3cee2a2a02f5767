"""What the events template pastes: field annotations and the module's import block.

All events live in one generated module (``<package>/events.py``), so its imports are the
union over every event; computed here once so the template assembles nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kitgen.manifest._imports import Imports, import_lines

if TYPE_CHECKING:
    from kitgen.manifest.schema import EventField, Manifest

__all__ = ["event_field_annotation", "events_imports"]

# event field type -> (annotation, the import it needs or None)
_TYPES: dict[str, tuple[str, tuple[str, str | None] | None]] = {
    "str": ("str", None),
    "int": ("int", None),
    "float": ("float", None),
    "decimal": ("Decimal", ("decimal", "Decimal")),
    "bool": ("bool", None),
    "date": ("date", ("datetime", "date")),
    "datetime": ("datetime", ("datetime", "datetime")),
    "uuid": ("uuid.UUID", ("uuid", None)),
    "json": ("Any", ("typing", "Any")),
    "list[str]": ("list[str]", None),
    "list[int]": ("list[int]", None),
}


def event_field_annotation(field: EventField) -> str:
    base = _TYPES[field.type][0]
    # JSON's null is a JSON value: Any already admits None.
    return f"{base} | None" if field.nullable and field.type != "json" else base


def events_imports(manifest: Manifest) -> list[str]:
    """The import block of the events module (empty without events of any kind)."""
    announcing = [entity for entity in manifest.entities if entity.events]
    if not manifest.events and not announcing:
        return []
    imports: Imports = {("servicekit.streams", "BaseEvent"), ("servicekit.streams", "EventEmitter")}
    if manifest.events:
        imports.add(("typing", "ClassVar"))
    for event in manifest.events:
        for field in event.fields:
            needed = _TYPES[field.type][1]
            if needed is not None:
                imports.add(needed)
    for entity in announcing:
        # Created and updated carry the row as the API shows it; deleted only its key.
        if {"created", "updated"} & set(entity.events):
            imports.add((f"{manifest.package}.schemas.{entity.module}", f"{entity.name}Read"))
        if "deleted" in entity.events and entity.primary_key == "uuid":
            imports.add(("uuid", None))
    return import_lines(imports, manifest.package)
