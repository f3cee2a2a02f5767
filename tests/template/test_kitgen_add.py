"""`kitgen add` / `sync` / `check` on a real service: code, migrations, edits kept, errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.template.conftest import commit_all, committed_service, committed_template_copy, git

pytestmark = pytest.mark.slow

EVERY_TYPE = [
    "slug:str:unique:max_length=120",
    "name:text:index",
    "size:int:default=0",
    "views:bigint:nullable",
    "weight:float",
    "price:decimal:precision=12:scale=2:default=1.50",
    "released:date:nullable",
    "published_at:datetime",
    "ref:uuid",
    "attributes:json:default={}",
    "tags:list[str]:default=[]",
    "ratings:list[int]",
    "status:enum:values=draft|live|retired:default=draft",
    "customer_id:fk:to=Customer:on_delete=cascade",
    "parent_id:fk:to=Product:nullable",
]


def kitgen(service: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "VIRTUAL_ENV")}
    # The console script, as users run it (`python -m` would put the service's vendored
    # servicekit first on sys.path).
    return subprocess.run(
        [str(Path(sys.executable).with_name("kitgen")), *args],
        cwd=service,
        env=env,
        stdin=subprocess.DEVNULL,  # no terminal: kitgen never prompts
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


def ok(service: Path, *args: str) -> str:
    result = kitgen(service, *args)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def service_checks(service: Path) -> None:
    """The service is still lint-clean, formatted, type-clean and its tests pass."""
    tools = Path(sys.executable).parent
    env = {**os.environ, "PYTHONPATH": str(service)}
    env.pop("DATABASE_URL", None)
    for command in (
        [str(tools / "ruff"), "check", "."],
        [str(tools / "ruff"), "format", "--check", "."],
        [str(tools / "mypy")],
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
    ):
        result = subprocess.run(
            command, cwd=service, env=env, capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return committed_template_copy(tmp_path_factory.mktemp("template") / "kitgen")


@pytest.fixture
def service(template: Path, tmp_path: Path) -> Path:
    return committed_service(template, tmp_path / "shop", with_streams="true")


def test_every_field_type_end_to_end(service: Path) -> None:
    ok(service, "add", "repository", "Customer", "--field", "email:str:unique",
       "--cached", "by_email")  # fmt: skip
    commit_all(service, "customer")
    out = ok(service, "add", "repository", "Product", *[a for f in EVERY_TYPE for a in ("-f", f)],
             "--unique-together", "name,size")  # fmt: skip
    assert "migration: migrations/versions/" in out
    migration = next((service / "migrations" / "versions").glob("*add_product.py")).read_text()
    assert 'op.create_table(\n        "products",' in migration
    assert "please adjust" not in migration
    model = (service / "shop" / "models" / "product.py").read_text()
    assert (
        'price: Mapped[Decimal] = mapped_column(Numeric(12, 2), default=Decimal("1.50"))' in model
    )
    assert 'ForeignKey("customers.id", ondelete="CASCADE")' in model
    assert "tags: Mapped[list[str]]" in model
    commit_all(service, "product")
    # an entity of its key and timestamps only (no --field, no terminal), one of references
    assert "kitgen add field Tag" in ok(service, "add", "repository", "Tag")
    commit_all(service, "tag")
    ok(service, "add", "repository", "Review", "-f", "product_id:fk:to=Product")
    # the service's own tests include `alembic upgrade head` + `alembic check` on Postgres,
    # and create/get/list/upsert through the router for both entities
    service_checks(service)
    assert ok(service, "check").startswith("no drift")


def test_local_edits_survive_a_growing_manifest(service: Path) -> None:
    ok(service, "add", "repository", "Customer", "--field", "email:str:unique")
    repository = service / "shop" / "repositories" / "customer.py"
    repository.write_text(
        repository.read_text()
        + "\n    async def by_email(self, email: str) -> Customer | None:\n"
        + "        return await self.get_by(email=email)\n"
    )
    commit_all(service, "customer with a custom query")
    out = ok(service, "add", "field", "Customer", "nickname:str:nullable:max_length=40")
    assert "add_customer_nickname" in out
    assert "async def by_email" in repository.read_text()
    assert (
        "nickname: Mapped[str | None]" in (service / "shop" / "models" / "customer.py").read_text()
    )
    migration = next((service / "migrations" / "versions").glob("*nickname.py")).read_text()
    assert "op.add_column" in migration
    service_checks(service)


def test_template_update_reaches_entity_code_and_keeps_edits(service: Path, template: Path) -> None:
    ok(service, "add", "repository", "Customer", "--field", "email:str:unique")
    repository = service / "shop" / "repositories" / "customer.py"
    repository.write_text(repository.read_text() + "\n    # the shop team's note\n")
    commit_all(service, "local edit")
    source = template / "templates" / "service" / "{{ package_name }}" / "repositories"
    entity_template = next(source.glob("{% yield*"))
    text = entity_template.read_text()
    entity_template.write_text(text.replace("add the service", "add this service"))
    commit_all(template, "template 1.1.0")
    git(template, "tag", "1.1.0")
    try:
        ok(service, "update", ".", "--vcs-ref", "1.1.0")
        updated = repository.read_text()
        assert "add this service's own queries here" in updated
        assert "# the shop team's note" in updated
    finally:
        git(template, "tag", "-d", "1.1.0")
        git(template, "reset", "-q", "--hard", "1.0.0")


def test_dry_run_shows_the_change_and_writes_nothing(service: Path) -> None:
    out = ok(service, "add", "repository", "Customer", "-f", "email:str", "--dry-run")
    assert "shop/models/customer.py" in out
    assert "+class Customer(TimestampMixin, Base):" in out
    assert "dry run: nothing was written" in out
    assert git(service, "status", "--porcelain") == ""


def test_sync_after_a_hand_edit_is_idempotent(service: Path) -> None:
    manifest = service / "service.yaml"
    manifest.write_text(
        manifest.read_text().replace(
            "entities: []",
            "entities:\n  # added by hand\n  - name: Tag\n"
            "    fields:\n      - {name: label, type: str}",
        )
    )
    ok(service, "sync")
    assert (service / "shop" / "models" / "tag.py").is_file()
    assert "# added by hand" in manifest.read_text()
    commit_all(service, "synced")
    assert ok(service, "sync").strip() == "nothing changed"
    assert git(service, "status", "--porcelain") == ""


def test_check_reports_drift(service: Path) -> None:
    ok(service, "add", "repository", "Customer", "-f", "email:str")
    commit_all(service, "customer")
    runtime = service / "servicekit" / "errors.py"
    runtime.write_text(runtime.read_text() + "# patched locally\n")
    manifest = service / "service.yaml"
    manifest.write_text(
        manifest.read_text().replace("{name: email, type: str}", "{name: email, type: text}")
    )
    result = kitgen(service, "check")
    assert result.returncode == 1
    assert "servicekit/errors.py" in result.stderr
    assert "disagree on entities: run `kitgen sync`" in result.stderr


def test_cached_lookups_need_the_cache(template: Path, tmp_path: Path) -> None:
    service = committed_service(template, tmp_path / "plain", with_cache="false")
    result = kitgen(service, "add", "repository", "Tag", "-f", "label:str:unique",
                    "--cached", "by_label")  # fmt: skip
    assert result.returncode == 2
    assert "the cached lookups of Tag need it: `copier update --data with_cache=true`" in (
        " ".join(result.stderr.split())
    )
    assert git(service, "status", "--porcelain") == ""


@pytest.mark.parametrize("answer", ["with_cache=false", "async_db=false"])
def test_plain_copier_cannot_switch_off_what_cached_lookups_need(
    service: Path, answer: str
) -> None:
    ok(service, "add", "repository", "Tag", "-f", "label:str:unique", "--cached", "by_label")
    commit_all(service, "tag")
    copier = Path(sys.executable).with_name("copier")
    result = subprocess.run(
        [str(copier), "update", "--defaults", "--vcs-ref", ":current:", "--data", answer, "."],
        cwd=service,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
        input="",
    )
    assert result.returncode != 0
    assert "has cached lookups, which need with_cache and async_db" in result.stderr
    assert git(service, "status", "--porcelain") == ""


@pytest.mark.parametrize(
    ("edit", "answer"),
    [
        (("service: shop", "service: boutique"), "service_name='shop'"),
        (("package: shop", "package: boutique"), "package_name='shop'"),
        (("schema: null", "schema: sales"), "db_schema=null"),
        (("async: true", "async: false"), "async_db=true"),
    ],
    ids=["service", "package", "schema", "async"],
)
def test_keys_copier_owns_are_refused_when_edited_by_hand(
    service: Path, edit: tuple[str, str], answer: str
) -> None:
    manifest = service / "service.yaml"
    manifest.write_text(manifest.read_text().replace(*edit))
    edited = manifest.read_bytes()
    key = edit[1].split(":")[0]
    for command in (("sync",), ("add", "repository", "Tag", "-f", "label:str")):
        result = kitgen(service, *command)
        assert result.returncode == 2, result.stdout + result.stderr
        message = " ".join(result.stderr.split())
        assert f"generated with {answer}" in message, message
        assert f"copier update --data {answer.split('=', maxsplit=1)[0]}=" in message
        assert key in message
        assert manifest.read_bytes() == edited
        assert git(service, "status", "--porcelain") == " M service.yaml\n"
    check = kitgen(service, "check")
    assert check.returncode == 1
    assert f"generated with {answer}" in " ".join(check.stderr.split())


def test_events_and_consumers_are_wired(service: Path) -> None:
    ok(service, "add", "event", "OrderPlaced", "-f", "order_id:str", "-f", "total:decimal")
    commit_all(service, "event")
    ok(
        service,
        "add",
        "consumer",
        "fulfillment",
        "--handles",
        "OrderPlaced",
        "--handles",
        "order.*",
    )
    handlers = (service / "shop" / "consumers" / "fulfillment.py").read_text()
    assert "@router.on(OrderPlaced)" in handlers
    assert '@router.on("order.*")' in handlers
    assert "class OrderPlaced(BaseEvent):" in (service / "shop" / "events.py").read_text()
    # the app starts the group; the service's stream test checks it acknowledges
    service_checks(service)


def test_full_lifecycle_and_entity_events_end_to_end(service: Path) -> None:
    ok(service, "add", "repository", "Category", "-f", "slug:str:unique", "--delete", "hard")
    commit_all(service, "category")
    added = ok(service, "add", "repository", "Product", "-f", "slug:str:unique",
               "-f", "price:decimal", "-f", "category_id:fk:to=Category", "-f", "active:bool:index",
               "--cached", "by_slug", "--delete", "soft", "--versioned",
               "--events", "created,updated,deleted")  # fmt: skip
    assert "migration: migrations/versions/" in added  # the products and outbox tables
    commit_all(service, "product")
    ok(service, "add", "repository", "AuditEntry", "-f", "message:text", "--no-api")
    commit_all(service, "audit entry")
    manifest = service / "service.yaml"
    text = manifest.read_text()
    text = text.replace(
        "    delete: hard\n", "    delete: hard\n    endpoints: [list, get, create]\n"
    )
    manifest.write_text(text)
    commit_all(service, "hand edit")
    assert "shop/routers/category.py" in ok(service, "sync")
    commit_all(service, "sync")
    ok(service, "add", "consumer", "audit", "--handles", "ProductCreated", "--dedupe", "3600")
    package = service / "shop"
    assert not (package / "routers" / "audit_entry.py").exists()
    router = (package / "routers" / "product.py").read_text()
    assert '@router.patch("/{item_id}"' in router
    assert "await repository.soft_delete(item_id, expected_version=version)" in router
    assert "stage_event(session, OutboxMessage, ProductCreated(item=stored)" in router
    assert "@router.delete" not in (package / "routers" / "category.py").read_text()
    assert "dedupe_ttl=3600.0" in (package / "consumers" / "audit.py").read_text()
    assert (
        "class OutboxMessage(OutboxMixin, Base):" in (package / "models" / "outbox.py").read_text()
    )
    # the service's own tests: PATCH, DELETE, versions, filters, evictions, and that each
    # write's event reaches the stream through the outbox relay the app runs
    service_checks(service)
    assert ok(service, "check").startswith("no drift")


INVALID = [
    (
        ["add", "repository", "product", "-f", "a:str"],
        "name 'product' is not allowed; use PascalCase",
    ),
    (["add", "repository", "Product", "-f", "class:str"], "keyword"),
    (["add", "repository", "Product", "-f", "name:strng"], "unknown type 'strng'"),
    (["add", "repository", "Product", "-f", "name"], "--field 'name'"),
    (["add", "repository", "Product", "-f", "c:fk:to=Nobody"], "Nobody"),
    (["add", "repository", "../Evil", "-f", "a:str"], "../Evil"),
    (["add", "repository", "/etc/Passwd", "-f", "a:str"], "/etc/Passwd"),
    (["add", "repository", "Order", "-f", "a:str", "--table", "order"], "reserved"),
    (["add", "repository", "Product", "-f", "user:str"], "reserved"),
    (["add", "repository", "Product", "-f", "select:str"], "used by the generated code"),
    (["add", "repository", "Product", "-f", "a:str", "-f", "a:int"], "'a'"),
    (["add", "repository", "Product", "-f", "a:int:max_length=3"], "max_length"),
    (["add", "repository", "Product", "-f", "a:int:default=abc"], "default"),
    (["add", "repository", "Product", "-f", "a:enum"], "values"),
    (["add", "repository", "Product", "-f", "a:enum:values=A|b"], "values"),
    (["add", "repository", "Product", "-f", "a:decimal:precision=2:scale=5"], "scale"),
    (["add", "repository", "Product", "-f", "a:str:max_length=0"], "max_length"),
    (["add", "repository", "Product", "-f", "a:fk:to=Product:on_delete=explode"], "on_delete"),
    (["add", "repository", "Product", "-f", "a:str", "--unique-together", "a,zzz"], "zzz"),
    (["add", "repository", "Product", "-f", 'a:str:default=x"\nimport os'], "control"),
    (["add", "repository", "Pro'duct", "-f", "a:str"], "Pro'duct"),
    (["add", "repository", "Product", "-f", "id:int"], "'id'"),
    (["add", "repository", "Product", "-f", "a:str", "--cache-ttl", "60"], "needs --cached"),
    (["add", "repository", "Product", "-f", "metadata:json"], "metadata"),
    (["add", "field", "Nobody", "a:str"], "no entity 'Nobody'"),
    (["add", "event", "order_placed", "-f", "a:str"], "order_placed"),
    (["add", "consumer", "Bad Group", "--handles", "x.*"], "Bad Group"),
    (["add", "consumer", "audit"], "needs at least one --handles"),
    (["add", "consumer", "audit", "--handles", "Unknown"], "Unknown"),
    (["add", "consumer", "audit", "--handles", "x.*", "--dedupe", "0"], "dedupe"),
    (["add", "repository", "Product", "-f", "a:str", "--delete", "maybe"], "maybe"),
    (["add", "repository", "Product", "-f", "version:int", "--versioned"], "versioned: true"),
    (["add", "repository", "Product", "-f", "a:str", "--events", "created,moved"], "moved"),
    (["add", "repository", "Product", "-f", "a:str", "--events", "deleted"], "never announce"),
]


@pytest.mark.parametrize(("args", "message"), INVALID, ids=[" ".join(a)[:40] for a, _ in INVALID])
def test_invalid_input_exits_2_with_a_message_and_changes_nothing(
    service: Path, args: list[str], message: str
) -> None:
    before = (service / "service.yaml").read_bytes()
    result = kitgen(service, *args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1  # one message, one line
    assert (service / "service.yaml").read_bytes() == before
    assert git(service, "status", "--porcelain") == ""


def test_existing_name_needs_force_and_dirty_tree_is_refused(service: Path) -> None:
    ok(service, "add", "repository", "Customer", "-f", "email:str")
    duplicate = kitgen(service, "add", "repository", "Customer", "-f", "email:str")
    assert duplicate.returncode == 2
    assert "--force" in duplicate.stderr
    dirty = kitgen(service, "add", "repository", "Tag", "-f", "label:str")
    assert dirty.returncode == 2
    assert "uncommitted changes" in dirty.stderr
    commit_all(service, "customer")
    ok(service, "add", "repository", "Customer", "-f", "email:str", "-f", "name:str", "--force")
    assert "name: Mapped[str]" in (service / "shop" / "models" / "customer.py").read_text()
