"""``PartialUpdate``: the base of PATCH bodies, where any subset of the fields may be sent."""

from __future__ import annotations

from typing import ClassVar, Self

from pydantic import BaseModel, ConfigDict, model_validator

__all__ = ["PartialUpdate"]


class PartialUpdate(BaseModel):
    """A PATCH body: every field is optional, and one left out keeps its stored value.

    Declare each field ``T | None = None`` and read the body with
    ``model_dump(exclude_unset=True)``. The fields whose column cannot hold NULL are listed
    in ``NOT_NULL``: for them an explicit ``null`` is refused (a 422), where the database
    would otherwise refuse it later with a constraint error. Unknown fields are refused.
    """

    model_config = ConfigDict(extra="forbid")

    NOT_NULL: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="after")
    def _refuse_null_for_not_null_columns(self) -> Self:
        for name in sorted(self.model_fields_set & self.NOT_NULL):
            if getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null: leave it out to keep its value")
        return self
