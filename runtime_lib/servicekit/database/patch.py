"""``PartialUpdate``: the base of PATCH bodies, where any subset of the fields may be sent."""

from __future__ import annotations

from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, GetJsonSchemaHandler, model_validator
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

__all__ = ["PartialUpdate"]


class PartialUpdate(BaseModel):
    """A PATCH body: every field is optional, and one left out keeps its stored value.

    Declare each field ``T | None = None`` and read the body with
    ``model_dump(exclude_unset=True)``. The fields whose column cannot hold NULL are listed
    in ``NOT_NULL``: for them an explicit ``null`` is refused (a 422), where the database
    would otherwise refuse it later with a constraint error, and the JSON schema (the
    OpenAPI document) does not offer ``null`` either. Unknown fields are refused.
    """

    model_config = ConfigDict(extra="forbid")

    NOT_NULL: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="after")
    def _refuse_null_for_not_null_columns(self) -> Self:
        for name in sorted(self.model_fields_set & self.NOT_NULL):
            if getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null: leave it out to keep its value")
        return self

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        properties: dict[str, Any] = handler.resolve_ref_schema(schema).get("properties", {})
        for name in cls.NOT_NULL & properties.keys():
            properties[name] = _without_null(properties[name])
        return schema


def _without_null(field: dict[str, Any]) -> dict[str, Any]:
    """``field``'s schema without its ``null`` alternative (and the ``null`` default that
    only stands for "not sent")."""
    choices = [choice for choice in field.get("anyOf", []) if choice.get("type") != "null"]
    rest = {key: value for key, value in field.items() if key not in ("anyOf", "default")}
    if len(choices) == 1:
        return {**choices[0], **rest}
    return {**rest, "anyOf": choices} if choices else rest
