"""The manifest reference's example is a valid manifest."""

from __future__ import annotations

import re
from pathlib import Path

from kitgen.manifest import ManifestDocument

DOC = Path(__file__).resolve().parents[3] / "docs" / "manifest.md"


def test_documented_example_is_valid() -> None:
    blocks = re.findall(r"```yaml\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    manifest = ManifestDocument(blocks[0]).validate()
    answers = manifest.to_answers()
    assert [e["table"] for e in answers["entities"]] == ["customers", "products", "order_items"]
    assert answers["events"][0]["routing_key"] == "order.placed"
    item_fields = answers["entities"][2]["fields"]
    assert [f["on_delete"] for f in item_fields[:2]] == ["RESTRICT", "SET NULL"]
    assert item_fields[0]["to_pk"] == "int"
    assert item_fields[1]["to_pk"] == "uuid"
