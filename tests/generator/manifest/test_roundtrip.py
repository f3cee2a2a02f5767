"""Editing service.yaml keeps every byte the edit does not touch."""

from __future__ import annotations

from pathlib import Path

import pytest

from kitgen.manifest import ManifestDocument, ManifestError, load_manifest

FRESH = """\
# service.yaml: the source of truth for orders's generated entity code.
#
# Edit it with `kitgen add ...`, or by hand followed by `kitgen sync`. kitgen keeps
# comments and key order. Reference: the kitgen docs, "The manifest".
manifest_version: 1
service: orders
package: orders
database:
  schema: null
  async: true
entities: []
"""

# Comments everywhere, blank lines, quoting, a flow mapping, and indentation that is
# valid but not what a dumper would write (4-space dashes, a flow list of fields).
COMMENTED = """\
# top comment

manifest_version: 1   # the format
service: "orders"
package: orders
database: {schema: shop, async: false}

# the entities
entities:
-   name: Customer    # people who order
    fields:
    -   {name: email, type: str, max_length: 200}   # unique later
    -   name: nick
        type: str
        nullable: true
    # end of customer fields

-   name: Tag
    table: 'tags'
    fields: [{name: label, type: str}]
# events section
events: []   # none yet
consumers:
  - {group: audit, handles: ["*"]}   # everything
# trailing comment
"""


def _lines_kept(before: str, after: str) -> None:
    """Every line of ``before`` is in ``after``, in order (the edit only inserted)."""
    remaining = iter(after.splitlines())
    for line in before.splitlines():
        assert any(candidate == line for candidate in remaining), f"lost line: {line!r}"


@pytest.mark.parametrize("text", [FRESH, COMMENTED])
def test_unchanged_document_serialises_identically(text: str) -> None:
    document = ManifestDocument(text)
    document.validate()
    assert document.text() == text


def test_save_without_edits_writes_the_same_bytes(tmp_path: Path) -> None:
    path = tmp_path / "service.yaml"
    path.write_text(COMMENTED, encoding="utf-8")
    ManifestDocument.load(path).save(path)
    assert path.read_text(encoding="utf-8") == COMMENTED


def test_add_entity_to_fresh_manifest() -> None:
    document = ManifestDocument(FRESH)
    document.add_entity(
        {
            "name": "Product",
            "fields": [
                {"name": "slug", "type": "str", "max_length": 120, "unique": True},
                {"name": "price", "type": "decimal", "precision": 12, "scale": 2},
            ],
        }
    )
    assert document.text() == FRESH.replace(
        "entities: []\n",
        "entities:\n"
        "  - name: Product\n"
        "    fields:\n"
        "      - {name: slug, type: str, max_length: 120, unique: true}\n"
        "      - {name: price, type: decimal, precision: 12, scale: 2}\n",
    )
    assert document.validate().entities[0].name == "Product"


def test_add_event_and_consumer_append_missing_sections() -> None:
    document = ManifestDocument(FRESH)
    document.add_event({"name": "OrderPlaced", "fields": [{"name": "total", "type": "decimal"}]})
    document.add_consumer({"group": "fulfillment", "handles": ["OrderPlaced", "order.*"]})
    assert document.text() == FRESH + (
        "events:\n"
        "  - name: OrderPlaced\n"
        "    fields:\n"
        "      - {name: total, type: decimal}\n"
        "consumers:\n"
        "  - group: fulfillment\n"
        "    handles: [OrderPlaced, order.*]\n"
    )


def test_add_entity_keeps_every_byte_of_a_commented_manifest() -> None:
    document = ManifestDocument(COMMENTED)
    document.add_entity({"name": "Product", "fields": [{"name": "slug", "type": "str"}]})
    text = document.text()
    insertion = "- name: Product\n  fields:\n    - {name: slug, type: str}\n"
    # Appended after the last entity (its flow list line), before the "# events" comment.
    assert text == COMMENTED.replace(
        "    fields: [{name: label, type: str}]\n",
        "    fields: [{name: label, type: str}]\n" + insertion,
    )


