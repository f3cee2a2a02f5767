"""The harness itself: a refused command leaves the copy byte-identical."""

from __future__ import annotations

from pathlib import Path

from tests.hostile._harness import assert_refused, assert_unchanged, kitgen, tree_state


def test_unknown_field_type_is_refused_and_writes_nothing(service: Path) -> None:
    before = tree_state(service)
    result = kitgen(service, "add", "repository", "Product", "--field", "price:money")
    assert_refused(result, says="money")
    assert_unchanged(before, service)
