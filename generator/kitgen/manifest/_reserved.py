"""Word lists behind the name rules: SQL reserved words and names generated code owns."""

from __future__ import annotations

import keyword

from kitgen.manifest.naming import pluralize

__all__ = [
    "CLASS_NAMES_TAKEN",
    "ENTITY_FIELD_NAMES_TAKEN",
    "EVENT_FIELD_NAMES_TAKEN",
    "PYTHON_KEYWORDS",
    "SQL_RESERVED",
    "column_alternative",
    "table_alternative",
]

PYTHON_KEYWORDS = frozenset(keyword.kwlist) | frozenset(keyword.softkwlist)

# PostgreSQL's reserved key words (those that cannot be a table or column name without
# quotes), plus "user"-style words that are reserved in the SQL standard and common ports.
SQL_RESERVED = frozenset(
    (
        "all",
        "analyse",
        "analyze",
        "and",
        "any",
        "array",
        "as",
        "asc",
        "asymmetric",
        "authorization",
        "between",
        "binary",
        "both",
        "case",
        "cast",
        "check",
        "collate",
        "collation",
        "column",
        "concurrently",
        "constraint",
        "create",
        "cross",
        "current_catalog",
        "current_date",
        "current_role",
        "current_schema",
        "current_time",
        "current_timestamp",
        "current_user",
        "default",
        "deferrable",
        "desc",
        "distinct",
        "do",
        "else",
        "end",
        "except",
        "false",
        "fetch",
        "for",
        "foreign",
        "freeze",
        "from",
        "full",
        "grant",
        "group",
        "having",
        "ilike",
        "in",
        "initially",
        "inner",
        "intersect",
        "into",
        "is",
        "isnull",
        "join",
        "lateral",
        "leading",
        "left",
        "like",
        "limit",
        "localtime",
        "localtimestamp",
        "natural",
        "not",
        "notnull",
        "null",
        "offset",
        "on",
        "only",
        "or",
        "order",
        "outer",
        "overlaps",
        "placing",
        "primary",
        "references",
        "returning",
        "right",
        "select",
        "session_user",
        "similar",
        "some",
        "symmetric",
        "system_user",
        "table",
        "tablesample",
        "then",
        "to",
        "trailing",
        "true",
        "union",
        "unique",
        "user",
        "using",
        "variadic",
        "verbose",
        "when",
        "where",
        "window",
        "with",
    )
)

# Columns every generated model already has, attributes of SQLAlchemy's declarative base
# and of pydantic models (generated schemas subclass BaseModel), and the names generated
# modules import. A field with one of these names would shadow or break them.
_GENERATED_COLUMNS = frozenset({"id", "created_at", "updated_at"})
_SQLALCHEMY_ATTRIBUTES = frozenset(
    {"metadata", "registry", "query", "query_cls", "session", "awaitable_attrs"}
)
_PYDANTIC_ATTRIBUTES = frozenset(
    {
        "construct",
        "copy",
        "dict",
        "from_orm",
        "json",
        "parse_file",
        "parse_obj",
        "parse_raw",
        "schema",
        "schema_json",
        "update_forward_refs",
        "validate",
    }
)
_IMPORTED_NAMES = frozenset(
    {
        "select",
        "func",
        "sa",
        "Mapped",
        "mapped_column",
        "datetime",
        "date",
        "Decimal",
        "UUID",
        "uuid",
        "Any",
        "Enum",
    }
)
ENTITY_FIELD_NAMES_TAKEN = (
    _GENERATED_COLUMNS | _SQLALCHEMY_ATTRIBUTES | _PYDANTIC_ATTRIBUTES | _IMPORTED_NAMES
)

# The envelope of servicekit.streams.BaseEvent, which every generated event subclasses.
_EVENT_ENVELOPE = frozenset(
    {
        "id",
        "timestamp",
        "correlation_id",
        "causation_id",
        "metadata",
        "event_type",
        "schema_version",
        "register_event",
        "routing_key",
    }
)
EVENT_FIELD_NAMES_TAKEN = _EVENT_ENVELOPE | _PYDANTIC_ATTRIBUTES | _IMPORTED_NAMES

# Class names generated modules import or define besides the entity/event classes.
CLASS_NAMES_TAKEN = frozenset(
    {
        "Any",
        "AsyncRepository",
        "AsyncSession",
        "Base",
        "BaseEvent",
        "BaseModel",
        "Decimal",
        "Enum",
        "GenericEvent",
        "Mapped",
        "NotFound",
        "Repository",
        "Session",
        "TimestampMixin",
        "UUID",
    }
)

_COLUMN_ALTERNATIVES = {
    "user": "user_id",
    "order": "sort_order",
    "group": "group_name",
    "default": "default_value",
    "from": "from_value",
    "to": "to_value",
    "end": "end_value",
    "check": "check_value",
    "desc": "description",
    "table": "table_name",
    "column": "column_name",
    "limit": "limit_value",
    "offset": "offset_value",
    "window": "time_window",
    "primary": "is_primary",
    "unique": "is_unique",
    "array": "items",
}


def column_alternative(name: str) -> str:
    """A suggestion for a column name that is an SQL reserved word."""
    return _COLUMN_ALTERNATIVES.get(name, f"{name}_value")


def table_alternative(name: str) -> str:
    """A suggestion for a table name that is an SQL reserved word: its plural, usually."""
    plural = pluralize(name)
    return plural if plural not in SQL_RESERVED else f"{name}_items"
