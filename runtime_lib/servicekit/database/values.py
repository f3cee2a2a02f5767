"""Pydantic types for the values a column stores: what an API may accept.

Each type admits exactly the JSON values that Postgres and the embedded SQLite both store
unchanged, so a request gets the same answer on either database and a value that cannot
be stored is a validation error (422), never a database error (500):

- integers within their column's range (``Integer`` is 32-bit, ``BigInteger`` 64-bit);
- finite floats (JSON has no NaN or Infinity; Python's parser accepts them anyway);
- text without NUL characters (Postgres refuses them) or lone surrogates;
- JSON documents made of those texts and finite numbers;
- decimals as strings with at most the column's digits (``"12.50"``, never a float);
- dates as ``YYYY-MM-DD`` and timestamps in RFC 3339 *with* an offset, normalised to UTC.

Every type is strict about its JSON type: ``"5"`` is not an integer, ``1`` is not
``true``, ``0`` is not a timestamp. Values read back from the database (Python objects,
``from_attributes``) pass the same types unchanged.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    JsonValue,
    Strict,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

__all__ = [
    "INT32_MAX",
    "INT32_MIN",
    "INT64_MAX",
    "INT64_MIN",
    "DecimalText",
    "Float64",
    "ISODate",
    "IndexKeyBytes",
    "Int32",
    "Int64",
    "RowId",
    "RowVersion",
    "StorableJson",
    "StorableText",
    "UTCTimestamp",
]

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

Int32 = Annotated[int, Strict(), Field(ge=INT32_MIN, le=INT32_MAX)]
Int64 = Annotated[int, Strict(), Field(ge=INT64_MIN, le=INT64_MAX)]
# An identity key (and a foreign key to one): generated from 1 in a 32-bit column.
RowId = Annotated[int, Strict(), Field(ge=1, le=INT32_MAX)]
# A VersionMixin version as a client sends it back: counted from 1 in a 32-bit column.
RowVersion = Annotated[int, Strict(), Field(ge=1, le=INT32_MAX)]
Float64 = Annotated[float, Strict(), Field(allow_inf_nan=False)]


def _storable_text(value: str) -> str:
    _check_text(value)
    return value


def _check_text(text: str) -> None:
    # Postgres refuses NUL in text and in JSON strings; a lone surrogate cannot be
    # encoded at all (asyncpg fails before the server sees it, SQLite stores it).
    if "\x00" in text:
        raise ValueError("text must not contain NUL characters (\\u0000)")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("text must not contain lone surrogates (\\ud800 to \\udfff)") from None


StorableText = Annotated[str, Strict(), AfterValidator(_storable_text)]


@dataclass(frozen=True, slots=True)
class IndexKeyBytes:
    """``Annotated[StorableText, IndexKeyBytes(1300)]``: text an index entry can hold.

    A Postgres B-tree entry holds at most 2,704 bytes, so a longer value in an indexed or
    unique column fails at insert time; SQLite has no such limit. The bound, in UTF-8
    bytes, keeps such a value a validation error on both databases.
    """

    limit: int

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        return core_schema.no_info_after_validator_function(self._check, handler(source))

    def _check(self, value: str) -> str:
        if len(value.encode("utf-8")) > self.limit:
            raise ValueError(f"an indexed text may be at most {self.limit} bytes in UTF-8")
        return value


def _storable_json(value: JsonValue) -> JsonValue:
    pending: list[JsonValue] = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, float) and not math.isfinite(item):
            raise ValueError("JSON numbers must be finite (no NaN or Infinity)")
        elif isinstance(item, str):
            _check_text(item)
    return value


StorableJson = Annotated[JsonValue, AfterValidator(_storable_json)]

_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_TIMESTAMP = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?(?:Z|[+-][0-9]{2}:[0-9]{2})"
)


_DATE_RULE = "must be a date string YYYY-MM-DD"
_TIMESTAMP_RULE = "must be an RFC 3339 timestamp with an offset, e.g. 2024-05-01T12:00:00Z"


def _parse_date(value: object) -> date:
    if isinstance(value, str) and _DATE.fullmatch(value):
        return date.fromisoformat(value)
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    raise ValueError(_DATE_RULE)


def _parse_timestamp(value: object) -> datetime:
    if isinstance(value, str) and _TIMESTAMP.fullmatch(value):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ValueError(_TIMESTAMP_RULE)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("is outside the years 1 to 9999 once converted to UTC") from None


ISODate = Annotated[date, BeforeValidator(_parse_date)]
UTCTimestamp = Annotated[datetime, BeforeValidator(_parse_timestamp)]


@dataclass(frozen=True, slots=True)
class DecimalText:
    """``Annotated[Decimal, DecimalText(12, 2)]``: a ``Numeric(12, 2)`` value as a string.

    Accepted: ``-?digits[.digits]`` with at most ``precision - scale`` digits before the
    point and ``scale`` after it; no exponent, no NaN, no JSON number (a float would have
    rounded it already). Documented in OpenAPI as exactly that pattern; returned as a
    string with the column's scale.
    """

    precision: int
    scale: int

    @property
    def pattern(self) -> str:
        whole = self.precision - self.scale
        integer = f"[0-9]{{1,{whole}}}" if whole else "0"
        fraction = f"(\\.[0-9]{{1,{self.scale}}})?" if self.scale else ""
        return f"^-?{integer}{fraction}$"

    def __get_pydantic_core_schema__(
        self, source: type[Any], handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        return core_schema.no_info_before_validator_function(self._parse, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        if handler.mode == "validation":
            return {"type": "string", "pattern": self.pattern}
        return handler(schema)

    def _parse(self, value: object) -> object:
        if isinstance(value, Decimal):
            return value
        if not isinstance(value, str) or not re.fullmatch(self.pattern, value):
            raise ValueError(
                f"must be a decimal string with at most {self.precision - self.scale} digits"
                f' before the point and {self.scale} after it, e.g. "12.5"'
            )
        return Decimal(value)
