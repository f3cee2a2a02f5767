"""Answers that did not come through kitgen's validation: the template itself refuses them.

Every hostile answer is kitgen's own answer for a small manifest with one key replaced (or
a key added, or the whole answer of the wrong type), and every one carries the marker
``pwned``. Each is given to the template the ways a user can give it: plain
``copier copy --data``, ``kitgen new --data``, and a hand-edited ``.copier-answers.yml``
followed by ``copier update`` or ``kitgen sync``. Each way must end with a non-zero exit
and one message naming the question and the key, no traceback, and no file holding the
marker: a refused copy leaves no destination (or none with the marker), a refused update
leaves the service byte for byte as it was.
"""

from __future__ import annotations

import copy
import io
import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from kitgen.manifest.schema import Manifest
from tests.hostile._harness import assert_refused, assert_unchanged, git, kitgen, tree_state

COPIER = Path(sys.executable).with_name("copier")
Run = subprocess.CompletedProcess[str]
MARKER = "pwned"

# A manifest whose answers use every code-bearing key: an enum with a default, a foreign
# key, a unique field (the upsert key), an event with fields, a consumer with an event
# handle and a glob handle.
MANIFEST = {
    "manifest_version": 1,
    "service": "shop",
    "package": "shop",
    "entities": [
        {"name": "Customer", "fields": [{"name": "email", "type": "str", "unique": True}]},
        {
            "name": "Product",
            "fields": [
                {"name": "slug", "type": "str", "unique": True, "default": "new"},
                {"name": "status", "type": "enum", "values": ["draft", "live"], "default": "draft"},
                {"name": "tags", "type": "list[str]", "default": ["a"]},
                {"name": "customer_id", "type": "fk", "to": "Customer"},
            ],
            "repository": {"cached": ["by_slug"], "ttl": 60},
        },
    ],
    "events": [{"name": "OrderPlaced", "fields": [{"name": "total", "type": "decimal"}]}],
    "consumers": [
        {
            "group": "fulfilment",
            "handles": ["OrderPlaced", "order.*"],
            "retries": 1,
            "backoff": {"kind": "linear", "initial": 0.5, "max": 2},
            "timeout": 5,
            "start": "latest",
        }
    ],
}
SLUG, STATUS, TAGS, CUSTOMER = 0, 1, 2, 3  # Product's fields, by position
CALL = '__import__("os").system("pwned")'


@dataclass(frozen=True)
class Hostile:
    """kitgen's answer to ``question`` with the value at ``path`` replaced by ``value``."""

    id: str
    question: str
    path: tuple[str | int, ...]
    value: Any
    says: str

    def answer(self) -> Any:
        """The whole hostile answer (text for ``description``, else a list)."""
        if self.question == "description" or not self.path:
            return self.value
        answer = copy.deepcopy(Manifest.model_validate(MANIFEST).to_answers()[self.question])
        *parents, last = self.path
        target = answer
        for step in parents:
            target = target[step]
        target[last] = self.value
        return answer


def entity(path: tuple[str | int, ...], value: Any, says: str, id: str) -> Hostile:
    return Hostile(id, "entities", (1, *path), value, "entities[1]" + says)


def field(index: int, key: str, value: Any, id: str) -> Hostile:
    return entity(("fields", index, key), value, f".fields[{index}].{key}", id)


