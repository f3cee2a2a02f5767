"""The name rules: every string from the manifest that reaches code, SQL or a path.

Each checker returns the name unchanged or raises :class:`ValueError` with a one-line
message that says what is wrong and what is allowed. Names are matched whole against
strict ASCII regexes, so no quote, backslash, slash, dot, space or control character
can get through to generated code, SQL or a file name.
"""

from __future__ import annotations

import keyword
import re

from kitgen._yaml import show
from kitgen.manifest._reserved import (
    CLASS_NAMES_TAKEN,
    ENTITY_CLASS_SUFFIXES,
    ENTITY_FIELD_NAMES_TAKEN,
    ENTITY_MODULES_TAKEN,
    EVENT_FIELD_NAMES_TAKEN,
    PYTHON_KEYWORDS,
    ROUTES_TAKEN,
    SQL_RESERVED,
    SYSTEM_PREFIX,
    SYSTEM_SCHEMAS,
    TABLES_TAKEN,
    column_alternative,
    table_alternative,
)
from kitgen.manifest.naming import consumer_module, is_event_name, route_of, snake_case

__all__ = [
    "NAME_MAX",
    "SQL_NAME_MAX",
    "check_class_name",
    "check_entity_field_name",
    "check_entity_name",
    "check_enum_value",
    "check_event_field_name",
    "check_group",
    "check_handle",
    "check_identifier",
    "check_package",
    "check_schema_name",
    "check_slug",
    "check_stream",
    "check_table",
    "check_text",
    "show",
]

NAME_MAX = 60
SQL_NAME_MAX = 63  # PostgreSQL truncates identifiers longer than this
STREAM_MAX = 200
TEXT_MAX = 10_000

