"""Names that pass the patterns but would break or hijack the rendered service.

Each case is refused with exit 2 and one line naming the name and where it came from (the
flag, or ``service.yaml:LINE``), and leaves the service byte-identical. The last tests
render a service with every option on and read its Python files with :mod:`ast`: every
name the template binds must be one kitgen refuses, so a template change that adds a name
fails here instead of silently opening a hole.
"""

from __future__ import annotations

import ast
import inspect
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from kitgen import new_service
from kitgen.manifest import Manifest
from kitgen.manifest._reserved import (
    CLASS_NAMES_TAKEN,
    ENTITY_CLASS_SUFFIXES,
    ENTITY_FIELD_NAMES_TAKEN,
    ENTITY_MODULES_TAKEN,
    EVENT_FIELD_NAMES_TAKEN,
    ROUTES_TAKEN,
)
from kitgen.manifest.naming import enum_class
from kitgen.manifest.schema import EVENT_FIELD_TYPES, FIELD_TYPES
from tests.hostile._harness import assert_refused, assert_unchanged, git, kitgen, tree_state

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Refusal:
    """``kitgen <args>`` is refused with one message containing every piece of ``says``."""

    id: str
    args: tuple[str, ...]
    says: tuple[str, ...]


def _add_repository(name: str, *fields: str, table: str | None = None) -> tuple[str, ...]:
    flags = [flag for spec in fields or ("title:str",) for flag in ("--field", spec)]
    return ("add", "repository", name, *flags, *(("--table", table) if table else ()))


FLAG_CASES = [
    # entities whose module takes the place of one of the template's own files
    Refusal(
        "entity-migrations",
        _add_repository("Migrations"),
        ("'Migrations'", "tests/test_migrations.py"),
    ),
    Refusal("entity-cache", _add_repository("Cache"), ("'Cache'", "tests/test_cache.py")),
    Refusal("entity-streams", _add_repository("Streams"), ("'Streams'", "tests/test_streams.py")),
    Refusal(
        "entity-keyword-module",
        _add_repository("Class"),
        ("entity 'Class'", "module 'class'", "keyword"),
    ),
    # entities whose class (or a class derived from it) the generated code imports
    Refusal("entity-health", _add_repository("Health"), ("entity 'Health'", "already imports")),
    Refusal("entity-query", _add_repository("Query"), ("entity 'Query'", "already imports")),
    Refusal("entity-depends", _add_repository("Depends"), ("entity 'Depends'", "already imports")),
    Refusal(
        "entity-classvar", _add_repository("ClassVar"), ("entity 'ClassVar'", "already imports")
    ),
    Refusal(
        "entity-eventrouter",
        _add_repository("EventRouter"),
        ("entity 'EventRouter'", "already imports"),
    ),
    Refusal(
        "entity-derived-repository",
        _add_repository("Async"),
        ("entity 'Async'", "'AsyncRepository'"),
    ),
    Refusal("entity-route-docs", _add_repository("Doc"), ("entity 'Doc'", "'/docs'")),
    Refusal(
        "enum-class-imported",
        _add_repository("Timestamp", "mixin:enum:values=on|off"),
        ("entity 'Timestamp'", "'TimestampMixin'"),
    ),
    # fields that rebind a name the class body reads after them
    Refusal(
        "field-str", _add_repository("Item", "str:str"), ("--field 'str:str'", "field name 'str'")
    ),
    Refusal(
        "field-int", _add_repository("Item", "int:int"), ("--field 'int:int'", "field name 'int'")
    ),
    Refusal(
        "field-list",
        _add_repository("Item", "list:list[str]"),
        ("--field 'list:list[str]'", "'list'"),
    ),
    Refusal(
        "field-enum-values",
        _add_repository("Item", "enum_values:str"),
        ("--field 'enum_values:str'", "field name 'enum_values'"),
    ),
    Refusal(
        "add-field-str",
        ("add", "field", "Item", "str:str"),
        ("FIELD 'str:str'", "field name 'str'"),
    ),
    Refusal(
        "add-field-float",
        ("add", "field", "Item", "float:float"),
        ("FIELD 'float:float'", "field name 'float'"),
    ),
    Refusal(
        "add-field-enum-values",
        ("add", "field", "Item", "enum_values:str"),
        ("FIELD 'enum_values:str'", "field name 'enum_values'"),
    ),
    # tables PostgreSQL or Alembic own
    Refusal(
        "table-pg-class",
        _add_repository("Item", table="pg_class"),
        ("entity 'Item'", "table 'pg_class'", "pg_"),
    ),
    Refusal(
        "table-pg-attribute",
        _add_repository("Item", table="pg_attribute"),
        ("entity 'Item'", "table 'pg_attribute'", "pg_"),
    ),
    Refusal(
        "table-alembic-version",
        _add_repository("Item", table="alembic_version"),
        ("entity 'Item'", "table 'alembic_version'", "Alembic"),
    ),
    Refusal(
        "table-derived-pg",
        _add_repository("PgClass"),
        ("entity 'PgClass'", "derived table 'pg_classes'"),
    ),
    # events and consumers
    Refusal(
        "event-classvar", ("add", "event", "ClassVar"), ("event 'ClassVar'", "already imports")
    ),
    Refusal(
        "event-eventrouter",
        ("add", "event", "EventRouter"),
        ("event 'EventRouter'", "already imports"),
    ),
    Refusal(
        "event-test-event",
        ("add", "event", "ServiceProbed"),
        ("event 'ServiceProbed'", "already imports"),
    ),
    Refusal(
        "event-field-str",
        ("add", "event", "Shipped", "--field", "str:str"),
        ("--field 'str:str'", "'str'"),
    ),
    Refusal(
        "event-field-bool",
        ("add", "event", "Shipped", "--field", "bool:bool"),
        ("--field 'bool:bool'", "'bool'"),
    ),
    Refusal(
        "consumer-keyword-module",
        ("add", "consumer", "import", "--handles", "order.*"),
        ("group 'import'", "module 'import'", "keyword"),
    ),
    # required references in a cycle: no first row could ever be inserted
    Refusal(
        "required-self-reference",
        _add_repository("Node", "parent_id:fk:to=Node"),
        ("Node.parent_id -> Node", "cycle", "nullable"),
    ),
    Refusal(
        "required-self-reference-field",
        ("add", "field", "Item", "parent_id:fk:to=Item"),
        ("Item.parent_id -> Item", "cycle", "nullable"),
    ),
]


