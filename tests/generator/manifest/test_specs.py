"""--field / --event-field specs as typed on the command line."""

from __future__ import annotations

from typing import Any

import pytest

from kitgen.errors import UserError
from kitgen.manifest import SpecError, parse_event_field_spec, parse_field_spec

ALLOWED_TYPES = (
    "str, int, float, decimal, bool, date, datetime, uuid, json, list[str], list[int], "
    "text, bigint, enum, fk"
)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("name:str", {"name": "name", "type": "str"}),
        (
            "price:decimal:precision=12:scale=2",
            {"name": "price", "type": "decimal", "precision": 12, "scale": 2},
        ),
        (
            "slug:str:max_length=120:unique:index",
            {"name": "slug", "type": "str", "max_length": 120, "unique": True, "index": True},
        ),
        (
            "status:enum:values=draft|live:default=draft",
            {"name": "status", "type": "enum", "values": ["draft", "live"], "default": "draft"},
        ),
        (
            "customer_id:fk:to=Customer:on_delete=set-null:nullable",
            {
                "name": "customer_id",
                "type": "fk",
                "to": "Customer",
                "on_delete": "set null",
                "nullable": True,
            },
        ),
        (
            "owner_id:fk:to=User:on_delete=no_action",
            {"name": "owner_id", "type": "fk", "to": "User", "on_delete": "no action"},
        ),
        ("stock:int:default=0", {"name": "stock", "type": "int", "default": 0}),
        ("active:bool:default=true", {"name": "active", "type": "bool", "default": True}),
        ("ratio:float:default=0.5", {"name": "ratio", "type": "float", "default": 0.5}),
        ("price:decimal:default=1.50", {"name": "price", "type": "decimal", "default": "1.50"}),
        ("greeting:str:default=hello", {"name": "greeting", "type": "str", "default": "hello"}),
        # Text types take the default literally (no YAML surprises), unless it is quoted.
        ("flag:str:default=true", {"name": "flag", "type": "str", "default": "true"}),
        ("code:text:default='007'", {"name": "code", "type": "text", "default": "007"}),
        (
            "url:str:default=http://example.com:8080:unique",
            {"name": "url", "type": "str", "unique": True, "default": "http://example.com:8080"},
        ),
        ("tags:list[str]:default=[]", {"name": "tags", "type": "list[str]", "default": []}),
        ("ids:list[int]:default=[1, 2]", {"name": "ids", "type": "list[int]", "default": [1, 2]}),
        ("data:json:default={a: 1}", {"name": "data", "type": "json", "default": {"a": 1}}),
        ("note:text:nullable=false", {"name": "note", "type": "text", "nullable": False}),
    ],
)
def test_field_spec(spec: str, expected: dict[str, Any]) -> None:
    assert parse_field_spec(spec) == expected


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            "price:decimall",
            f"--field 'price:decimall': unknown type 'decimall'; allowed: {ALLOWED_TYPES}",
        ),
        (
            "price",
            (
                "--field 'price': expected NAME:TYPE[:OPTION...], e.g. "
                "price:decimal:precision=12:scale=2"
            ),
        ),
        (
            "price:decimal:precision=x",
            "--field 'price:decimal:precision=x': precision=x: expected an integer",
        ),
        (
            "n:int:max_length=3",
            (
                "--field 'n:int:max_length=3': max_length: option not valid for type 'int'; "
                "max_length applies to type 'str'"
            ),
        ),
        (
            "n:int:default=true",
            "--field 'n:int:default=true': default: must be an integer for type 'int', got true",
        ),
        (
            "n:int:default=[1",
            "--field 'n:int:default=[1': default=[1: expected ',' or ']', but got '<stream end>'",
        ),
        (
            "n:int:default=*a",
            (
                "--field 'n:int:default=*a': default=*a: alias '*a' is not allowed; a manifest "
                "uses no anchors or aliases, write the value out"
            ),
        ),
        (
            "order:str",
            (
                "--field 'order:str': name: field name 'order' is an SQL reserved word; use "
                "'sort_order'"
            ),
        ),
        (
            "../x:str",
            (
                "--field '../x:str': name: field name '../x' looks like a path; use snake_case: a"
                " lower-case letter, then lower-case letters, digits and '_'"
            ),
        ),
        (
            "s:enum",
            (
                "--field 's:enum': type 'enum' needs 'values': a non-empty list of lower-case "
                "identifiers"
            ),
        ),
        (
            "s:enum:values=a|A",
            (
                "--field 's:enum:values=a|A': values[1]: enum value 'A' is not allowed; use a "
                "lower-case identifier: a letter, then lower-case letters, digits and '_'"
            ),
        ),
        (
            "c:fk:to=Customer:on_delete=boom",
            (
                "--field 'c:fk:to=Customer:on_delete=boom': on_delete: unknown on_delete 'boom'; "
                "allowed: cascade, restrict, set null, no action"
            ),
        ),
        (
            "c:fk:to=Customer:on_delete=set-null",
            (
                "--field 'c:fk:to=Customer:on_delete=set-null': on_delete: on_delete 'set null' "
                "needs 'nullable: true' on the field"
            ),
        ),
        ("a:str:unique:unique", "--field 'a:str:unique:unique': option 'unique' given twice"),
        (
            "a:str:colour=red",
            (
                "--field 'a:str:colour=red': unknown option 'colour'; allowed: nullable, unique, "
                "index, max_length=N, precision=N, scale=N, values=a|b, to=Entity, "
                "on_delete=cascade|restrict|set-null|no-action, default=VALUE"
            ),
        ),
        (
            "a:str:max_length",
            "--field 'a:str:max_length': option 'max_length' needs a value: max_length=...",
        ),
        (
            "a:str:unique=maybe",
            "--field 'a:str:unique=maybe': unique=maybe: expected true or false",
        ),
    ],
)
def test_field_spec_errors(spec: str, message: str) -> None:
    with pytest.raises(SpecError) as info:
        parse_field_spec(spec)
    assert str(info.value) == message


def test_spec_errors_are_user_errors_naming_the_flag() -> None:
    with pytest.raises(UserError) as info:
        parse_field_spec("x:nope", flag="--column")
    assert str(info.value).startswith("--column 'x:nope': unknown type 'nope'")
    assert info.value.exit_code == 2


def test_event_field_specs() -> None:
    assert parse_event_field_spec("order_id:uuid") == {"name": "order_id", "type": "uuid"}
    assert parse_event_field_spec("note:str:nullable") == {
        "name": "note",
        "type": "str",
        "nullable": True,
    }
    with pytest.raises(SpecError) as info:
        parse_event_field_spec("state:enum")
    assert str(info.value) == (
        "--field 'state:enum': unknown type 'enum'; allowed: str, int, float, decimal, bool, "
        "date, datetime, uuid, json, list[str], list[int]"
    )
    with pytest.raises(SpecError, match="unknown option 'unique'; allowed: nullable"):
        parse_event_field_spec("a:str:unique")
    with pytest.raises(SpecError, match="field name 'timestamp' is part of every event"):
        parse_event_field_spec("timestamp:datetime")