CASES = [
    # Names that become classes, modules, tables and SQL.
    entity(
        ("name",), f"Product(Base):\n    pass\n{CALL}\nclass X", ".name", "entity-name-breaks-class"
    ),
    entity(("name",), 'Pro"duct_pwned', ".name", "entity-name-with-quote"),
    entity(("module",), "../../pwned", ".module", "entity-module-is-a-path"),
    entity(("table",), f'products"; {CALL}; x = "', ".table", "table-closes-its-string"),
    entity(("schema",), 'sales", "pwned', ".schema", "schema-closes-its-string"),
    entity(("route",), "pwned/../../admin", ".route", "route-is-a-path"),
    # Entity-level code: imports, table arguments, keys.
    entity(("model_imports", 0), f"import os; {CALL}", ".model_imports[0]", "import-runs-code"),
    entity(("model_imports", 0), "import pwned", ".model_imports[0]", "import-of-any-module"),
    entity(
        ("schema_imports", 0),
        f"from pydantic import BaseModel\n{CALL}",
        ".schema_imports[0]",
        "import-line-with-newline",
    ),
    entity(("table_args",), [CALL], ".table_args[0]", "table-args-call"),
    entity(("upsert_key",), [f'slug"] + {CALL} + ["'], ".upsert_key[0]", "upsert-key-with-quote"),
    entity(("unique_together",), [[f'slug", {CALL}, "']], ".unique_together[0][0]", "unique-group"),
    entity(("pk_annotation",), f"int] = {CALL}  #", ".pk_annotation", "pk-annotation-code"),
    # Field-level code: names, annotations, columns, defaults, enums.
    field(SLUG, "name", f"slug: int = {CALL}\n    x", "field-name-with-code"),
    field(SLUG, "annotation", f"str] = mapped_column(default={CALL})  #", "annotation-code"),
    field(SLUG, "schema_annotation", f"str = {CALL}  #", "schema-annotation-code"),
    field(SLUG, "column", f"String(10), default={CALL}", "column-extra-argument"),
    field(SLUG, "default_expr", CALL, "default-expr-call"),
    field(SLUG, "default_expr", f'"x" + {CALL} + "y"', "default-expr-concatenates-call"),
    field(SLUG, "default_expr", f'"pwned\\\\") or {CALL} or ("', "default-expr-escaped-quote"),
    field(SLUG, "default_expr", f'"""pwned""" if {CALL} else ""', "default-expr-triple-quote"),
    field(SLUG, "default", CALL, "default-literal-call"),
    field(TAGS, "default_factory", f"lambda: {CALL}", "default-factory-lambda-call"),
    field(SLUG, "max_length", f"10) or {CALL} or (1", "max-length-text"),
    field(SLUG, "type", "pwned", "field-type-unknown"),
    field(SLUG, "nullable", "pwned", "flag-not-a-bool"),
    field(STATUS, "enum_class", 'Status(StrEnum):\n    pwned = "x"\nclass S', "enum-class-code"),
    field(STATUS, "enum_members", [["DRAFT = 1\n    pwned", "draft"]], "enum-member-code"),
    field(STATUS, "enum_members", [["DRAFT", f'draft"; {CALL}; x = "']], "enum-value-quote"),
    field(CUSTOMER, "to_table", f'customers.id"); {CALL}; ("', "fk-table-quote"),
    # Unknown keys and wrong types.
    entity(("pwned",), "x", ": unknown key", "unknown-entity-key"),
    entity(("fields", SLUG, "pwned_code"), CALL, ".fields[0]: unknown key", "unknown-field-key"),
    Hostile("entities-not-a-list", "entities", (), MARKER, "entities must be a list"),
    entity(("fields",), MARKER, ".fields must be a list", "fields-not-a-list"),
    # Events.
    Hostile(
        "event-name-breaks-class",
        "events",
        (0, "name"),
        f"OrderPlaced(BaseEvent):\n    pass\n{CALL}\nclass X",
        "events[0].name",
    ),
    Hostile(
        "routing-key-ends-docstring",
        "events",
        (0, "routing_key"),
        f'x``."""\n{CALL}\n"""',
        "events[0].routing_key",
    ),
    Hostile(
        "schema-version-text",
        "events",
        (0, "schema_version"),
        f"1\n{CALL}",
        "events[0].schema_version",
    ),
    Hostile(
        "event-field-name-code",
        "events",
        (0, "fields", 0, "name"),
        f"total: int = {CALL}  #",
        "events[0].fields[0].name",
    ),
    Hostile("event-field-type", "events", (0, "fields", 0, "type"), MARKER, "events[0].fields[0]"),
    Hostile("events-not-a-list", "events", (), {"name": MARKER}, "events must be a list"),
    # Consumers.
    Hostile(
        "group-closes-string",
        "consumers",
        (0, "group"),
        f'fulfilment"); {CALL}; ("',
        "consumers[0].group",
    ),
    Hostile("consumer-module-path", "consumers", (0, "module"), "../pwned", "consumers[0].module"),
    Hostile(
        "stream-adds-argument",
        "consumers",
        (0, "stream"),
        f'shop:events", group={CALL}, x="',
        "consumers[0].stream",
    ),
    Hostile(
        "handle-name-code",
        "consumers",
        (0, "handles", 0, "name"),
        f"OrderPlaced)\n{CALL}\n@router.on(OrderPlaced",
        "consumers[0].handles[0].name",
    ),
    Hostile(
        "handle-pattern-closes-string",
        "consumers",
        (0, "handles", 1, "pattern"),
        f'order.*")\n{CALL}\n@router.on("x',
        "consumers[0].handles[1].pattern",
    ),
    Hostile(
        "handler-function-code",
        "consumers",
        (0, "handles", 0, "function"),
        f"x(event): pass\n{CALL}\ndef y",
        "consumers[0].handles[0].function",
    ),
    Hostile("unknown-handle-key", "consumers", (0, "handles", 0, "pwned"), 1, "unknown key"),
    Hostile(
        "router-argument-code",
        "consumers",
        (0, "router_args", 2),
        f"max_deliveries={CALL}",
        "consumers[0].router_args[2]",
    ),
    Hostile(
        "router-backoff-call",
        "consumers",
        (0, "router_args", 4),
        f"default_backoff=constant(delay={CALL})",
        "consumers[0].router_args[4]",
    ),
    Hostile(
        "consumer-import-anything",
        "consumers",
        (0, "imports", 0),
        "import pwned",
        "consumers[0].imports[0]",
    ),
    # Cached lookups and the events module's imports.
    Hostile(
        "lookup-key-call-code",
        "entities",
        (1, "cached_lookups", 0, "key_call"),
        f"_slug_key({CALL})",
        "entities[1].cached_lookups[0].key_call",
    ),
    Hostile(
        "lookup-parameter-code",
        "entities",
        (1, "cached_lookups", 0, "parameter"),
        f"Annotated[str, Depends({CALL})]",
        "entities[1].cached_lookups[0].parameter",
    ),
    Hostile(
        "lookup-cache-key-closes-string",
        "entities",
        (1, "cached_lookups", 0, "cache_key"),
        'products:slug"; pwned = "',
        "entities[1].cached_lookups[0].cache_key",
    ),
    Hostile("cache-ttl-code", "entities", (1, "cache_ttl"), CALL, "entities[1].cache_ttl"),
    Hostile(
        "router-import-anything",
        "entities",
        (1, "router_imports", 0),
        "import pwned",
        "entities[1].router_imports[0]",
    ),
    # Routes, filters, bases and the events an entity announces.
    entity(("endpoints", 0), f"list\n{CALL}", ".endpoints[0]", "endpoint-code"),
    entity(
        ("filters", 0, "annotation"),
        f"Annotated[str, Depends({CALL})]",
        ".filters[0].annotation",
        "filter-annotation-code",
    ),
    entity(("model_bases", 0), CALL, ".model_bases[0]", "model-base-code"),
    entity(("delete",), "soft; pwned", ".delete", "delete-mode-code"),
    entity(("versioned",), "True or pwned", ".versioned", "versioned-not-a-bool"),
    entity(
        ("entity_events",),
        [
            {
                "kind": "created",
                "name": f"X(BaseEvent):\n    pass\n{CALL}\nclass Y",
                "routing_key": "x.created",
                "routes": ["create"],
            }
        ],
        ".entity_events[0].name",
        "entity-event-name-code",
    ),
    Hostile(
        "events-import-anything",
        "events_imports",
        (0,),
        "from pwned import system",
        "events_imports[0]",
    ),
    Hostile(
        "event-annotation-code",
        "events",
        (0, "fields", 0, "annotation"),
        f"Decimal = {CALL}",
        "events[0].fields[0].annotation",
    ),
    # The description: one plain line.
    Hostile("description-carriage-return", "description", (), "The shop\rpwned", "description"),
    Hostile("description-tab", "description", (), "The\tpwned service", "description"),
    Hostile("description-escape-sequence", "description", (), "pwned \x1b[31m red", "description"),
    Hostile("description-newline", "description", (), f"pwned\n{CALL}", "description"),
    Hostile("description-c1-control", "description", (), "pwned\x85next", "description"),
    Hostile("description-line-separator", "description", (), "pwned\u2028next", "description"),
    Hostile("description-closes-string", "description", (), 'pwned", x = "', "description"),
    Hostile("description-backslash", "description", (), "pwned \\", "description"),
]
IDS = [case.id for case in CASES]


