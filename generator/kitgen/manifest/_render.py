"""YAML text for items kitgen adds to a manifest, in a fixed, readable style.

Entities, events and consumers are written as block mappings whose lists of fields are
one flow mapping per line (``- {name: slug, type: str, unique: true}``); short lists are
flow lists. Keys come in a canonical order. The same item always renders to the same text.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any, Literal

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from kitgen.manifest._yaml import new_yaml

__all__ = ["KEY_ORDER", "ItemKind", "block_entry", "block_item", "canonical", "flow_item"]

ItemKind = Literal["entity", "field", "event", "event_field", "consumer"]

KEY_ORDER: dict[ItemKind, tuple[str, ...]] = {
    "entity": (
        "name",
        "table",
        "schema",
        "primary_key",
        "fields",
        "unique_together",
        "repository",
        "delete",
        "versioned",
        "endpoints",
        "events",
    ),
    "field": (
        "name",
        "type",
        "max_length",
        "precision",
        "scale",
        "values",
        "to",
        "on_delete",
        "nullable",
        "unique",
        "index",
        "default",
    ),
    "event": ("name", "fields", "schema_version"),
    "event_field": ("name", "type", "nullable"),
    "consumer": (
        "group",
        "stream",
        "handles",
        "dead_letters",
        "max_deliveries",
        "retries",
        "backoff",
        "timeout",
        "claim_min_idle_ms",
        "start",
        "dedupe",
    ),
}
_CHILD_FIELDS: dict[ItemKind, ItemKind] = {"entity": "field", "event": "event_field"}


def _ordered(item: Mapping[str, Any], kind: ItemKind) -> dict[str, Any]:
    order = KEY_ORDER[kind]
    keys = sorted(item, key=lambda key: (order.index(key) if key in order else len(order), key))
    out: dict[str, Any] = {}
    for key in keys:
        value = item[key]
        if value is None and key != "default":
            continue  # an unset option: the manifest leaves it out
        if key == "fields" and kind in _CHILD_FIELDS and isinstance(value, list):
            child = _CHILD_FIELDS[kind]
            value = [_ordered(f, child) if isinstance(f, Mapping) else f for f in value]
        out[key] = value
    return out


def canonical(item: Mapping[str, Any], kind: ItemKind) -> dict[str, Any]:
    """``item`` with keys in canonical order and unset (``None``) options dropped."""
    return _ordered(item, kind)


def _flow(value: Any) -> Any:
    if isinstance(value, Mapping):
        mapping = CommentedMap((key, _flow(item)) for key, item in value.items())
        mapping.fa.set_flow_style()
        return mapping
    if isinstance(value, list):
        seq = CommentedSeq(_flow(item) for item in value)
        seq.fa.set_flow_style()
        return seq
    return value


def _block(item: Mapping[str, Any]) -> CommentedMap:
    mapping = CommentedMap()
    for key, value in item.items():
        if key == "fields" and isinstance(value, list) and value:
            mapping[key] = CommentedSeq(_flow(field) for field in value)
        else:
            mapping[key] = _flow(value)
    return mapping


def _dump(data: Any) -> str:
    stream = io.StringIO()
    new_yaml().dump(data, stream)
    return stream.getvalue()


def block_entry(item: Mapping[str, Any], kind: ItemKind) -> Any:
    """``item`` as round-trip data in the written style (for a whole-document dump)."""
    data = canonical(item, kind)
    return _flow(data) if kind in ("field", "event_field") else _block(data)


def block_item(item: Mapping[str, Any], kind: ItemKind) -> list[str]:
    """Lines (no newlines) of ``item`` as a block sequence entry starting at column 0.

    Fields are single-line flow mappings; the others are block mappings.
    """
    lines = _dump(CommentedSeq([block_entry(item, kind)])).splitlines()
    margin = len(lines[0]) - len(lines[0].lstrip(" "))
    return [line[margin:] for line in lines]


def flow_item(item: Mapping[str, Any], kind: ItemKind) -> str:
    """``item`` as one flow mapping on one line: ``{name: slug, type: str}``."""
    text = _dump(CommentedSeq([_flow(canonical(item, kind))])).strip()
    return text[1:].strip() if text.startswith("-") else text