def test_add_field_to_block_list_keeps_the_comment_after_it() -> None:
    document = ManifestDocument(COMMENTED)
    document.add_field("Customer", {"name": "age", "type": "int", "nullable": True})
    assert document.text() == COMMENTED.replace(
        "        nullable: true\n",
        "        nullable: true\n    - {name: age, type: int, nullable: true}\n",
    )


def test_add_field_to_flow_list_stays_flow() -> None:
    document = ManifestDocument(COMMENTED)
    document.add_field("Tag", {"name": "color", "type": "str", "max_length": 7})
    assert document.text() == COMMENTED.replace(
        "fields: [{name: label, type: str}]",
        "fields: [{name: label, type: str}, {name: color, type: str, max_length: 7}]",
    )


def test_add_event_to_empty_flow_list_keeps_its_comment() -> None:
    document = ManifestDocument(COMMENTED)
    document.add_event({"name": "OrderPlaced", "fields": []})
    assert document.text() == COMMENTED.replace(
        "events: []   # none yet\n",
        "events:   # none yet\n  - name: OrderPlaced\n    fields: []\n",
    )


def test_add_consumer_after_a_flow_item_with_comment() -> None:
    document = ManifestDocument(COMMENTED)
    document.add_consumer({"group": "billing", "stream": "orders:events", "handles": ["*"]})
    assert document.text() == COMMENTED.replace(
        '  - {group: audit, handles: ["*"]}   # everything\n',
        '  - {group: audit, handles: ["*"]}   # everything\n'
        "  - group: billing\n    stream: orders:events\n    handles: ['*']\n",
    )


def test_force_replaces_in_place() -> None:
    document = ManifestDocument(COMMENTED)
    document.add_field("Customer", {"name": "email", "type": "text"}, force=True)
    document.add_entity({"name": "Tag", "fields": [{"name": "label", "type": "text"}]}, force=True)
    assert document.text() == (
        COMMENTED.replace(
            "{name: email, type: str, max_length: 200}", "{name: email, type: text}"
        ).replace(
            "    table: 'tags'\n    fields: [{name: label, type: str}]\n",
            "    fields:\n      - {name: label, type: text}\n",
        )
    )


def test_every_edit_keeps_the_original_lines() -> None:
    document = ManifestDocument(COMMENTED)
    document.add_entity({"name": "Product", "fields": [{"name": "slug", "type": "str"}]})
    document.add_field("Customer", {"name": "age", "type": "int"})
    document.add_field("Tag", {"name": "color", "type": "str"})
    document.add_event({"name": "OrderPlaced", "fields": [{"name": "total", "type": "float"}]})
    document.add_consumer({"group": "billing", "handles": ["OrderPlaced"]})
    edited = document.text()
    untouched = [
        line
        for line in COMMENTED.splitlines()
        if "label, type: str}]" not in line and not line.startswith("events:")
    ]
    _lines_kept("\n".join(untouched), edited)
    manifest = document.validate()
    assert [e.name for e in manifest.entities] == ["Customer", "Tag", "Product"]
    assert [c.group for c in manifest.consumers] == ["audit", "billing"]


def test_edits_are_deterministic() -> None:
    def edit() -> str:
        document = ManifestDocument(COMMENTED)
        document.add_entity({"fields": [{"type": "str", "name": "slug"}], "name": "Product"})
        return document.text()

    assert edit() == edit()


def test_file_without_final_newline() -> None:
    document = ManifestDocument(FRESH.rstrip("\n"))
    document.add_event({"name": "UserCreated", "fields": []})
    assert document.text() == FRESH + "events:\n  - name: UserCreated\n    fields: []\n"


def test_document_markers_fall_back_to_a_full_dump_with_the_same_data() -> None:
    text = "---\n" + FRESH + "...\n"
    document = ManifestDocument(text)
    document.add_event({"name": "UserCreated", "fields": []})
    manifest = document.validate()
    assert [e.name for e in manifest.events] == ["UserCreated"]
    assert "# comments and key order." in document.text()


