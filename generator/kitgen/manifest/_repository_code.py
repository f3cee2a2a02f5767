"""What the repository and router templates paste: their imports and cached lookups.

A cached lookup (``repository: {cached: [by_slug]}``) reads one row by a unique field
through the runtime's fail-open Redis cache (cache-aside): ``get_by_<field>`` on the
repository, ``GET /<route>/by-<field>/{value}`` on the router, and every write path the
router has evicts the keys of the rows it changed, after the commit. The cache is
asyncio-only, so lookups need an async service.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kitgen.manifest._imports import Imports, import_lines
from kitgen.manifest._names import show
from kitgen.manifest._references import LocatedError, unique

if TYPE_CHECKING:
    from kitgen.manifest.schema import Entity, EntityField, Manifest

__all__ = ["LOOKUP_TYPES", "check_lookups", "repository_code"]

# Field types a lookup may key on, and the path parameter's annotation for each.
LOOKUP_TYPES = ("str", "int", "bigint", "uuid")
_INT_BOUNDS = {"int": ("INT32_MIN", "INT32_MAX"), "bigint": ("INT64_MIN", "INT64_MAX")}
_VALUE_ANNOTATION = {"str": "str", "int": "int", "bigint": "int", "uuid": "uuid.UUID"}
_BOUNDS = ("INT32_MIN", "INT32_MAX", "INT64_MIN", "INT64_MAX")


def check_lookups(manifest: Manifest) -> None:
    """:class:`LocatedError` at the first lookup that names no unique field it can use."""
    for index, entity in enumerate(manifest.entities):
        cached = entity.repository.cached if entity.repository else []
        if not cached:
            continue

        def path(position: int, index: int = index) -> tuple[str | int, ...]:
            return ("entities", index, "repository", "cached", position)

        if not manifest.is_async:
            raise LocatedError(
                path(0),
                "cached lookups need database.async: true (the cache client is asyncio)",
            )
        unique(cached, path, "lookup '{key}' listed twice", each=_field_check(entity, path))


def _field_check(entity: Entity, path: Any) -> Any:
    def check(position: int, name: str) -> None:
        field = _field_of(entity, name)
        if field is None:
            usable = [f"by_{f.name}" for f in entity.fields if _usable(f)]
            raise LocatedError(
                path(position),
                f"unknown lookup {show(name)} in '{entity.name}': a lookup is by_<field> of a "
                "unique str, int, bigint or uuid field; "
                + (f"this entity has {', '.join(usable)}" if usable else "this entity has none"),
            )
        if not _usable(field):
            raise LocatedError(
                path(position),
                f"lookup {show(name)} needs '{field.name}' to be unique (unique: true) and of "
                f"type str, int, bigint or uuid (it is {field.type}"
                + (", not unique)" if not field.unique else ")"),
            )

    return check


def _field_of(entity: Entity, lookup: str) -> EntityField | None:
    if not lookup.startswith("by_"):
        return None
    return next((field for field in entity.fields if field.name == lookup[3:]), None)


def _usable(field: EntityField) -> bool:
    return field.unique and field.type in LOOKUP_TYPES


def repository_code(manifest: Manifest, entity: Entity, routes: dict[str, Any]) -> dict[str, Any]:
    """``create_commits_alone``, ``cached_lookups``, ``cache_ttl``, ``repository_imports``
    and ``router_imports``.

    ``routes`` is the entity's ``endpoint_code``: the router imports what its routes use.
    """
    lookups = []
    schema = manifest.schema_of(entity)
    for name in entity.repository.cached if entity.repository else []:
        field = _field_of(entity, name)
        assert field is not None  # checked by check_lookups
        lookups.append(
            {
                "field": field.name,
                "method": f"get_{name}",
                "endpoint": f"get_{entity.module}_{name}",
                "route": name.replace("_", "-"),
                # schema-qualified: two schemas may each have a table of this name
                "cache_key": f"{schema}.{entity.table_name}:{field.name}"
                if schema
                else f"{entity.table_name}:{field.name}",
                "parameter": _parameter(field),
                "value_annotation": _VALUE_ANNOTATION[field.type],
                "key_call": f"_{field.name}_key(item.{field.name})",
            }
        )
    package = manifest.package
    return {
        "create_commits_alone": _create_commits_alone(entity, routes),
        "cached_lookups": lookups,
        "cache_ttl": entity.repository.ttl if entity.repository else None,
        "repository_imports": import_lines(_repository_imports(manifest, entity), package),
        "router_imports": import_lines(_router_imports(manifest, entity, routes), package),
    }


def _create_commits_alone(entity: Entity, routes: dict[str, Any]) -> bool:
    """Whether the create route's INSERT is its whole transaction: no outbox event staged
    with it, no cached lookup to evict after it. Such a create goes through a row writer
    (one statement, no session); any other through the repository in a write session."""
    if "create" not in routes["endpoints"]:
        return False
    announced = any("create" in event["routes"] for event in routes["entity_events"])
    return not announced and not (entity.repository and entity.repository.cached)


def _repository_imports(manifest: Manifest, entity: Entity) -> Imports:
    package, module = manifest.package, entity.module
    imports: Imports = {
        ("servicekit.database", "AsyncRepository" if manifest.is_async else "Repository"),
        (f"{package}.models.{module}", entity.name),
    }
    if entity.repository and entity.repository.cached:
        imports |= {(f"{package}.schemas.{module}", f"{entity.name}Read")}
        imports |= {
            ("servicekit.cache", name) for name in ("redis_delete", "redis_get", "redis_set")
        }
        for name in entity.repository.cached:
            field = _field_of(entity, name)
            if field is not None and field.type == "uuid":
                imports.add(("uuid", None))
    return imports


def _session_imports(manifest: Manifest, entity: Entity, routes: dict[str, Any]) -> Imports:
    """list and get read the model through a row reader, a create that commits alone
    writes through a row writer; the other writes and cached lookups (which fill the
    cache, so must never read a lagging replica) use the repository in the request's
    write session."""
    prefix, kind = ("fastapi_async_", "Async") if manifest.is_async else ("fastapi_", "")
    kept = set(routes["endpoints"])
    create_alone = _create_commits_alone(entity, routes)
    imports: Imports = set()
    if kept & {"list", "get"}:
        imports.add(("servicekit.database", f"{kind}RowReader"))
    if create_alone:
        imports.add(("servicekit.database", f"{kind}RowWriter"))
        kept.discard("create")
    if kept & {"list", "get"} or create_alone:
        imports.add((f"{manifest.package}.models.{entity.module}", entity.name))
    if kept - {"list", "get"}:  # the other writes, and cached lookups
        imports |= {
            ("typing", "Annotated"),
            ("fastapi", "Depends"),
            (f"{manifest.package}.repositories.{entity.module}", f"{entity.name}Repository"),
            ("servicekit.database", f"{prefix}session"),
            ("sqlalchemy.ext.asyncio", "AsyncSession")
            if manifest.is_async
            else ("sqlalchemy.orm", "Session"),
        }
    return imports


def _router_imports(manifest: Manifest, entity: Entity, routes: dict[str, Any]) -> Imports:
    package, module, name = manifest.package, entity.module, entity.name
    kept = set(routes["endpoints"])
    if not kept:
        return set()  # no router module
    imports: Imports = {("fastapi", "APIRouter")}
    by_id = kept & {"get", "update", "delete"}
    writes = kept & {"create", "upsert", "update", "delete"}
    cached = entity.repository.cached if entity.repository else []
    lookups = [each for each in cached if each in kept]
    imports |= _session_imports(manifest, entity, routes)
    if lookups or kept & {"list", "get", "create", "upsert", "update"}:
        imports.add((f"{package}.schemas.{module}", f"{name}Read"))  # what they answer
    imports.add((f"{package}.schemas._errors", "error_responses"))  # the router's 503
    if by_id or lookups or writes:
        imports.add(("fastapi", "HTTPException"))
    if by_id:
        imports.add(("servicekit.database", "NotFound"))
        if entity.primary_key == "int":  # ItemId = Annotated[int, Path(ge=1, le=INT32_MAX)]
            imports |= {("typing", "Annotated"), ("fastapi", "Path")}
            imports.add(("servicekit.database", "INT32_MAX"))
    if "list" in kept:  # PageNumber = Annotated[int, Query(ge=1, le=INT32_MAX)]
        imports |= {("typing", "Annotated"), ("fastapi", "Query")}
        imports.add(("servicekit.database", "INT32_MAX"))
        imports.add((f"{package}.schemas.{module}", f"{name}Page"))
        if routes["filters"]:
            imports.add((f"{package}.schemas.{module}", f"{name}Filters"))
    if kept & {"create", "upsert", "update"}:
        imports.add(("sqlalchemy.exc", "IntegrityError"))
    if kept & {"create", "upsert"}:
        imports.add((f"{package}.schemas.{module}", f"{name}Create"))
    if "update" in kept:
        imports.add((f"{package}.schemas.{module}", f"{name}Update"))
    if "delete" in kept and entity.delete == "hard":
        imports.add(("sqlalchemy.exc", "IntegrityError"))  # a row others still reference
    for event in routes["entity_events"]:
        if event["routes"]:
            imports |= {
                ("servicekit.outbox", "stage_event"),
                (f"{package}.models.outbox", "OutboxMessage"),
                (f"{package}.events", "EVENTS_STREAM"),
                (f"{package}.events", event["name"]),
            }
    if entity.versioned and kept & {"update", "delete"}:
        imports.add(("servicekit.database", "StaleVersionError"))
        if "delete" in kept:
            imports |= {("fastapi", "Query"), ("servicekit.database", "INT32_MAX")}
    annotations = [
        _parameter(field)
        for field in (_field_of(entity, each) for each in lookups)
        if field is not None
    ]
    if by_id and entity.primary_key == "uuid":
        annotations.append("uuid.UUID")
    for annotation in annotations:
        if annotation == "uuid.UUID":
            imports.add(("uuid", None))
        if "Path(" in annotation:
            imports.add(("fastapi", "Path"))
        if "StorableText" in annotation:
            imports.add(("servicekit.database", "StorableText"))
        imports |= {("servicekit.database", bound) for bound in _BOUNDS if bound in annotation}
    return imports


def _parameter(field: EntityField) -> str:
    """The path parameter's annotation: what the column can hold, so more is a 422."""
    if field.type == "uuid":
        return "uuid.UUID"
    if field.type in _INT_BOUNDS:
        low, high = _INT_BOUNDS[field.type]
        return f"Annotated[int, Path(ge={low}, le={high})]"
    # StorableText: what the column can store (no NUL), so anything else is a 422.
    return f"Annotated[StorableText, Path(max_length={field.resolved_max_length})]"