_CLASS = re.compile(r"[A-Z][A-Za-z0-9]*")
_SNAKE = re.compile(r"[a-z][a-z0-9_]*")
_SLUG = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*")
_PACKAGE = re.compile(r"[a-z_][a-z0-9_]*")
_SQL = re.compile(r"[a-z_][a-z0-9_]*")
_STREAM = re.compile(r"[A-Za-z0-9:_.-]+")
_GLOB = re.compile(r"[a-z0-9_.*]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _why_not(value: str) -> str:
    """The most telling reason a string failed a name regex (before the rule itself)."""
    if not value:
        return "is empty"
    if _CONTROL.search(value):
        return "contains a control character"
    if any(char in value for char in "'\"`\\"):
        return "contains a quote or backslash"
    if "/" in value or value.startswith("."):
        return "looks like a path"
    if any(char.isspace() for char in value):
        return "contains whitespace"
    return "is not allowed"


def _match(value: str, pattern: re.Pattern[str], limit: int, what: str, rule: str) -> None:
    if len(value) > limit:
        raise ValueError(
            f"{what} {show(value)} is too long ({len(value)}); at most {limit} characters"
        )
    if not pattern.fullmatch(value):
        raise ValueError(f"{what} {show(value)} {_why_not(value)}; {rule}")


def _not_keyword(value: str, what: str) -> None:
    if value in PYTHON_KEYWORDS:
        raise ValueError(f"{what} {show(value)} is a Python keyword; choose another name")


def check_text(value: str, what: str = "text") -> str:
    """Free text (a default value): bounded, no control characters."""
    if len(value) > TEXT_MAX:
        raise ValueError(f"{what} is too long ({len(value)}); at most {TEXT_MAX} characters")
    if _CONTROL.search(value):
        raise ValueError(f"{show(value)} contains a control character (newline, tab, ...)")
    return value


def check_class_name(value: str, what: str = "name") -> str:
    """An entity or event name: becomes a Python class."""
    _match(
        value,
        _CLASS,
        NAME_MAX,
        what,
        "use PascalCase: an upper-case letter, then letters and digits (e.g. OrderItem)",
    )
    _not_keyword(value, what)
    if value in CLASS_NAMES_TAKEN:
        raise ValueError(
            f"{what} {show(value)} is a name the generated code already imports; choose another"
        )
    return value


def check_entity_name(value: str) -> str:
    """An entity name: a class, and the classes, module and route derived from it."""
    check_class_name(value)
    _check_entity_classes(value)
    _check_entity_module(value, snake_case(value))
    route = route_of(value)
    if route in ROUTES_TAKEN:
        raise ValueError(
            f"name {show(value)} gives the route '/{route}', which the app already "
            "serves; choose another"
        )
    return value


def _check_entity_classes(value: str) -> None:
    for suffix in ENTITY_CLASS_SUFFIXES:
        if value + suffix in CLASS_NAMES_TAKEN:
            raise ValueError(
                f"name {show(value)} gives the class {show(value + suffix)}, a name the "
                "generated code already imports; choose another"
            )


def _check_entity_module(value: str, module: str) -> None:
    # The module is a file in models/, schemas/, repositories/, routers/ and tests/.
    if keyword.iskeyword(module):
        raise ValueError(
            f"name {show(value)} gives the module {show(module)}, a Python keyword; choose another"
        )
    if module in ENTITY_MODULES_TAKEN:
        raise ValueError(
            f"name {show(value)} gives the module {show(module)}, which would take the "
            f"place of the template's {ENTITY_MODULES_TAKEN[module]}; choose another"
        )


def _check_snake(value: str, what: str) -> None:
    _match(
        value,
        _SNAKE,
        NAME_MAX,
        what,
        "use snake_case: a lower-case letter, then lower-case letters, digits and '_'",
    )
    _not_keyword(value, what)
    if value.startswith("model_"):
        raise ValueError(
            f"{what} {show(value)} starts with 'model_', which pydantic reserves; choose another"
        )


def check_entity_field_name(value: str) -> str:
    """A field of an entity: a Python attribute and a SQL column."""
    _check_snake(value, "field name")
    if value in ENTITY_FIELD_NAMES_TAKEN:
        raise ValueError(
            f"field name {show(value)} is generated or used by the generated code "
            "(id, created_at, updated_at, SQLAlchemy/pydantic attributes, imported names); "
            "choose another"
        )
    if value in SQL_RESERVED:
        raise ValueError(
            f"field name {show(value)} is an SQL reserved word; use "
            f"{show(column_alternative(value))}"
        )
    return value


def check_event_field_name(value: str) -> str:
    """A field of an event: a pydantic attribute (not a column, so SQL words are fine)."""
    _check_snake(value, "field name")
    if value in EVENT_FIELD_NAMES_TAKEN:
        raise ValueError(
            f"field name {show(value)} is part of every event's envelope or used by the "
            "generated code (id, timestamp, correlation_id, causation_id, metadata, ...); "
            "choose another"
        )
    return value


def check_identifier(value: str, what: str = "name") -> str:
    """A lower-case identifier that becomes a Python name (an enum member, a method)."""
    _match(
        value,
        _SNAKE,
        SQL_NAME_MAX,
        what,
        "use a lower-case identifier: a letter, then lower-case letters, digits and '_'",
    )
    _not_keyword(value, what)
    return value


def check_enum_value(value: str) -> str:
    """An enum value: a Python enum member and a PostgreSQL enum label."""
    return check_identifier(value, "enum value")


def check_slug(value: str, what: str) -> str:
    """A service name or consumer group: lower-case words joined by '-'."""
    _match(
        value,
        _SLUG,
        NAME_MAX,
        what,
        "use lower-case letters and digits in words joined by '-' (e.g. order-sync)",
    )
    return value


def check_group(value: str) -> str:
    """A consumer group: a slug whose module (dashes to '_') is importable."""
    check_slug(value, "group")
    module = consumer_module(value)
    if keyword.iskeyword(module):
        raise ValueError(
            f"group {show(value)} gives the module {show(module)}, a Python keyword; choose another"
        )
    return value


def check_package(value: str) -> str:
    """The service's Python package."""
    _match(
        value,
        _PACKAGE,
        NAME_MAX,
        "package",
        "use a lower-case Python identifier (letters, digits, '_')",
    )
    _not_keyword(value, "package")
    return value


def _check_sql(value: str, what: str) -> None:
    _match(
        value,
        _SQL,
        SQL_NAME_MAX,
        what,
        "use a lower-case SQL identifier: a letter or '_', then lower-case letters, digits, '_'",
    )


def check_table(value: str) -> str:
    """A table name (given or derived)."""
    _check_sql(value, "table")
    if value in SQL_RESERVED:
        raise ValueError(
            f"table {show(value)} is an SQL reserved word; use {show(table_alternative(value))}"
        )
    if value.startswith(SYSTEM_PREFIX):
        raise ValueError(
            f"table {show(value)} starts with '{SYSTEM_PREFIX}', the prefix of PostgreSQL's "
            "system catalogs, which come first on every search path"
        )
    if value in TABLES_TAKEN:
        raise ValueError(
            f"table {show(value)} is taken by the service itself (alembic_version: Alembic's "
            "record of migrations; outbox: the events waiting for the relay)"
        )
    return value


def check_schema_name(value: str) -> str:
    """A database schema name."""
    _check_sql(value, "schema")
    if value in SQL_RESERVED:
        raise ValueError(f"schema {show(value)} is an SQL reserved word; choose another name")
    if value.startswith(SYSTEM_PREFIX) or value in SYSTEM_SCHEMAS:
        raise ValueError(
            f"schema {show(value)} is reserved for PostgreSQL's system schemas "
            f"(information_schema and every name starting '{SYSTEM_PREFIX}'); "
            "choose another name"
        )
    return value


def check_stream(value: str) -> str:
    """A Redis stream key."""
    _match(
        value,
        _STREAM,
        STREAM_MAX,
        "stream",
        "use letters, digits and ':', '_', '.', '-' (e.g. orders:events)",
    )
    return value


def check_handle(value: str) -> str:
    """One entry of a consumer's ``handles``: an event name or a routing-key glob."""
    if is_event_name(value):
        return check_class_name(value, "event")
    _match(
        value,
        _GLOB,
        STREAM_MAX,
        "handle",
        "use an event name declared in this manifest (e.g. OrderPlaced) or a routing-key "
        "glob of lower-case letters, digits, '_', '.' and '*' (e.g. order.*)",
    )
    return value
