"""PartialUpdate: PATCH bodies where any subset of fields may be sent."""

from __future__ import annotations

from typing import ClassVar

import pytest
from pydantic import Field, ValidationError

from servicekit.database import PartialUpdate


class ArticleUpdate(PartialUpdate):
    NOT_NULL: ClassVar[frozenset[str]] = frozenset({"title", "words"})

    title: str | None = Field(default=None, max_length=20)
    words: int | None = None
    subtitle: str | None = None  # a nullable column


def test_fields_left_out_are_not_set_and_null_is_refused_where_the_column_cannot_hold_it() -> None:
    assert ArticleUpdate.model_validate({"words": 3}).model_dump(exclude_unset=True) == {"words": 3}
    assert ArticleUpdate.model_validate({"subtitle": None}).subtitle is None
    with pytest.raises(ValidationError, match="title cannot be null"):
        ArticleUpdate.model_validate({"title": None})
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        ArticleUpdate.model_validate({"author": "me"})


def test_the_json_schema_offers_null_only_for_nullable_columns() -> None:
    properties = ArticleUpdate.model_json_schema()["properties"]
    assert properties["title"] == {"type": "string", "maxLength": 20, "title": "Title"}
    assert properties["words"] == {"type": "integer", "title": "Words"}
    assert {"type": "null"} in properties["subtitle"]["anyOf"]
