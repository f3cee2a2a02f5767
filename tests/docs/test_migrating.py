"""docs/migrating.md names only servicekit objects that exist.

Every dotted ``servicekit.`` name the page quotes in backticks (the tables name each
replacement that way) must import, so a rename in the runtime fails here instead of
leaving the migration guide pointing at nothing.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"
PAGE = DOCS / "migrating.md"
NAME = re.compile(r"`(servicekit(?:\.\w+)+)")


def _names() -> list[str]:
    return sorted(set(NAME.findall(PAGE.read_text(encoding="utf-8"))))


def _resolve(dotted: str) -> Any:
    """Import the longest module prefix of ``dotted``, then look the rest up on it."""
    parts = dotted.split(".")
    for split in range(len(parts), 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:split]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[split:]:
            obj = getattr(obj, attribute)
        return obj
    raise ModuleNotFoundError(dotted)


def test_the_page_names_enough_to_be_checked() -> None:
    assert len(_names()) >= 50


@pytest.mark.parametrize("dotted", _names())
def test_every_servicekit_name_on_the_page_resolves(dotted: str) -> None:
    _resolve(dotted)


def test_the_page_is_linked_from_the_index() -> None:
    assert "(migrating.md)" in (DOCS / "index.md").read_text(encoding="utf-8")
