"""Command-line field specs: ``--field price:decimal:precision=12:scale=2``.

Syntax: ``NAME:TYPE[:OPTION]...``. An option is a bare flag (``nullable``, ``unique``,
``index``) or ``KEY=VALUE``: ``max_length=120``, ``precision=12``, ``scale=2``,
``values=draft|live``, ``to=Customer``, ``on_delete=cascade`` (``set-null`` and
``no-action`` are accepted for the spaced forms), ``default=VALUE``.

``default`` is read as a YAML value (``0``, ``1.5``, ``true``, ``null``, ``[a, b]``); for
str, text, enum and decimal it is taken literally unless quoted (``default=1.50`` on a
decimal keeps its two decimals; YAML would read the float 1.5). A default that
contains ``:`` keeps the colons: following parts that are not options stay part of it.
The result is validated by the same model as the manifest, so a spec that parses is a
field the manifest accepts (apart from cross-checks such as the ``to`` entity existing).
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ValidationError
from ruamel.yaml.error import YAMLError
from ruamel.yaml.reader import ReaderError

from kitgen.manifest import _render
from kitgen.manifest._names import show
from kitgen.manifest._problems import problems
from kitgen.manifest._yaml import format_path, new_yaml, to_plain
from kitgen.manifest.errors import ManifestError, SpecError
from kitgen.manifest.schema import EVENT_FIELD_TYPES, FIELD_TYPES, EntityField, EventField

__all__ = ["parse_event_field_spec", "parse_field_spec"]

SPEC_MAX = 4000
_FLAGS = ("nullable", "unique", "index")
_INT_OPTIONS = ("max_length", "precision", "scale")
_FIELD_OPTIONS = (*_FLAGS, *_INT_OPTIONS, "values", "to", "on_delete", "default")
_ALLOWED_OPTIONS = (
    "nullable, unique, index, max_length=N, precision=N, scale=N, values=a|b, to=Entity, "
    "on_delete=cascade|restrict|set-null|no-action, default=VALUE"
)
_LITERAL_TYPES = frozenset({"str", "text", "enum", "decimal"})
_BOOLS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}


def _option_like(part: str, options: tuple[str, ...]) -> bool:
    key = part.split("=", 1)[0].strip()
    return key in options and (key in _FLAGS or "=" in part)


def _parse_default(raw: str, field_type: str, fail: Any) -> Any:
    if field_type in _LITERAL_TYPES and not raw.startswith(("'", '"')):
        return raw
    try:
        return to_plain(new_yaml().load(raw), "default")
    except ManifestError as exc:  # the value has no place in a file: no line and column
        raise fail(f"default={raw}: {exc.problem}") from None
    except ReaderError:
        raise fail(f"default={raw}: contains a control character") from None
    except YAMLError as exc:
        problem = getattr(exc, "problem", None) or "not a YAML value"
        raise fail(f"default={raw}: {' '.join(str(problem).split())}") from None


def _split(spec: str, flag: str, options: tuple[str, ...]) -> tuple[str, str, list[str], Any]:
    def fail(message: str) -> SpecError:
        return SpecError(f"{flag} {show(spec, 80)}: {message}")

    if len(spec) > SPEC_MAX:
        raise fail(f"too long; at most {SPEC_MAX} characters")
    parts = spec.split(":")
    if len(parts) < 2 or not parts[0].strip() or not parts[1].strip():
        raise fail("expected NAME:TYPE[:OPTION...], e.g. price:decimal:precision=12:scale=2")
    # A default keeps its colons: glue on following parts that are not options.
    merged: list[str] = []
    for part in parts[2:]:
        if merged and merged[-1].startswith("default=") and not _option_like(part, options):
            merged[-1] += ":" + part
        else:
            merged.append(part)
    return parts[0].strip(), parts[1].strip(), merged, fail


def _validated(
    model: type[BaseModel], field: dict[str, Any], fail: Any, kind: Any
) -> dict[str, Any]:
    try:
        model.model_validate(field)
    except ValidationError as exc:
        first = problems(exc)[0]
        where = format_path(first.path)
        raise fail(f"{where + ': ' if where else ''}{first.message}") from None
    result: dict[str, Any] = _render.canonical(field, kind)
    return result


def _check_type(field_type: str, allowed: tuple[str, ...], fail: Any) -> None:
    if field_type not in allowed:
        raise fail(f"unknown type {show(field_type)}; allowed: {', '.join(allowed)}")


def parse_field_spec(spec: str, *, flag: str = "--field") -> dict[str, Any]:
    """``"price:decimal:precision=12:scale=2"`` -> ``{"name": "price", "type": "decimal", ...}``.

    Raises :class:`SpecError` naming ``flag`` and the spec.
    """
    name, field_type, options, fail = _split(spec, flag, _FIELD_OPTIONS)
    _check_type(field_type, FIELD_TYPES, fail)
    field: dict[str, Any] = {"name": name, "type": field_type}
    for option in options:
        key, has_value, raw = (part.strip() for part in option.partition("="))
        if key == "default":
            value: Any = _parse_default(option.partition("=")[2], field_type, fail)
        elif key not in _FIELD_OPTIONS:
            raise fail(f"unknown option {show(key)}; allowed: {_ALLOWED_OPTIONS}")
        elif key in _FLAGS:
            if has_value and raw.lower() not in _BOOLS:
                raise fail(f"{key}={raw}: expected true or false")
            value = _BOOLS[raw.lower()] if has_value else True
        elif not has_value or not raw:
            raise fail(f"option {key!r} needs a value: {key}=...")
        elif key in _INT_OPTIONS:
            if not re.fullmatch(r"-?[0-9]{1,12}", raw):
                raise fail(f"{key}={raw}: expected an integer")
            value = int(raw)
        elif key == "values":
            value = [item.strip() for item in raw.split("|")]
        elif key == "on_delete":
            value = re.sub(r"[-_]", " ", raw.lower())
        else:
            value = raw
        if key in field:
            raise fail(f"option {key!r} given twice")
        field[key] = value
    return _validated(EntityField, field, fail, "field")


def parse_event_field_spec(spec: str, *, flag: str = "--field") -> dict[str, Any]:
    """``"order_id:uuid"`` or ``"note:str:nullable"`` -> an event field dict."""
    name, field_type, options, fail = _split(spec, flag, ("nullable",))
    _check_type(field_type, EVENT_FIELD_TYPES, fail)
    field: dict[str, Any] = {"name": name, "type": field_type}
    for option in options:
        key, has_value, raw = (part.strip() for part in option.partition("="))
        if key != "nullable":
            raise fail(f"unknown option {show(key)}; allowed: nullable")
        if has_value and raw.lower() not in _BOOLS:
            raise fail(f"nullable={raw}: expected true or false")
        field["nullable"] = _BOOLS[raw.lower()] if has_value else True
    return _validated(EventField, field, fail, "event_field")
