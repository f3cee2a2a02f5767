"""An entity's HTTP routes, list filters and the events its routes announce.

Every entity can have ``list``, ``get``, ``create`` and ``update`` (PATCH); ``upsert``
(PUT) when it has a unique key, ``delete`` when it opts in (``delete: soft|hard``), and one
``by_<field>`` per cached lookup. ``endpoints:`` keeps a subset (``[]``: no router at
all); left out, the entity has every route it can. The list route filters on the
fields an index serves (unique, indexed and foreign-key fields of a scalar type), as
``?field=value``. ``events: [created, updated, deleted]`` makes the routes that create,
update or delete a row stage ``<Entity>Created``/``Updated``/``Deleted`` in the service's
transactional outbox, in the transaction of the change.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kitgen.manifest._names import show
from kitgen.manifest._references import LocatedError, unique
from kitgen.manifest.naming import entity_event_name, routing_key

if TYPE_CHECKING:
    from kitgen.manifest.schema import Entity, EntityField, Manifest

__all__ = [
    "ENTITY_EVENT_KINDS",
    "check_endpoints",
    "endpoint_code",
    "filter_imports",
    "kept_routes",
    "routes_of",
    "upsert_key",
]

ENTITY_EVENT_KINDS = ("created", "updated", "deleted")
# event kind -> the routes that announce it
_ANNOUNCED_BY = {
    "created": ("create", "upsert"),
    "updated": ("update", "upsert"),
    "deleted": ("delete",),
}
# The list route's own query parameters: a filter of that name would take them over.
_PAGINATION = ("page", "size")

# Field type -> the filter's annotation in the Filters model. Query values arrive as text,
# so these parse it (the strict wire types of the request bodies would refuse "5").
_FILTER_ANNOTATION = {
    "str": "StorableText",
    "text": "StorableText",
    "int": "Annotated[int, Field(ge=INT32_MIN, le=INT32_MAX)]",
    "bigint": "Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX)]",
    "bool": "bool",
    "date": "ISODate",
    "uuid": "uuid.UUID",
}
_FK_FILTER = {"int": "Annotated[int, Field(ge=1, le=INT32_MAX)]", "uuid": "uuid.UUID"}


def upsert_key(entity: Entity) -> list[str]:
    """The columns ``PUT`` upserts on: the first unique field, else the first group."""
    unique = [field.name for field in entity.fields if field.unique]
    if unique:
        return unique[:1]
    return list(entity.unique_together[0]) if entity.unique_together else []


def routes_of(entity: Entity) -> list[str]:
    """Every route the entity can have, in the order the router defines them."""
    routes = ["list", "get", "create"]
    if upsert_key(entity):
        routes.append("upsert")
    routes.append("update")
    if entity.delete != "none":
        routes.append("delete")
    routes += entity.repository.cached if entity.repository else []
    return routes


def check_endpoints(entity: Entity) -> None:
    """:class:`LocatedError` at the first kept route the entity cannot have."""
    # The opt-in columns: their mixins add them.
    added = {"version": entity.versioned, "deleted_at": entity.delete == "soft"}
    for field in entity.fields:
        if added.get(field.name):
            option = "versioned: true" if field.name == "version" else "delete: soft"
            raise LocatedError(
                ("fields", entity.fields.index(field), "name"),
                f"field {show(field.name)} is the column {option} adds; rename the field",
            )
        if field.name in _PAGINATION and _filterable(field):
            raise LocatedError(
                ("fields", entity.fields.index(field), "name"),
                f"field {show(field.name)} is indexed, so the list route would filter on "
                f"?{field.name}=, the {field.name} of its pagination; rename the field",
            )
    _check_events(entity)
    if entity.endpoints is None:
        return
    possible = routes_of(entity)

    def path(position: int) -> tuple[str | int, ...]:
        return ("endpoints", position)

    def check(position: int, name: str) -> None:
        if name in possible:
            return
        if name == "upsert":
            reason = "needs a unique field or unique_together (the key PUT upserts on)"
        elif name == "delete":
            reason = "needs delete: soft or delete: hard"
        elif name.startswith("by_"):
            reason = f"is not one of its cached lookups (repository: {{cached: [{name}]}})"
        else:
            reason = "is not a route"
        raise LocatedError(
            path(position),
            f"endpoint {show(name)} of '{entity.name}' {reason}; "
            f"this entity can have {', '.join(possible)}",
        )

    unique(entity.endpoints, path, "endpoint '{key}' listed twice", each=check)


def _check_events(entity: Entity) -> None:
    kept = kept_routes(entity)

    def path(position: int) -> tuple[str | int, ...]:
        return ("events", position)

    def check(position: int, kind: str) -> None:
        routes = _ANNOUNCED_BY[kind]
        if not any(route in kept for route in routes):
            hint = "set delete: soft or hard" if kind == "deleted" else "keep one of them"
            raise LocatedError(
                path(position),
                f"'{entity.name}' would never announce {kind}: no route of it "
                f"({' or '.join(routes)}) is kept; {hint}",
            )

    unique(entity.events, path, "event '{key}' listed twice", each=check)


def kept_routes(entity: Entity) -> list[str]:
    """The routes the entity has: every one it can, or those ``endpoints`` keeps."""
    possible = routes_of(entity)
    if entity.endpoints is None:
        return possible
    return [route for route in possible if route in entity.endpoints]


def _filterable(field: EntityField) -> bool:
    indexed = field.unique or field.index or field.type == "fk"
    return indexed and (field.type in _FILTER_ANNOTATION or field.type in ("enum", "fk"))


def endpoint_code(
    manifest: Manifest, entity: Entity, fields: list[dict[str, Any]]
) -> dict[str, Any]:
    """``endpoints`` (the routes kept, in order), ``delete``, ``versioned``, ``filters``
    and ``entity_events`` (``{kind, name}`` in created/updated/deleted order)."""
    kept = kept_routes(entity)
    filters = []
    if "list" in kept:
        for field, code in zip(entity.fields, fields, strict=True):
            if _filterable(field):
                filters.append({"name": field.name, "annotation": _filter(manifest, field, code)})
    return {
        "endpoints": kept,
        "delete": entity.delete,
        "versioned": entity.versioned,
        "filters": filters,
        "entity_events": [
            {
                "kind": kind,
                "name": entity_event_name(entity.name, kind),
                "routing_key": routing_key(entity_event_name(entity.name, kind)),
                # the kept routes that announce it
                "routes": [route for route in _ANNOUNCED_BY[kind] if route in kept],
            }
            for kind in ENTITY_EVENT_KINDS
            if kind in entity.events
        ],
    }


def _filter(manifest: Manifest, field: EntityField, code: dict[str, Any]) -> str:
    if field.type == "enum":
        return str(code["enum_class"])
    if field.type == "fk":
        target = manifest.entity(field.to or "")
        assert target is not None  # checked by the manifest's references
        return _FK_FILTER[target.primary_key]
    return _FILTER_ANNOTATION[field.type]


def filter_imports(entity_filters: list[dict[str, Any]]) -> set[tuple[str, str | None]]:
    """What the Filters model's annotations need (enum classes come with the schemas')."""
    imports: set[tuple[str, str | None]] = set()
    for annotation in (each["annotation"] for each in entity_filters):
        if "Annotated[" in annotation:
            imports |= {("typing", "Annotated"), ("pydantic", "Field")}
        for bound in ("INT32_MIN", "INT32_MAX", "INT64_MIN", "INT64_MAX"):
            if bound in annotation:
                imports.add(("servicekit.database", bound))
        if annotation in ("StorableText", "ISODate"):
            imports.add(("servicekit.database", annotation))
        if annotation == "uuid.UUID":
            imports.add(("uuid", None))
    return imports
