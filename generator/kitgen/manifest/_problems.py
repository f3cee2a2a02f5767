"""Turn pydantic's ``ValidationError`` into manifest problems: a path and one-line text."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, get_args

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from kitgen.manifest._names import show
from kitgen.manifest._yaml import KeyPath
from kitgen.manifest.schema import LocatedError, Manifest

__all__ = ["Problem", "problems"]


def _models_in(annotation: Any) -> Iterator[type[BaseModel]]:
    """The models a field's type holds (``Entity`` in ``list[Entity]``, ``X`` in ``X | None``)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
    for arg in get_args(annotation):
        yield from _models_in(arg)


def _models_below(
    model: type[BaseModel], at: tuple[str, ...] = ()
) -> dict[tuple[str, ...], type[BaseModel]]:
    table: dict[tuple[str, ...], type[BaseModel]] = {at: model}
    for name, info in model.model_fields.items():
        for inner in _models_in(info.annotation):
            table.update(_models_below(inner, (*at, info.alias or name)))
    return table


# The model at a location, keyed by the location's names with list indexes dropped.
_MODELS = _models_below(Manifest)

_EXPECTED = {
    "bool_type": "expected true or false",
    "int_type": "expected an integer",
    "float_type": "expected a number",
    "string_type": "expected a string",
    "list_type": "expected a list",
    "dict_type": "expected a mapping",
    "model_type": "expected a mapping",
    "model_attributes_type": "expected a mapping",
}


@dataclass(frozen=True)
class Problem:
    """One thing wrong: where (``path`` into the document; the key itself when ``at_key``)."""

    path: KeyPath
    message: str
    at_key: bool = False


def _allowed_keys(path: KeyPath) -> list[str]:
    model = _MODELS.get(tuple(part for part in path if isinstance(part, str)))
    if model is None:
        return []
    return [info.alias or name for name, info in model.model_fields.items()]


def _problem(error: ErrorDetails, prefix: KeyPath) -> Problem:
    loc: KeyPath = (*prefix, *(part for part in error["loc"]))
    kind = error["type"]
    context: dict[str, Any] = dict(error.get("ctx") or {})
    cause = context.get("error")
    if isinstance(cause, LocatedError):
        return Problem((*loc, *cause.path), cause.message, cause.at_key)
    if isinstance(cause, ValueError):
        return Problem(loc, str(cause))
    if kind == "extra_forbidden":
        allowed = ", ".join(_allowed_keys(loc[:-1]))
        return Problem(loc, f"unknown key '{loc[-1]}'; allowed: {allowed}", at_key=True)
    if kind == "missing":
        return Problem(loc, "required key missing")
    if kind in _EXPECTED:
        return Problem(loc, f"{_EXPECTED[kind]}, got {show(error['input'])}")
    if kind == "too_short":
        least = context.get("min_length", 1)
        return Problem(loc, "must not be empty" if least == 1 else f"needs {least} or more items")
    if kind == "greater_than_equal":
        return Problem(loc, f"must be at least {context.get('ge')}, got {show(error['input'])}")
    return Problem(loc, error["msg"])


def problems(exc: ValidationError, prefix: KeyPath = ()) -> list[Problem]:
    """Every error of ``exc`` as a :class:`Problem`, paths prefixed with ``prefix``."""
    return [_problem(error, prefix) for error in exc.errors()]
