"""An entity field's ``default``: checked against the field and turned into a Python value.

Strict like the rest of the schema: a default must already have the field's type (``"12"``
is not an integer, ``1`` is not ``true``), fit its options (max_length, enum values,
numeric(precision, scale)) and the column's range.
"""

from __future__ import annotations

import math
from decimal import Context, Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from kitgen.manifest._names import check_text, show
from kitgen.manifest._options import PRECISION_DEFAULT, PRECISION_LIMIT

if TYPE_CHECKING:
    from kitgen.manifest.schema import EntityField

__all__ = ["python_default"]

_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)
_NO_DEFAULT_TYPES = frozenset({"date", "datetime", "uuid", "fk"})


def python_default(field: EntityField) -> Any:
    """``field``'s validated default as a Python value (``Decimal`` for decimal fields).

    ``None`` when the field has no default. Raises :class:`ValueError` when the default
    does not fit the field.
    """
    if not field.has_default:
        return None
    value = field.default
    if value is None:
        if not field.nullable:
            raise ValueError("null needs 'nullable: true'; or leave the default out")
        return None
    kind = field.type
    if kind in _NO_DEFAULT_TYPES:
        raise ValueError(f"type '{kind}' takes no default")
    if kind in ("str", "text", "enum"):
        return _text_default(field, value)
    if kind in ("int", "bigint"):
        return _int_in(value, _INT32 if kind == "int" else _INT64, kind)
    if kind == "float":
        return _float_default(value)
    if kind == "decimal":
        return _decimal_default(field, value)
    if kind == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"must be true or false for type 'bool', got {show(value)}")
        return value
    if kind in ("list[str]", "list[int]"):
        if not isinstance(value, list):
            raise ValueError(f"must be a list for type '{kind}', got {show(value)}")
        if kind == "list[str]":
            for item in value:
                if not isinstance(item, str):
                    raise ValueError(f"items must be strings, got {show(item)}")
                check_text(item, "default item")
            return list(value)
        return [_int_in(item, _INT32, "list[int]") for item in value]
    return _json_value(value)


def _text_default(field: EntityField, value: object) -> str:
    kind = field.type
    if not isinstance(value, str):
        raise ValueError(f"must be a string for type '{kind}', got {show(value)}")
    check_text(value, "default")
    limit = field.resolved_max_length
    if limit is not None and len(value) > limit:
        raise ValueError(f"{show(value)} is {len(value)} characters long; max_length is {limit}")
    if kind == "enum" and value not in (field.values or []):
        raise ValueError(
            f"{show(value)} is not one of the values: " + ", ".join(field.values or [])
        )
    return value


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _int_in(value: object, bounds: tuple[int, int], what: str) -> int:
    if not _is_int(value):
        raise ValueError(f"must be an integer for type '{what}', got {show(value)}")
    assert isinstance(value, int)
    low, high = bounds
    if not low <= value <= high:
        raise ValueError(f"{value} is out of range for type '{what}' ({low}..{high})")
    return value


def _float_default(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"must be a number for type 'float', got {show(value)}")
    try:
        number = float(value)
    except OverflowError:
        raise ValueError(f"{value} is too large for type 'float'") from None
    if not math.isfinite(number):
        raise ValueError(f"{show(value)} is not a finite number")
    return number


def _decimal_default(field: EntityField, value: object) -> Decimal:
    """The default as the column stores it: ``numeric(precision, scale)``, ``scale`` places.

    The checks count digits instead of doing arithmetic, so an exponent like ``1e999999999``
    cannot overflow Python's decimal context; the result is quantized to the scale, so a
    default written ``0E-999999`` reaches Postgres as ``0.00``, not as a value whose
    exponent overflows the numeric format at insert time.
    """
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(
            f"must be a number or a numeric string for type 'decimal', got {show(value)}"
        )
    precision = field.resolved_precision or PRECISION_DEFAULT
    scale = field.resolved_scale or 0
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"{show(value)} is not a decimal number") from None
    if not number.is_finite():
        raise ValueError(f"{show(value)} is not a finite number")
    digits, exponent = _significant(number)
    if digits and -exponent > scale:
        raise ValueError(f"{show(value)} has more than {scale} decimal places")
    if digits and len(digits) + exponent > precision - scale:
        raise ValueError(f"{show(value)} does not fit numeric({precision}, {scale})")
    negative = bool(digits) and number.is_signed()  # no "-0.00" in generated code
    return Decimal((negative, digits or (0,), exponent)).quantize(
        Decimal((0, (1,), -scale)), context=Context(prec=PRECISION_LIMIT + 1)
    )


def _significant(number: Decimal) -> tuple[tuple[int, ...], int]:
    """``number``'s digits without leading or trailing zeros, and the exponent that goes
    with them; no digits for zero (whatever its exponent)."""
    _, digits, exponent = number.as_tuple()
    assert isinstance(exponent, int)  # finite
    significant = list(digits)
    while significant and significant[-1] == 0:
        significant.pop()
        exponent += 1
    while significant and significant[0] == 0:
        significant.pop(0)
    return tuple(significant), exponent if significant else 0


def _json_value(value: object, depth: int = 0) -> Any:
    if depth > 20:
        raise ValueError("is nested too deeply")
    if value is None or isinstance(value, bool | str):
        return check_text(value, "default") if isinstance(value, str) else value
    if _is_int(value):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{show(value)} is not a finite number")
        return value
    if isinstance(value, list):
        return [_json_value(item, depth + 1) for item in value]
    if isinstance(value, dict):
        return {
            check_text(key, "default key"): _json_value(item, depth + 1)
            for key, item in value.items()
        }
    raise ValueError(f"{show(value)} is not a JSON value")
