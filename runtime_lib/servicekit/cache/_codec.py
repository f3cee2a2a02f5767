"""JSON encoding shared by the Redis cache and the typed stores.

Values are written with orjson. It encodes ``datetime``, ``date``, ``time``, ``UUID``,
``Enum`` and dataclasses natively; :func:`_default` adds Pydantic models, ``Decimal`` (as
a string, so no precision is lost) and sets. Reading back yields plain JSON unless a target
type is known, in which case Pydantic validates the bytes straight into that type; that is
what makes ``datetime``/``Decimal``/``UUID``/``Enum``/model values round-trip.
"""

from __future__ import annotations

import functools
import types
import typing
from decimal import Decimal
from typing import Any

import orjson
from pydantic import BaseModel, TypeAdapter

_OPTIONS = orjson.OPT_NON_STR_KEYS

# Types whose values orjson.loads already returns exactly as they were written, so a read
# needs no validation (skipping it keeps a cache hit as cheap as a hand-written json.loads).
_PLAIN_JSON: frozenset[Any] = frozenset(
    {Any, object, None, type(None), str, int, float, bool, dict, list}
)


def _default(value: object) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, set | frozenset):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def dumps(value: object) -> bytes:
    """Encode ``value`` as compact JSON bytes; :class:`TypeError` if it cannot be."""
    return orjson.dumps(value, default=_default, option=_OPTIONS)


loads = orjson.loads


def _is_plain_json(tp: Any) -> bool:
    if tp in _PLAIN_JSON:
        return True
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is dict:  # JSON object keys are strings: dict[int, X] must be validated
        return args[0] is str and _is_plain_json(args[1])
    if origin in (list, typing.Union, types.UnionType):
        return all(_is_plain_json(arg) for arg in args)
    return False


@functools.lru_cache(maxsize=1024)
def validator(tp: Any) -> TypeAdapter[Any]:
    """A cached, always-validating adapter for ``tp`` (what the strict stores use)."""
    return TypeAdapter(tp)


@functools.lru_cache(maxsize=1024)
def adapter_for(tp: Any) -> TypeAdapter[Any] | None:
    """The cache's reader for ``tp``: ``None`` when plain JSON already is the answer.

    The cache trusts what it wrote itself; a value that does not fit is a bug upstream or
    an old schema, and for rich types validation still catches it.
    """
    return None if _is_plain_json(tp) else validator(tp)


@functools.lru_cache(maxsize=1024)
def return_adapter(func: Any) -> TypeAdapter[Any] | None:
    """The validator for ``func``'s return annotation (``None`` if it has none).

    Resolved once per function: ``get_type_hints`` is far too slow for a cache-hit path.
    """
    try:
        hints = typing.get_type_hints(func)
    except Exception:  # unresolvable forward references: fall back to plain JSON
        return None
    return adapter_for(hints.get("return", Any))


def decode(raw: bytes | str, adapter: TypeAdapter[Any] | None) -> Any:
    """Decode JSON ``raw``, validating it into the adapter's type when one is given."""
    if adapter is None:
        return orjson.loads(raw)
    return adapter.validate_json(raw)
