"""The shared checks behind the schema: one uniqueness helper, one list of sections."""

from __future__ import annotations

import json
from typing import Any, get_args

import pytest

from kitgen.manifest import Manifest, ManifestDocument, ManifestError
from kitgen.manifest._references import LocatedError, unique
from kitgen.manifest.sections import SECTION_KEYS, SECTIONS


def _manifest(**sections: Any) -> str:
    """A manifest as JSON text (JSON is YAML): one entity unless ``entities`` is given."""
    data = {
        "manifest_version": 1,
        "service": "orders",
        "package": "orders",
        "entities": [{"name": "Product", "fields": [{"name": "slug", "type": "str"}]}],
        **sections,
    }
    return json.dumps(data)


def _problem(text: str) -> tuple[str, str]:
    with pytest.raises(ManifestError) as info:
        ManifestDocument(text).validate()
    return info.value.path, info.value.problem


def test_unique_reports_the_repeat_and_its_first_place() -> None:
    with pytest.raises(LocatedError) as info:
        unique(["a", "b", "a"], lambda index: ("items", index), "'{key}' again (first {first})")
    assert (info.value.path, info.value.message) == (("items", 2), "'a' again (first 0)")


def test_unique_checks_each_key_before_comparing_it() -> None:
    seen: list[tuple[int, str]] = []
    with pytest.raises(LocatedError):
        unique(["a", "b", "a", "c"], lambda i: (i,), "{key}", each=lambda i, k: seen.append((i, k)))
    assert seen == [(0, "a"), (1, "b"), (2, "a")]


@pytest.mark.parametrize(
    ("handles", "path", "problem"),
    [
        (["order.*", "order.*", "Nope"], "consumers[0].handles[1]", "'order.*' listed twice"),
        (["Nope", "order.*", "order.*"], "consumers[0].handles[0]", "unknown event 'Nope'"),
    ],
)
def test_the_first_problem_among_handles_wins(handles: list[str], path: str, problem: str) -> None:
    text = _manifest(consumers=[{"group": "billing", "handles": handles}])
    where, message = _problem(text)
    assert where == path
    assert message.startswith(problem)


@pytest.mark.parametrize(
    ("group", "path", "problem"),
    [
        (
            ["slug", "slug", "nope"],
            "entities[0].unique_together[0][1]",
            "field 'slug' listed twice",
        ),
        (["slug", "nope", "slug"], "entities[0].unique_together[0][1]", "unknown field 'nope'"),
    ],
)
def test_the_first_problem_in_a_unique_together_group_wins(
    group: list[str], path: str, problem: str
) -> None:
    fields = [{"name": "slug", "type": "str"}, {"name": "sku", "type": "str"}]
    text = _manifest(entities=[{"name": "Product", "fields": fields, "unique_together": [group]}])
    where, message = _problem(text)
    assert where == path
    assert message.startswith(problem)


def test_an_empty_section_is_an_empty_list() -> None:
    data = json.loads(_manifest())
    data.update(dict.fromkeys(SECTION_KEYS))
    manifest = ManifestDocument(json.dumps(data)).validate()
    assert (manifest.entities, manifest.events, manifest.consumers) == ([], [], [])


def test_sections_are_the_manifest_lists_of_items() -> None:
    lists = {
        name: get_args(info.annotation)[0]
        for name, info in Manifest.model_fields.items()
        if getattr(info.annotation, "__origin__", None) is list
    }
    assert lists == {section.key: section.model for section in SECTIONS}
    assert tuple(lists) == SECTION_KEYS


def test_answers_have_one_key_per_section_in_order_then_the_events_imports() -> None:
    manifest = ManifestDocument(_manifest()).validate()
    assert tuple(manifest.to_answers()) == (*SECTION_KEYS, "events_imports")
