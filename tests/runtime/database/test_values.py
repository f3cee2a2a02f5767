"""servicekit.database.values: what an API built on them accepts, and the runtime guards."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Annotated, Any

import pytest
from pydantic import TypeAdapter, ValidationError
from sqlalchemy.dialects import postgresql

from servicekit.database import (
    DecimalText,
    Float64,
    IndexKeyBytes,
    Int32,
    Int64,
    ISODate,
    RowId,
    StorableJson,
    StorableText,
    UTCDateTime,
    UTCTimestamp,
)
from servicekit.database._statements import statements_for
from tests.runtime.database.models import Product

Price = Annotated[Decimal, DecimalText(5, 2)]
Indexed = Annotated[StorableText, IndexKeyBytes(8)]


@dataclass(frozen=True)
class Case:
    id: str
    kind: Any
    value: object
    accepted: bool


CASES = [
    Case("int32-max", Int32, 2**31 - 1, True),
    Case("int32-past-max", Int32, 2**31, False),
    Case("int32-string", Int32, "5", False),
    Case("int32-bool", Int32, True, False),
    Case("int64-min", Int64, -(2**63), True),
    Case("int64-past-min", Int64, -(2**63) - 1, False),
    Case("row-id-zero", RowId, 0, False),
    Case("float-int", Float64, 5, True),
    Case("float-nan", Float64, float("nan"), False),
    Case("float-infinity", Float64, float("inf"), False),
    Case("text-nul", StorableText, "a\x00b", False),
    Case("text-surrogate", StorableText, "\ud800", False),
    Case("text-plain", StorableText, "café", True),
    Case("indexed-at-limit", Indexed, "abcdefgh", True),
    Case("indexed-bytes-past-limit", Indexed, "abcdefgé", False),  # 8 characters, 9 bytes
    Case("indexed-nul", Indexed, "a\x00", False),
    Case("json-nested", StorableJson, {"a": [1, 2.5, None, {"b": "c"}]}, True),
    Case("json-nan", StorableJson, {"a": [float("nan")]}, False),
    Case("json-nul-key", StorableJson, {"a\x00": 1}, False),
    Case("json-surrogate", StorableJson, ["\udfff"], False),
    Case("decimal-string", Price, "-123.45", True),
    Case("decimal-too-wide", Price, "1234.5", False),
    Case("decimal-float", Price, 1.5, False),
    Case("decimal-exponent", Price, "1e2", False),
    Case("decimal-nan", Price, "NaN", False),
    Case("date-iso", ISODate, "2024-02-29", True),
    Case("date-number", ISODate, 0, False),
    Case("date-timestamp", ISODate, "2024-02-29T00:00:00Z", False),
    Case("timestamp-offset", UTCTimestamp, "2024-05-01T12:00:00+02:00", True),
    Case("timestamp-naive", UTCTimestamp, "2024-05-01T12:00:00", False),
    Case("timestamp-number", UTCTimestamp, 0, False),
    Case("timestamp-before-year-1", UTCTimestamp, "0001-01-01T00:00:00+01:00", False),
]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_values_accepted_are_exactly_what_both_databases_store(case: Case) -> None:
    adapter: TypeAdapter[Any] = TypeAdapter(case.kind)
    if case.accepted:
        adapter.validate_python(case.value)
    else:
        with pytest.raises(ValidationError):
            adapter.validate_python(case.value)


def test_timestamps_are_normalised_to_utc() -> None:
    adapter: TypeAdapter[datetime] = TypeAdapter(UTCTimestamp)
    stored = adapter.validate_python("2024-05-01T12:00:00+02:00")
    assert stored == datetime(2024, 5, 1, 10, tzinfo=UTC)
    assert stored.utcoffset() == timedelta(0)


def test_decimal_schema_documents_exactly_the_accepted_strings() -> None:
    schema = TypeAdapter(Price).json_schema(mode="validation")
    assert schema == {"type": "string", "pattern": "^-?[0-9]{1,3}(\\.[0-9]{1,2})?$"}


def test_a_page_past_the_largest_offset_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="past the largest OFFSET"):
        statements_for(Product).page_stmts(None, 2**62, 200)


def test_utc_conversion_past_year_1_is_a_clear_error() -> None:
    early = datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1)))
    with pytest.raises(ValueError, match="outside the years 1 to 9999"):
        UTCDateTime().process_bind_param(early, postgresql.dialect())