def test_the_table_is_large_and_distinct() -> None:
    assert len(CASES) >= 30
    assert len(set(IDS)) == len(IDS)
    assert all(MARKER in json.dumps(case.answer()) for case in CASES)


def data_option(case: Hostile) -> str:
    """``--data`` text: JSON is YAML, and keeps every character escaped on the command line."""
    answer = case.answer()
    return f"{case.question}={answer if case.question == 'description' else json.dumps(answer)}"


def run_copier(cwd: Path, *args: str) -> Run:
    """Copier's own CLI, as a user runs it (no terminal, no --trust)."""
    return subprocess.run(
        [str(COPIER), *args],
        cwd=cwd,
        env={k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"},
        input="",
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


def assert_nothing_holds_the_marker(root: Path) -> None:
    if not root.exists():
        return
    holding = [
        str(path.relative_to(root))
        for path in root.rglob("*")
        if path.is_file() and not path.is_symlink() and MARKER.encode() in path.read_bytes()
    ]
    assert not holding, f"generated files hold the payload: {holding}"


NEW_SERVICE = ["--defaults", "-d", "service_name=shop", "-d", "with_streams=true"]


def copier_copy(case: Hostile, template: Path, cwd: Path) -> Run:
    data = ["-d", data_option(case), "--vcs-ref", "HEAD"]
    return run_copier(cwd, "copy", *NEW_SERVICE, *data, str(template), "svc")


def kitgen_new(case: Hostile, template: Path, cwd: Path) -> Run:
    data = ["-d", data_option(case), "--vcs-ref", "HEAD"]
    return kitgen(cwd, "new", "svc", *NEW_SERVICE, *data, "--template", str(template))


def hand_edit_answers(service: Path, case: Hostile) -> None:
    """Write the hostile answer into .copier-answers.yml and commit it, as an attacker's
    pull request would."""
    answers_file = service / ".copier-answers.yml"
    yaml = YAML(typ="safe", pure=True)
    yaml.allow_unicode = False  # escape U+0085 and U+2028: unescaped, YAML reads line breaks
    answers = yaml.load(answers_file.read_text(encoding="utf-8"))
    answers[case.question] = case.answer()
    text = io.StringIO()
    yaml.dump(answers, text)
    answers_file.write_text(text.getvalue(), encoding="utf-8")
    git(service, "-c", "user.name=t", "-c", "user.email=t@x", "commit", "-qam", "hand edit")


# The ways to create a service and to update one, with the exit code of a refusal
# (Copier's CLI exits 1, kitgen 2 for a user error).
CREATE: dict[str, tuple[Callable[[Hostile, Path, Path], Run], int]] = {
    "copier-copy": (copier_copy, 1),
    "kitgen-new": (kitgen_new, 2),
}
UPDATE: dict[str, tuple[Callable[[Path], Run], int]] = {
    "copier-update": (lambda service: run_copier(service, "update", "--defaults"), 1),
    "kitgen-sync": (lambda service: kitgen(service, "sync"), 2),
}


def routes(ways: tuple[str, str]) -> list[Any]:
    """Each case with one of two ways, alternating. Every case takes one Copier and one
    kitgen way, and every way meets half the table: all reach the same gate, and the
    whole cross product would spend minutes of a shared machine on repeats."""
    return [
        pytest.param(case, ways[i % 2], id=f"{case.id}-{ways[i % 2]}")
        for i, case in enumerate(CASES)
    ]


@pytest.mark.parametrize(("case", "way"), routes(("copier-copy", "kitgen-new")))
def test_a_new_service_is_refused(
    case: Hostile, way: str, hostile_template: Path, tmp_path: Path
) -> None:
    create, refused = CREATE[way]
    result = create(case, hostile_template, tmp_path)
    assert_refused(result, code=refused, says=case.says)
    assert_nothing_holds_the_marker(tmp_path / "svc")


@pytest.mark.parametrize(("case", "way"), routes(("kitgen-sync", "copier-update")))
def test_hand_edited_answers_are_refused_on_update(case: Hostile, way: str, service: Path) -> None:
    hand_edit_answers(service, case)
    before = tree_state(service)
    update, refused = UPDATE[way]
    result = update(service)
    assert_refused(result, code=refused, says=case.says)
    assert_unchanged(before, service)


def test_kitgens_own_answers_pass_the_gate(hostile_template: Path, tmp_path: Path) -> None:
    """The control: the unmodified answers render (so each case fails for its one change)."""
    answers = Manifest.model_validate(MANIFEST).to_answers()
    data = [f"{key}={json.dumps(value)}" for key, value in answers.items()]
    result = run_copier(
        tmp_path,
        "copy",
        *NEW_SERVICE,
        *[arg for item in data for arg in ("-d", item)],
        "--vcs-ref",
        "HEAD",
        str(hostile_template),
        "svc",
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "svc" / "shop" / "models" / "product.py").is_file()
    assert (tmp_path / "svc" / "shop" / "consumers" / "fulfilment.py").is_file()
