"""An entity field's options checked against its type: which apply, their limits, what is needed.

``max_length`` only for str, ``precision``/``scale`` only for decimal (within PostgreSQL's
limits), ``values`` for enum (required, each once), ``to``/``on_delete`` for fk (``to``
required; ``set null`` only on a nullable field); last, the default must fit the field.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kitgen.manifest._references import LocatedError, unique

if TYPE_CHECKING:
    from kitgen.manifest.schema import EntityField

__all__ = [
    "MAX_LENGTH_DEFAULT",
    "MAX_LENGTH_LIMIT",
    "PRECISION_DEFAULT",
    "PRECISION_LIMIT",
    "SCALE_DEFAULT",
    "check_options",
]

MAX_LENGTH_DEFAULT = 255
MAX_LENGTH_LIMIT = 10_485_760  # PostgreSQL's limit for varchar(n)
PRECISION_DEFAULT = 12
PRECISION_LIMIT = 1000
SCALE_DEFAULT = 2

# Options beyond nullable/unique/index/default, and the types they apply to.
_TYPE_OPTIONS: dict[str, tuple[str, ...]] = {
    "max_length": ("str",),
    "precision": ("decimal",),
    "scale": ("decimal",),
    "values": ("enum",),
    "to": ("fk",),
    "on_delete": ("fk",),
}


def check_options(field: EntityField) -> None:
    """:class:`LocatedError` at the first option of ``field`` its type does not allow."""
    for option, types in _TYPE_OPTIONS.items():
        if option in field.model_fields_set and field.type not in types:
            raise LocatedError(
                (option,),
                f"option not valid for type '{field.type}'; {option} applies to type "
                + " and ".join(f"'{t}'" for t in types),
                at_key=True,
            )
    _check_ranges(field)
    if field.type == "enum" and not field.values:
        raise LocatedError(
            ("values",) if field.values is not None else (),
            "type 'enum' needs 'values': a non-empty list of lower-case identifiers",
        )
    if field.type == "fk" and field.to is None:
        raise LocatedError((), "type 'fk' needs 'to': the name of the entity it points at")
    if field.on_delete == "set null" and not field.nullable:
        raise LocatedError(
            ("on_delete",), "on_delete 'set null' needs 'nullable: true' on the field"
        )
    if field.has_default:
        try:
            field.python_default()
        except ValueError as exc:
            raise LocatedError(("default",), str(exc)) from None


def _check_ranges(field: EntityField) -> None:
    if field.max_length is not None and not 1 <= field.max_length <= MAX_LENGTH_LIMIT:
        raise LocatedError(
            ("max_length",),
            f"max_length must be between 1 and {MAX_LENGTH_LIMIT}, got {field.max_length}",
        )
    if field.precision is not None and not 1 <= field.precision <= PRECISION_LIMIT:
        raise LocatedError(
            ("precision",),
            f"precision must be between 1 and {PRECISION_LIMIT}, got {field.precision}",
        )
    precision = field.resolved_precision
    scale = field.resolved_scale
    if precision is not None and scale is not None and not 0 <= scale <= precision:
        raise LocatedError(
            ("scale",) if field.scale is not None else ("precision",),
            f"scale must be between 0 and precision ({precision}), got {scale}",
        )
    if field.values is not None:
        unique(field.values, lambda index: ("values", index), "duplicate enum value '{key}'")