@dataclass(frozen=True)
class HandEdit:
    """``service.yaml`` with ``old`` replaced by ``new`` is refused by ``kitgen sync``."""

    id: str
    new: str
    says: tuple[str, ...]
    old: str = "entities: []\n"


def _entities(*lines: str) -> str:
    return "entities:\n" + "".join(f"  {line}\n" for line in lines)


_ITEM = "- {name: Item, fields: [{name: title, type: str}]}"

EDIT_CASES = [
    HandEdit(
        "entity-health",
        _entities(_ITEM, "- {name: Health, fields: [{name: ok, type: bool}]}"),
        ("service.yaml:13:", "entities[1].name", "'Health'"),
    ),
    HandEdit(
        "entity-streams",
        _entities("- name: Streams", "  fields: [{name: title, type: str}]"),
        ("service.yaml:12:11", "'Streams'", "tests/test_streams.py"),
    ),
    HandEdit(
        "entity-query",
        _entities("- name: Query", "  fields: [{name: title, type: str}]"),
        ("service.yaml:12:11", "'Query'", "already imports"),
    ),
    HandEdit(
        "field-str",
        _entities("- name: Item", "  fields:", "    - {name: str, type: str}"),
        ("service.yaml:14:", "fields[0].name", "'str'"),
    ),
    HandEdit(
        "field-enum-values",
        _entities(
            "- name: Item",
            "  fields:",
            "    - {name: title, type: str}",
            "    - {name: enum_values, type: int}",
        ),
        ("service.yaml:15:", "fields[1].name", "'enum_values'"),
    ),
    HandEdit(
        "event-field-float",
        "entities: []\nevents:\n  - name: Shipped\n    fields: [{name: float, type: float}]\n",
        ("service.yaml:14:", "events[0].fields[0].name", "'float'"),
    ),
    HandEdit(
        "enum-classes-collide",
        _entities(
            "- name: Order",
            "  fields: [{name: item_status, type: enum, values: [open, shut]}]",
            "- name: OrderItem",
            "  fields: [{name: status, type: enum, values: [open, shut]}]",
        ),
        ("service.yaml:15:", "entities[1].fields[0].name", "'OrderItemStatus'"),
    ),
    HandEdit(
        "enum-class-imported",
        _entities("- name: Integrity", "  fields: [{name: error, type: enum, values: [a, b]}]"),
        ("service.yaml:13:", "'IntegrityError'"),
    ),
    HandEdit(
        "table-pg-class",
        _entities("- name: Item", "  table: pg_class", "  fields: [{name: title, type: str}]"),
        ("service.yaml:13:12", "entities[0].table", "'pg_class'"),
    ),
    HandEdit(
        "table-alembic-version",
        _entities(
            "- name: Item", "  table: alembic_version", "  fields: [{name: title, type: str}]"
        ),
        ("service.yaml:13:12", "'alembic_version'", "Alembic"),
    ),
    HandEdit(
        "schema-pg-catalog",
        _entities("- name: Item", "  schema: pg_catalog", "  fields: [{name: title, type: str}]"),
        ("service.yaml:13:13", "entities[0].schema", "'pg_catalog'"),
    ),
    HandEdit(
        "schema-information-schema",
        _entities(
            "- name: Item", "  schema: information_schema", "  fields: [{name: title, type: str}]"
        ),
        ("service.yaml:13:13", "'information_schema'", "system schemas"),
    ),
    HandEdit(
        "database-schema-pg-toast",
        "  schema: pg_toast\n",
        ("service.yaml:9:11", "database.schema", "'pg_toast'"),
        old="  schema: null\n",
    ),
    HandEdit(
        "same-table-through-default-schema",
        _entities(
            "- {name: Item, table: items, fields: [{name: title, type: str}]}",
            "- {name: Thing, table: items, schema: public, fields: [{name: title, type: str}]}",
        ),
        ("service.yaml:13:", "entities[1].table", "'items'", "schema 'public'"),
    ),
    HandEdit(
        "same-table-through-database-schema",
        "  schema: shop\n  async: true\n"
        + _entities(
            "- {name: Item, fields: [{name: title, type: str}]}",
            "- {name: Thing, table: items, schema: shop, fields: [{name: title, type: str}]}",
        ),
        ("service.yaml:13:", "entities[1].table", "'items'", "schema 'shop'"),
        old="  schema: null\n  async: true\nentities: []\n",
    ),
    HandEdit(
        "consumer-keyword-module",
        "entities: []\nconsumers:\n  - {group: async, handles: ['order.*']}\n",
        ("service.yaml:13:", "consumers[0].group", "'async'", "keyword"),
    ),
    HandEdit(
        "required-self-reference",
        _entities("- {name: Node, fields: [{name: parent_id, type: fk, to: Node}]}"),
        ("service.yaml:12:59:", "entities[0].fields[0].to", "(Node.parent_id -> Node)", "nullable"),
    ),
    HandEdit(
        "required-two-entity-cycle",
        _entities(
            "- {name: Order, fields: [{name: item_id, type: fk, to: OrderItem}]}",
            "- {name: OrderItem, fields: [{name: order_id, type: fk, to: Order}]}",
        ),
        ("service.yaml:12:", "(Order.item_id -> OrderItem.order_id -> Order)", "nullable"),
    ),
]


