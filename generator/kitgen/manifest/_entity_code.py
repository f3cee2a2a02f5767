"""What the per-entity templates paste: Python types, columns, defaults and imports.

Computed once from a validated entity, so the model and schema templates (and the tests
template) never derive a name, a type or an import set in Jinja.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kitgen.manifest._endpoints import filter_imports, upsert_key
from kitgen.manifest._imports import Imports, import_lines
from kitgen.manifest._literals import python_literal
from kitgen.manifest.naming import enum_class

if TYPE_CHECKING:
    from kitgen.manifest.schema import Entity, EntityField, Manifest

__all__ = ["entity_code", "field_code", "model_bases", "on_delete", "pk_annotation"]

_MUTABLE = frozenset({"json", "list[str]", "list[int]"})

# type -> (Python annotation, SQLAlchemy column type, model imports, schema imports)
_SIMPLE: dict[str, tuple[str, str, tuple[tuple[str, str | None], ...]]] = {
    "str": ("str", "", (("sqlalchemy", "String"),)),
    "text": ("str", "Text()", (("sqlalchemy", "Text"),)),
    "int": ("int", "Integer()", (("sqlalchemy", "Integer"),)),
    "bigint": ("int", "BigInteger()", (("sqlalchemy", "BigInteger"),)),
    "float": ("float", "Double()", (("sqlalchemy", "Double"),)),
    "decimal": ("Decimal", "", (("sqlalchemy", "Numeric"),)),
    "bool": ("bool", "Boolean()", (("sqlalchemy", "Boolean"),)),
    "date": ("date", "Date()", (("sqlalchemy", "Date"),)),
    "datetime": ("datetime", "UTCDateTime()", (("servicekit.database", "UTCDateTime"),)),
    "uuid": ("uuid.UUID", "Uuid()", (("sqlalchemy", "Uuid"),)),
    "json": (
        "Any",
        'JSON().with_variant(JSONB(), "postgresql")',
        (("sqlalchemy", "JSON"), ("sqlalchemy.dialects.postgresql", "JSONB")),
    ),
    "list[str]": (
        "list[str]",
        'ARRAY(Text()).with_variant(JSON(), "sqlite")',
        (("sqlalchemy", "ARRAY"), ("sqlalchemy", "Text"), ("sqlalchemy", "JSON")),
    ),
    "list[int]": (
        "list[int]",
        'ARRAY(BigInteger()).with_variant(JSON(), "sqlite")',
        (("sqlalchemy", "ARRAY"), ("sqlalchemy", "BigInteger"), ("sqlalchemy", "JSON")),
    ),
}

# type -> (annotation in the request and response schemas, its imports): the wire format.
# The types come from servicekit.database.values; each admits exactly what the column
# stores on Postgres and SQLite alike, strictly typed (see docs/api-contract.md).
_WIRE: dict[str, tuple[str, tuple[tuple[str, str | None], ...]]] = {
    "str": ("StorableText", (("servicekit.database", "StorableText"),)),
    "text": ("StorableText", (("servicekit.database", "StorableText"),)),
    "int": ("Int32", (("servicekit.database", "Int32"),)),
    "bigint": ("Int64", (("servicekit.database", "Int64"),)),
    "float": ("Float64", (("servicekit.database", "Float64"),)),
    "bool": ("StrictBool", (("pydantic", "StrictBool"),)),
    "date": ("ISODate", (("servicekit.database", "ISODate"),)),
    "datetime": ("UTCTimestamp", (("servicekit.database", "UTCTimestamp"),)),
    "uuid": ("uuid.UUID", (("uuid", None),)),
    "json": ("StorableJson", (("servicekit.database", "StorableJson"),)),
    "list[str]": ("list[StorableText]", (("servicekit.database", "StorableText"),)),
    "list[int]": ("list[Int64]", (("servicekit.database", "Int64"),)),
}
_DECIMAL_WIRE_IMPORTS = (
    ("typing", "Annotated"),
    ("decimal", "Decimal"),
    ("servicekit.database", "DecimalText"),
)
_INDEXED_TEXT_WIRE_IMPORTS = (
    ("typing", "Annotated"),
    ("servicekit.database", "StorableText"),
    ("servicekit.database", "IndexKeyBytes"),
)
# A Postgres B-tree entry holds at most 2,704 bytes; keep some for the entry's headers and
# the index's non-text columns, and share the rest among its text columns.
_INDEX_ENTRY_BYTES = 2600
_UTF8_MAX_BYTES_PER_CHAR = 4
_KEY_WIRE: dict[str, tuple[str, tuple[tuple[str, str | None], ...]]] = {
    "int": ("RowId", (("servicekit.database", "RowId"),)),
    "uuid": ("uuid.UUID", (("uuid", None),)),
}

# The imports a Python annotation needs, in models and schemas alike.
_TYPE_IMPORTS: dict[str, tuple[str, str | None]] = {
    "Decimal": ("decimal", "Decimal"),
    "date": ("datetime", "date"),
    "datetime": ("datetime", "datetime"),
    "uuid.UUID": ("uuid", None),
    "Any": ("typing", "Any"),
}


def pk_annotation(primary_key: str) -> str:
    return "uuid.UUID" if primary_key == "uuid" else "int"


def field_code(manifest: Manifest, entity: Entity, field: EntityField) -> dict[str, Any]:
    """``enum_class``, ``enum_members``, ``annotation``, ``schema_annotation``, ``column``,
    ``default_expr`` and ``default_factory`` of one field (see docs/manifest.md, "For
    template authors")."""
    kind = field.type
    enum_name = enum_class(entity.name, field.name) if kind == "enum" else None
    values = list(field.values or [])
    if enum_name is not None:
        base, column = enum_name, f"enum_type({enum_name})"
    elif kind == "fk":
        target = manifest.entity(field.to or "")
        assert target is not None  # checked by the manifest's references
        schema = manifest.schema_of(target)
        table = f"{schema}.{target.table_name}" if schema else target.table_name
        base = pk_annotation(target.primary_key)
        column = f'ForeignKey("{table}.id", ondelete="{on_delete(field)}")'
    else:
        base, column, _ = _SIMPLE[kind]
        if kind == "str":
            column = f"String({field.resolved_max_length})"
        elif kind == "decimal":
            column = f"Numeric({field.resolved_precision}, {field.resolved_scale})"
    default_expr = default_factory = None
    if field.has_default:
        value = field.python_default()
        if kind in _MUTABLE:
            default_factory = _factory(value)
        elif enum_name is not None and value is not None:
            default_expr = f"{enum_name}.{str(value).upper()}"
        else:
            default_expr = python_literal(value)
    optional = field.nullable and kind != "json"  # JSON's null is a JSON value
    wire = enum_name or _wire(manifest, entity, field)[0]
    return {
        "enum_class": enum_name,
        "enum_members": [[value.upper(), value] for value in values] if enum_name else None,
        "annotation": f"{base} | None" if optional else base,
        "schema_annotation": f"{wire} | None" if optional else wire,
        "column": column,
        "default_expr": default_expr,
        "default_factory": default_factory,
    }


def _wire(
    manifest: Manifest, entity: Entity, field: EntityField
) -> tuple[str, tuple[tuple[str, str | None], ...]]:
    """The schema annotation of a (non-enum) field's values and the imports it needs."""
    limit = _index_entry_share(entity, field)
    if limit is not None:
        return f"Annotated[StorableText, IndexKeyBytes({limit})]", _INDEXED_TEXT_WIRE_IMPORTS
    if field.type == "fk":
        target = manifest.entity(field.to or "")
        assert target is not None  # checked by the manifest's references
        return _KEY_WIRE[target.primary_key]
    if field.type == "decimal":
        precision, scale = field.resolved_precision, field.resolved_scale
        return f"Annotated[Decimal, DecimalText({precision}, {scale})]", _DECIMAL_WIRE_IMPORTS
    return _WIRE[field.type]


def _index_entry_share(entity: Entity, field: EntityField) -> int | None:
    """The UTF-8 bytes a text field may hold so every index on it can store the row.

    ``None`` when no index holds the field or its column can never outgrow its share.
    """
    if field.type not in ("str", "text"):
        return None
    indexes = [[field.name]] if field.unique or field.index else []
    indexes += [group for group in entity.unique_together if field.name in group]
    if not indexes:
        return None
    textual = {other.name for other in entity.fields if other.type in ("str", "text")}
    share = min(_INDEX_ENTRY_BYTES // len(textual.intersection(index)) for index in indexes)
    longest = field.resolved_max_length if field.type == "str" else None
    if longest is not None and longest * _UTF8_MAX_BYTES_PER_CHAR <= share:
        return None
    return share


def on_delete(field: EntityField) -> str:
    # Unset: SET NULL for a nullable reference, RESTRICT otherwise (never a silent cascade).
    if field.on_delete is not None:
        return field.on_delete.upper()
    return "SET NULL" if field.nullable else "RESTRICT"


def _factory(value: Any) -> str:
    if value in ([], {}):
        return type(value).__name__
    return "lambda: " + python_literal(value)


def entity_code(
    manifest: Manifest, entity: Entity, fields: list[dict[str, Any]], routes: dict[str, Any]
) -> dict[str, Any]:
    """``model_bases``, ``model_imports``, ``schema_imports``, ``pk_annotation``,
    ``table_args`` and ``upsert_key``; ``routes`` is the entity's ``endpoint_code``."""
    package = manifest.package
    schema_imports = _schema_imports(manifest, entity, fields, routes)
    return {
        "model_bases": model_bases(entity),
        "model_imports": import_lines(_model_imports(entity, fields, package), package),
        "schema_imports": import_lines(schema_imports, package),
        "pk_annotation": pk_annotation(entity.primary_key),
        "table_args": _table_args(entity, manifest.schema_of(entity)),
        "upsert_key": upsert_key(entity),
    }


def model_bases(entity: Entity) -> list[str]:
    """The model's base classes: the runtime's column mixins, then the service's Base."""
    mixins = ["SoftDeleteMixin"] if entity.delete == "soft" else []
    mixins += ["VersionMixin"] if entity.versioned else []
    return [*mixins, "TimestampMixin", "Base"]


def _annotation_imports(entity: Entity, fields: list[dict[str, Any]]) -> Imports:
    imports: Imports = set()
    for annotation in [pk_annotation(entity.primary_key)] + [f["annotation"] for f in fields]:
        found = _TYPE_IMPORTS.get(annotation.removesuffix(" | None"))
        if found:
            imports.add(found)
    return imports


def _model_imports(entity: Entity, fields: list[dict[str, Any]], package: str) -> Imports:
    imports = _annotation_imports(entity, fields)
    imports |= {("servicekit.database", mixin) for mixin in model_bases(entity)[:-1]}
    imports |= {
        (f"{package}.models.base", "Base"),
        ("sqlalchemy.orm", "Mapped"),
        ("sqlalchemy.orm", "mapped_column"),
        ("sqlalchemy", "Identity" if entity.primary_key == "int" else "Uuid"),
    }
    for field in entity.fields:
        if field.type == "enum":
            imports |= {("enum", "StrEnum"), ("servicekit.database", "enum_type")}
        elif field.type == "fk":
            imports.add(("sqlalchemy", "ForeignKey"))
        else:
            imports.update(_SIMPLE[field.type][2])
            if field.type == "uuid":
                imports.add(("sqlalchemy", "Uuid"))
    if entity.unique_together:
        imports.add(("sqlalchemy", "UniqueConstraint"))
    return imports


def _schema_imports(
    manifest: Manifest, entity: Entity, fields: list[dict[str, Any]], routes: dict[str, Any]
) -> Imports:
    imports: Imports = {
        ("datetime", "datetime"),
        ("pydantic", "BaseModel"),
        ("pydantic", "ConfigDict"),
        *filter_imports(routes["filters"]),
        *_annotation_imports(entity, fields),  # the response schema's plain types
    }
    if "update" in routes["endpoints"]:
        imports.add(("servicekit.database", "PartialUpdate"))
        imports |= {("servicekit.database", "RowVersion")} if entity.versioned else set()
    if entity.primary_key == "uuid":
        imports.add(("uuid", None))
    for field, code in zip(entity.fields, fields, strict=True):
        if code["enum_class"]:
            imports.add((f"{manifest.package}.models.{entity.module}", code["enum_class"]))
        else:
            imports.update(_wire(manifest, entity, field)[1])
        if _uses_pydantic_field(field, code):
            imports.add(("pydantic", "Field"))
    return imports


def _uses_pydantic_field(field: EntityField, code: dict[str, Any]) -> bool:
    # Field(...) carries the str limit and every default_factory.
    return field.type == "str" or code["default_factory"] is not None


def _table_args(entity: Entity, schema: str | None) -> list[str]:
    args = [
        "UniqueConstraint(" + ", ".join(f'"{name}"' for name in group) + ")"
        for group in entity.unique_together
    ]
    return args + ([f'{{"schema": "{schema}"}}'] if schema else [])