def test_duplicate_without_force_is_refused_and_nothing_changes() -> None:
    document = ManifestDocument(COMMENTED)
    with pytest.raises(ManifestError) as info:
        document.add_entity({"name": "Customer", "fields": [{"name": "a", "type": "str"}]})
    assert str(info.value) == (
        "service.yaml:10:11: entities[0].name: entity 'Customer' already exists; "
        "use --force to replace it"
    )
    with pytest.raises(ManifestError, match="field 'email' already exists; use --force"):
        document.add_field("Customer", {"name": "email", "type": "str"})
    with pytest.raises(ManifestError, match="consumer group 'audit' already exists"):
        document.add_consumer({"group": "audit", "handles": ["*"]})
    assert document.text() == COMMENTED


def test_invalid_edit_is_refused_and_nothing_changes() -> None:
    document = ManifestDocument(COMMENTED)
    with pytest.raises(ManifestError) as info:
        document.add_field("Tag", {"name": "owner_id", "type": "fk", "to": "Owner"})
    assert str(info.value) == (
        "service.yaml: adding field 'owner_id' would make the manifest invalid: "
        "entities[1].fields[1].to: unknown entity 'Owner'; entities: Customer, Tag"
    )
    with pytest.raises(ManifestError) as info:
        document.add_entity({"name": "product", "fields": [{"name": "a", "type": "str"}]})
    assert str(info.value).startswith("service.yaml: cannot add entity 'product': name: ")
    with pytest.raises(ManifestError, match="no entity 'Nope' in the manifest"):
        document.add_field("Nope", {"name": "a", "type": "str"})
    assert document.text() == COMMENTED


def test_error_in_untouched_part_points_at_the_file_on_disk() -> None:
    text = FRESH + "events:\n  - name: Product\n    fields: []\n"
    document = ManifestDocument(text)
    with pytest.raises(ManifestError) as info:
        document.add_entity({"name": "Product", "fields": [{"name": "a", "type": "str"}]})
    # Line 13 of the file as it is on disk, not of the edited text.
    assert str(info.value).startswith(
        "service.yaml:13:11: adding entity 'Product' would make the manifest invalid: "
        "events[0].name: 'Product' is already an entity"
    )


def test_save_validates_and_writes_atomically(tmp_path: Path) -> None:
    path = tmp_path / "service.yaml"
    path.write_text(FRESH, encoding="utf-8")
    document = ManifestDocument.load(path, display_name="service.yaml")
    document.add_entity({"name": "Product", "fields": [{"name": "slug", "type": "str"}]})
    manifest = document.save(path)
    assert manifest.entities[0].table_name == "products"
    assert load_manifest(path).entities[0].name == "Product"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["service.yaml"]


def test_problem_already_in_the_file_is_reported_as_it_is() -> None:
    document = ManifestDocument(FRESH.replace("package: orders", "package: class"))
    with pytest.raises(ManifestError) as info:
        document.add_entity({"name": "Product", "fields": [{"name": "slug", "type": "str"}]})
    assert str(info.value) == (
        "service.yaml:7:10: package: package 'class' is a Python keyword; choose another name"
    )


def test_windows_line_ends_are_kept() -> None:
    text = FRESH.replace("\n", "\r\n")
    document = ManifestDocument(text)
    assert document.text() == text
    document.add_entity({"name": "Product", "fields": [{"name": "slug", "type": "str"}]})
    document.add_field("Product", {"name": "title", "type": "text"})
    assert document.text() == FRESH.replace(
        "entities: []\n",
        "entities:\n  - name: Product\n    fields:\n      - {name: slug, type: str}\n"
        "      - {name: title, type: text}\n",
    ).replace("\n", "\r\n")


def test_byte_order_mark_is_kept() -> None:
    document = ManifestDocument("\ufeff" + FRESH)
    document.add_event({"name": "UserCreated", "fields": []})
    assert document.text().startswith("\ufeff# service.yaml")
    assert document.validate().events[0].name == "UserCreated"