def _commit(service: Path, message: str) -> None:
    git(service, "add", "-A")
    git(
        service, "-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-qm", message
    )


@pytest.fixture(scope="module")
def service_with_item(pristine_service: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The committed service with an entity ``Item`` added (and committed) by kitgen."""
    service = tmp_path_factory.mktemp("with-item") / "shop"
    shutil.copytree(pristine_service, service, symlinks=True)
    result = kitgen(service, "add", "repository", "Item", "--field", "title:str")
    assert result.returncode == 0, result.stdout + result.stderr
    _commit(service, "add Item")
    return service


def _assert_says(message: str, pieces: tuple[str, ...]) -> None:
    for piece in pieces:
        assert piece in message, f"expected {piece!r} in: {message}"


@pytest.mark.parametrize("case", FLAG_CASES, ids=lambda case: case.id)
def test_flag_is_refused(case: Refusal, service_with_item: Path, tmp_path: Path) -> None:
    service = tmp_path / "shop"
    shutil.copytree(service_with_item, service, symlinks=True)
    before = tree_state(service)
    message = assert_refused(kitgen(service, *case.args), says=case.says[0])
    _assert_says(message, case.says)
    assert_unchanged(before, service)


@pytest.mark.parametrize("case", EDIT_CASES, ids=lambda case: case.id)
def test_hand_edit_is_refused_by_sync(case: HandEdit, service: Path) -> None:
    manifest = service / "service.yaml"
    text = manifest.read_text()
    assert text.count(case.old) == 1, text
    manifest.write_text(text.replace(case.old, case.new))
    _commit(service, case.id)
    before = tree_state(service)
    message = assert_refused(kitgen(service, "sync"), says=case.says[0])
    _assert_says(message, case.says)
    assert_unchanged(before, service)


# A manifest that makes the template render every file and every code path it has: each
# field type, defaults with factories, an enum, a foreign key, a UUID key, a second schema,
# composite uniqueness, every event field type, and handles by name and by glob.
_EVERYTHING: dict[str, Any] = {
    "manifest_version": 1,
    "service": "shop",
    "package": "shop",
    "database": {"schema": "shop", "async": True},
    "entities": [
        {
            "name": "Customer",
            "primary_key": "uuid",
            "fields": [
                {"name": "email", "type": "str", "unique": True},
                {"name": "bio", "type": "text", "nullable": True},
                {"name": "tier", "type": "enum", "values": ["gold", "basic"], "default": "gold"},
                {"name": "tags", "type": "list[str]", "default": []},
                {"name": "scores", "type": "list[int]", "default": [1, 2]},
                {"name": "extra", "type": "json", "default": {}},
                {"name": "token", "type": "uuid", "nullable": True},
            ],
        },
        {
            "name": "Order",
            "schema": "sales",
            "fields": [
                {"name": "customer_id", "type": "fk", "to": "Customer", "on_delete": "cascade"},
                {"name": "total", "type": "decimal", "default": "0"},
                {"name": "quantity", "type": "int", "default": 1},
                {"name": "big", "type": "bigint", "index": True},
                {"name": "ratio", "type": "float", "default": 0.5},
                {"name": "paid", "type": "bool", "default": False},
                {"name": "day", "type": "date", "nullable": True},
                {"name": "at", "type": "datetime", "nullable": True},
                {"name": "code", "type": "str"},
            ],
            "unique_together": [["code", "day"]],
        },
    ],
    "events": [
        {
            "name": "OrderPlaced",
            "fields": [
                {"name": f"f_{index}", "type": kind, "nullable": index % 2 == 0}
                for index, kind in enumerate(EVENT_FIELD_TYPES)
            ],
        }
    ],
    "consumers": [{"group": "fulfil", "handles": ["OrderPlaced", "order.*"]}],
}
_CLASS = re.compile(r"[A-Z][A-Za-z0-9]*")
_SNAKE = re.compile(r"[a-z][a-z0-9_]*")


@dataclass
class _Rendered:
    """What a rendered service binds, and what of it came from the manifest."""

    root: Path
    manifest: Manifest
    modules: dict[Path, ast.Module] = field(default_factory=dict)

    @property
    def package(self) -> Path:
        return self.root / self.manifest.package


@pytest.fixture(scope="module", params=[True, False], ids=["async", "sync"])
def rendered(
    request: pytest.FixtureRequest,
    hostile_template: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> _Rendered:
    manifest = Manifest.model_validate(
        _EVERYTHING | {"database": {"schema": "shop", "async": request.param}}
    )
    options = (
        "with_cache",
        "with_streams",
        "with_http_client",
        "with_config_store",
        "with_renovate",
    )
    root = new_service(
        tmp_path_factory.mktemp("everything") / "shop",
        data={
            "service_name": "shop",
            "async_db": request.param,
            "db_schema": "shop",
            **dict.fromkeys(options, True),
            **manifest.to_answers(),
        },
        defaults=True,
        template=str(hostile_template),
        vcs_ref="1.0.0",
    )
    modules = {
        path.relative_to(root): ast.parse(path.read_text(), str(path))
        for path in sorted(root.rglob("*.py"))
        if "servicekit" not in path.relative_to(root).parts
    }
    return _Rendered(root, manifest, modules)


def test_the_rendered_manifest_uses_every_field_type(rendered: _Rendered) -> None:
    used = {f.type for entity in rendered.manifest.entities for f in entity.fields}
    assert used == set(FIELD_TYPES)


def _bound_names(module: ast.Module) -> set[str]:
    """Every name the module imports (anywhere) or defines at its top level."""
    names = {
        (alias.asname or alias.name).split(".")[0]
        for node in ast.walk(module)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    for node in module.body:
        if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {target.id for target in node.targets if isinstance(target, ast.Name)}
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


_NEW_SCOPES = (
    ast.Lambda,
    ast.FunctionDef,
    ast.AsyncFunctionDef,
    ast.ClassDef,
    ast.ListComp,
    ast.SetComp,
    ast.DictComp,
    ast.GeneratorExp,
)


def _read_in_class_bodies(module: ast.Module) -> set[str]:
    """Names class bodies read in their own scope, where a field of that name would win."""
    names: set[str] = set()
    for cls in (node for node in ast.walk(module) if isinstance(node, ast.ClassDef)):
        pending: list[ast.AST] = list(ast.iter_child_nodes(cls))
        while pending:
            node = pending.pop()
            if isinstance(node, _NEW_SCOPES):
                continue
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                names.add(node.id)
            pending.extend(ast.iter_child_nodes(node))
    return names


def _imported(module: ast.Module) -> set[str]:
    return {
        (alias.asname or alias.name).split(".")[0]
        for node in module.body
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }


def _manifest_classes(manifest: Manifest) -> set[str]:
    classes = {event.name for event in manifest.events}
    for entity in manifest.entities:
        classes |= {entity.name, *(entity.name + suffix for suffix in ENTITY_CLASS_SUFFIXES)}
        classes |= {enum_class(entity.name, f.name) for f in entity.fields if f.type == "enum"}
    return classes


def test_every_class_name_the_template_binds_is_refused(rendered: _Rendered) -> None:
    bound = set().union(*map(_bound_names, rendered.modules.values()))
    classes = {name for name in bound if _CLASS.fullmatch(name)}
    missing = classes - _manifest_classes(rendered.manifest) - CLASS_NAMES_TAKEN
    assert not missing, (
        f"add to CLASS_NAMES_TAKEN in kitgen/manifest/_reserved.py: {sorted(missing)}"
    )


def test_every_module_beside_the_entity_modules_is_refused(rendered: _Rendered) -> None:
    entity_modules = {entity.module for entity in rendered.manifest.entities}
    beside = {
        path.stem
        for folder in ("models", "repositories", "routers", "schemas")
        for path in (rendered.package / folder).glob("*.py")
    } | {path.stem.removeprefix("test_") for path in (rendered.root / "tests").glob("test_*.py")}
    # snake_case never gives a leading '_', so __init__ cannot be an entity's module
    missing = {stem for stem in beside - entity_modules if not stem.startswith("_")}
    missing -= ENTITY_MODULES_TAKEN.keys()
    assert not missing, (
        f"add to ENTITY_MODULES_TAKEN in kitgen/manifest/_reserved.py: {sorted(missing)}"
    )


@pytest.mark.parametrize(
    ("modules", "taken"),
    [
        (("models", "schemas"), ENTITY_FIELD_NAMES_TAKEN),
        (("events.py",), EVENT_FIELD_NAMES_TAKEN),
    ],
    ids=["entity-fields", "event-fields"],
)
def test_every_name_a_class_body_reads_is_refused_as_a_field(
    rendered: _Rendered, modules: tuple[str, ...], taken: frozenset[str]
) -> None:
    read: set[str] = set()
    for path, module in rendered.modules.items():
        if path.parts[:2] in {(rendered.manifest.package, part) for part in modules}:
            read |= _read_in_class_bodies(module) | _imported(module)
    fields = {f.name for entity in rendered.manifest.entities for f in entity.fields}
    fields |= {f.name for event in rendered.manifest.events for f in event.fields}
    assert read, "no generated class bodies found"
    missing = {name for name in read - fields - taken if _SNAKE.fullmatch(name)}
    assert not missing, (
        f"add to the field names taken in kitgen/manifest/_reserved.py: {sorted(missing)}"
    )


def _served_routes(rendered: _Rendered) -> set[str]:
    """First path segments the app serves besides the entity routers."""
    defaults = inspect.signature(FastAPI).parameters
    urls = {str(defaults[option].default) for option in ("docs_url", "redoc_url", "openapi_url")}
    manifest = rendered.manifest
    entity_routers = {
        Path(manifest.package, "routers", f"{entity.module}.py") for entity in manifest.entities
    }
    for path, module in rendered.modules.items():
        if path.parts[0] == manifest.package and path not in entity_routers:
            urls |= _decorated_paths(module)
    return {url.strip("/").split("/")[0] for url in urls}


def _decorated_paths(module: ast.Module) -> set[str]:
    """The paths of ``@router.get("/health")``-style decorators in ``module``."""
    return {
        decorator.args[0].value
        for node in ast.walk(module)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        for decorator in node.decorator_list
        if isinstance(decorator, ast.Call)
        and decorator.args
        and isinstance(decorator.args[0], ast.Constant)
        and isinstance(decorator.args[0].value, str)
        and decorator.args[0].value.startswith("/")
    }


def test_every_route_the_app_serves_is_refused_as_an_entity_route(rendered: _Rendered) -> None:
    served = _served_routes(rendered)
    assert "health" in served, served
    missing = served - ROUTES_TAKEN
    assert not missing, f"add to ROUTES_TAKEN in kitgen/manifest/_reserved.py: {sorted(missing)}"


# -- package_name: every module the service imports is refused by the template ---------


def _imported_roots(module: ast.Module) -> set[str]:
    """The top-level modules ``module`` imports anywhere (absolute imports only)."""
    roots: set[str] = set()
    for node in ast.walk(module):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_every_module_the_service_imports_is_refused_as_package_name(
    rendered: _Rendered, hostile_template: Path, tmp_path: Path
) -> None:
    """A package named like an imported module shadows it: copier.yml's list must hold
    every module the service and its vendored servicekit import."""
    imported = set().union(
        *(_imported_roots(ast.parse(path.read_text())) for path in rendered.root.rglob("*.py"))
    )
    candidates = sorted(
        name
        for name in imported - {rendered.manifest.package}
        if re.fullmatch(r"[a-z][a-z0-9_]*", name)  # others fail the identifier rule first
    )
    accepted = [
        name
        for name in candidates
        if "would shadow" not in _copier_copy_package(hostile_template, tmp_path, name)
    ]
    assert not accepted, f"add to package_name's list in copier.yml: {accepted}"


def _copier_copy_package(template: Path, cwd: Path, package: str) -> str:
    """What plain ``copier copy`` prints for ``package_name=<package>`` (validators only:
    the copy itself is never reached for a refused name)."""
    copier = Path(sys.executable).with_name("copier")
    result = subprocess.run(
        [
            str(copier), "copy", "--defaults", "--vcs-ref", "1.0.0",
            "-d", "service_name=svc", "-d", f"package_name={package}",
            str(template), str(cwd / package),
        ],
        capture_output=True, text=True, check=False, timeout=600,
    )  # fmt: skip
    return result.stdout + result.stderr
