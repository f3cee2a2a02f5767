"""Word lists behind the name rules: SQL reserved words and names generated code owns."""

from __future__ import annotations

import keyword

from kitgen.manifest.naming import pluralize

__all__ = [
    "CLASS_NAMES_TAKEN",
    "DEFAULT_SCHEMA",
    "ENTITY_CLASS_SUFFIXES",
    "ENTITY_FIELD_NAMES_TAKEN",
    "ENTITY_MODULES_TAKEN",
    "EVENT_FIELD_NAMES_TAKEN",
    "PYTHON_KEYWORDS",
    "ROUTES_TAKEN",
    "SQL_RESERVED",
    "SYSTEM_PREFIX",
    "SYSTEM_SCHEMAS",
    "TABLES_TAKEN",
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
# Builtins a generated class body reads after its fields: annotations (``str``,
# ``Mapped[int]``) and default factories (``list``, ``dict``). A field of that name rebinds
# it inside the class, so every later field would read the field instead of the builtin.
_BUILTINS_READ_IN_CLASS_BODIES = frozenset(
    {"bool", "dict", "float", "frozenset", "int", "list", "str"}
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
        "enum_type",
        "enum_values",
        # what a cached lookup's method body calls
        "redis_get",
        "redis_set",
        "redis_delete",
    }
)
ENTITY_FIELD_NAMES_TAKEN = (
    _GENERATED_COLUMNS
    | _SQLALCHEMY_ATTRIBUTES
    | _PYDANTIC_ATTRIBUTES
    | _BUILTINS_READ_IN_CLASS_BODIES
    | _IMPORTED_NAMES
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
EVENT_FIELD_NAMES_TAKEN = (
    _EVENT_ENVELOPE | _PYDANTIC_ATTRIBUTES | _BUILTINS_READ_IN_CLASS_BODIES | _IMPORTED_NAMES
)

# Every PascalCase name a module of the rendered service imports or defines, besides the
# classes derived from the manifest. An entity or event of one of these names would shadow
# the import in the modules that use both (an entity ``Query`` breaks ``Query(ge=1)`` in
# its router) or register a second class under a name the service already uses.
# tests/hostile/test_names.py renders a service with every option on and fails when the
# template binds a name missing here, so a template change cannot silently open a hole.
CLASS_NAMES_TAKEN = frozenset(
    {
        # servicekit
        "AsyncRepository",
        "AsyncRowReader",
        "AsyncRowWriter",
        "RowReader",
        "RowWriter",
        "Base",
        "BaseEvent",
        "EventEmitter",
        "EventRouter",
        "GenericEvent",
        "NotFound",
        "Repository",
        "TestgresSession",
        "TimestampMixin",
        "VersionMixin",
        "SoftDeleteMixin",
        "StaleVersionError",
        "DatabaseError",
        "DatabaseTimeoutError",
        "DatabaseUnavailableError",
        "RetryableConflictError",
        "IdempotencyInProgressError",
        "IdempotencyKeyReusedError",
        "PartialUpdate",
        "OutboxMixin",
        "OutboxRelay",
        "OutboxMessage",
        "UTCDateTime",
        "ConfigurationError",
        "LogFormat",
        "RedisConfigStore",
        "ConfigDocumentInvalidError",
        "StoreError",
        # the session makers the tests' factories and raw statements use
        "AsyncSessionLocal",
        "SessionLocal",
        # the app and health modules, and the tests' reader of entity events
        "Announcements",
        "ConsumerGroup",
        "CorrelationIdMiddleware",
        "RedisError",
        # servicekit.database.values: the column and schema types of generated fields
        "DecimalText",
        "Float64",
        "ISODate",
        "IndexKeyBytes",
        "Int32",
        "Int64",
        "RowVersion",
        "StorableJson",
        "StorableText",
        "StrictBool",
        "UTCTimestamp",
        # SQLAlchemy
        "ARRAY",
        "AsyncSession",
        "BigInteger",
        "Boolean",
        "Date",
        "DeclarativeBase",
        "Double",
        "Enum",
        "ForeignKey",
        "Identity",
        "Integer",
        "IntegrityError",
        "JSON",
        "JSONB",
        "Mapped",
        "MetaData",
        "Numeric",
        "SQLAlchemyError",
        "Session",
        "String",
        "Text",
        "TextClause",
        "UniqueConstraint",
        "Uuid",
        # FastAPI, pydantic, Redis, alembic
        "APIRouter",
        "BaseModel",
        "BaseSettings",
        "Config",
        "ConfigDict",
        "Depends",
        "FastAPI",
        "Field",
        "HTTPException",
        "JSONResponse",
        "Query",
        "Redis",
        "Request",
        "RequestValidationError",
        "Response",
        "SettingsConfigDict",
        "TestClient",
        # schemathesis and hypothesis (tests/test_api_contract.py)
        "APIOperation",
        "Case",
        "HealthCheck",
        # the standard library
        "Annotated",
        "Any",
        "AsyncIterator",
        "ClassVar",
        "Decimal",
        "InvalidOperation",
        "Iterator",
        "Literal",
        "Path",
        "Sequence",
        "StrEnum",
        "UUID",
        # defined by the template: settings.py, health.py, feature_flags.py,
        # schemas/_errors.py, routers, tests/test_streams.py, tests/test_api_contract.py
        "CHECKS",
        "CurrentFeatureFlags",
        "DbSession",
        "ReadSession",
        "EXAMPLES",
        "ErrorMessage",
        "ExpectedVersion",
        "FeatureFlags",
        "Health",
        "ItemId",
        "LiveFeatureFlags",
        "PageNumber",
        "PageSize",
        "ServiceProbed",
        "Settings",
        "Status",
    }
)

# The classes generated beside each entity: ``Product`` -> ``ProductCreate``, ...
ENTITY_CLASS_SUFFIXES = ("Create", "Read", "Update", "Filters", "Page", "Repository")

# Files of the template where an entity's module would put its own, by that module: an
# entity ``Health`` would overwrite tests/test_health.py with its tests (or lose its own).
ENTITY_MODULES_TAKEN = {
    "api_contract": "tests/test_api_contract.py",
    "base": "<package>/models/base.py",
    "cache": "tests/test_cache.py",
    "database_outages": "tests/test_database_outages.py",
    "feature_flags": "tests/test_feature_flags.py",
    "health": "tests/test_health.py",
    "logging": "tests/test_logging.py",
    "migrations": "tests/test_migrations.py",
    "outbox": "<package>/models/outbox.py",
    "streams": "tests/test_streams.py",
}

# First path segments the app serves before any entity router: FastAPI's API docs and the
# health check (and the feature flags, with the config store). An entity ``Doc`` would list
# at ``/docs``, where the docs page answers.
ROUTES_TAKEN = frozenset({"docs", "feature-flags", "health", "openapi.json", "redoc"})

# PostgreSQL reserves every ``pg_`` schema name for itself (CREATE SCHEMA refuses them),
# and pg_catalog comes first on every search path: an unqualified ``pg_class`` is the
# catalog's. information_schema is the standard's views. alembic_version is the table
# Alembic records the migration head in, in the service's schema.
SYSTEM_PREFIX = "pg_"
SYSTEM_SCHEMAS = frozenset({"information_schema"})
TABLES_TAKEN = frozenset({"alembic_version", "outbox"})
# Where a table without a schema goes: the first existing schema on the default
# search_path ("$user", public) -- public, as no service creates a schema per role.
DEFAULT_SCHEMA = "public"

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
