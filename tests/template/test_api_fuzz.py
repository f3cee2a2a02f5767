"""A service with every field type and option keeps its API contract on Postgres and SQLite.

One service is generated with four entities that use every field type and every field
option, installed in the shared service environment, and its own suite is run: that
includes the Schemathesis test (tests/test_api_contract.py) against both databases, and
then again behind PgBouncer. Then the requests an outside fuzzer found 500s with are
replayed on each database: the same request gets the same status everywhere, and a
stored row reads back the same.
"""

from __future__ import annotations

import json
import random
import string
from dataclasses import dataclass
from pathlib import Path

import pytest

from servicekit.testgres import DatabaseFactory, LocalServer
from tests.template.conftest import (
    UV,
    behind,
    clean_env,
    commit_all,
    committed_service,
    committed_template_copy,
    databases_reached_through,
    run,
)
from tests.template.test_kitgen_add import ok

pytestmark = pytest.mark.slow

PROBE = Path(__file__).with_name("_api_probe.py")

# Every field type; every option (nullable, unique, index, default, max_length,
# precision/scale, values, to, on_delete with each action), a UUID and an int key,
# unique_together, and an entity without a unique key (no upsert route).
ENTITIES = """\
entities:
  - name: Customer
    primary_key: uuid
    fields:
      - {name: email, type: str, unique: true, max_length: 120}
      - {name: nickname, type: str, nullable: true, max_length: 40}
  - name: Product
    fields:
      - {name: slug, type: str, unique: true, max_length: 120}
      - {name: name, type: text, index: true}
      - {name: size, type: int, default: 0}
      - {name: views, type: bigint, nullable: true}
      - {name: weight, type: float}
      - {name: price, type: decimal, precision: 12, scale: 2, default: "1.50"}
      - {name: released, type: date, nullable: true}
      - {name: published_at, type: datetime}
      - {name: ref, type: uuid}
      - {name: attributes, type: json, default: {}}
      - {name: tags, type: "list[str]", default: []}
      - {name: ratings, type: "list[int]"}
      - {name: status, type: enum, values: [draft, live, retired], default: draft}
      - {name: customer_id, type: fk, to: Customer, on_delete: cascade}
      - {name: parent_id, type: fk, to: Product, nullable: true}
    unique_together: [[name, size]]
  - name: Reading
    fields:
      - {name: note, type: text, nullable: true, default: "n/a"}
      - {name: level, type: int, nullable: true, unique: true}
      - {name: total, type: bigint, default: 0, index: true}
      - {name: score, type: float, nullable: true, default: 0.5}
      - {name: amount, type: decimal, precision: 5, scale: 3, nullable: true}
      - {name: day, type: date}
      - {name: taken_at, type: datetime, nullable: true}
      - {name: active, type: bool, default: true}
      - {name: token, type: uuid, nullable: true, unique: true}
      - {name: payload, type: json, nullable: true}
      - {name: labels, type: "list[str]", nullable: true}
      - {name: codes, type: "list[int]", default: [1, 2]}
      - {name: mood, type: enum, values: [calm, busy], nullable: true}
      - {name: product_id, type: fk, to: Product, nullable: true, on_delete: set null}
      - {name: owner_id, type: fk, to: Customer, nullable: true, on_delete: no action}
  - name: Tag
    fields:
      - {name: label, type: str}
      - {name: product_id, type: fk, to: Product, on_delete: restrict}
      - {name: flag, type: bool}
"""


@dataclass(frozen=True)
class Probe:
    id: str
    method: str
    path: str
    body: str | None
    status: int


RANDOM_TEXT = "".join(random.Random(0).choices(string.ascii_letters + string.digits, k=2600))


def product(name: str) -> str:
    """A Product body valid but for its customer, which does not exist (409 once stored)."""
    return (
        f'{{"slug": "s", "name": "{name}", "weight": 1.0, "published_at": "2024-01-01T00:00:00Z",'
        ' "ref": "6f1c1b7e-3b8a-4d0c-9a57-0d3c2a1e4f10", "ratings": [],'
        ' "customer_id": "6f1c1b7e-3b8a-4d0c-9a57-0d3c2a1e4f11"}'
    )


def reading(extra: str) -> str:
    """A Reading body: the one required field, then ``extra`` (raw JSON members)."""
    return '{"day": "2024-01-01"' + (", " + extra if extra else "") + "}"


PROBES = [
    Probe("page-past-64-bit-offset", "GET", "/readings?page=4611686018427387904", None, 422),
    Probe("path-id-past-int32", "GET", "/readings/2147483648", None, 422),
    Probe("unknown-id", "GET", "/readings/7", None, 404),
    Probe("int-past-int32", "POST", "/readings", reading('"level": 2147483648'), 422),
    Probe("bigint-past-int64", "POST", "/readings", reading('"total": 9223372036854775808'), 422),
    Probe(
        "list-int-past-int64", "POST", "/readings", reading('"codes": [-9223372036854775809]'), 422
    ),
    Probe("fk-past-int32", "POST", "/readings", reading('"product_id": 2147483648'), 422),
    Probe("nul-in-text", "POST", "/readings", reading('"note": "a\\u0000"'), 422),
    Probe("nul-in-list-str", "POST", "/readings", reading('"labels": ["\\u0000"]'), 422),
    Probe("nul-in-json", "POST", "/readings", reading('"payload": {"k": "\\u0000"}'), 422),
    Probe("surrogate-in-text", "POST", "/readings", reading('"note": "\\ud800"'), 422),
    Probe("surrogate-in-json", "POST", "/readings", reading('"payload": ["\\ud800"]'), 422),
    Probe("surrogate-as-key", "POST", "/readings", reading('"\\ud800": 1'), 422),
    Probe("nan-in-json", "POST", "/readings", reading('"payload": {"x": NaN}'), 422),
    Probe("infinity-in-float", "POST", "/readings", reading('"score": Infinity'), 422),
    Probe("naive-datetime", "POST", "/readings", reading('"taken_at": "2024-01-01T00:00:00"'), 422),
    Probe(
        "offset-before-year-1",
        "POST",
        "/readings",
        reading('"taken_at": "0001-01-01T00:00:00+01:00"'),
        422,
    ),
    Probe("string-as-int", "POST", "/readings", reading('"total": "5"'), 422),
    Probe("number-as-bool", "POST", "/readings", reading('"active": 1'), 422),
    Probe("number-as-datetime", "POST", "/readings", reading('"taken_at": 0'), 422),
    Probe("number-as-date", "POST", "/readings", '{"day": 0}', 422),
    Probe("number-as-decimal", "POST", "/readings", reading('"amount": 1.5'), 422),
    Probe("decimal-too-wide", "POST", "/readings", reading('"amount": "123.4"'), 422),
    Probe("unknown-field", "POST", "/readings", reading('"colour": "red"'), 422),
    Probe("malformed-json", "POST", "/readings", '{"day": ', 422),
    Probe("not-utf8", "POST", "/readings", "\udcff", 400),
    Probe("missing-reference", "POST", "/readings", reading('"product_id": 5'), 409),
    # Product.name is an indexed text: Postgres cannot index an entry past ~2,700 bytes
    # (random letters, so that Postgres cannot compress the entry below its limit).
    Probe("indexed-text-reaches-the-database", "POST", "/products", product(RANDOM_TEXT), 409),
    Probe("indexed-text-past-an-index-entry", "POST", "/products", product("\u00e9" * 1301), 422),
    Probe(
        "every-type-stored",
        "POST",
        "/readings",
        reading(
            '"note": "caf\\u00e9", "level": -2147483648, "total": 9223372036854775807,'
            ' "score": -0.25, "amount": "-12.345", "taken_at": "2024-02-29T23:30:00.5-01:00",'
            ' "active": false, "token": "6f1c1b7e-3b8a-4d0c-9a57-0d3c2a1e4f10",'
            ' "payload": {"a": [1, 2.5, "x", null, true], "b": {}}, "labels": ["", "z"],'
            ' "codes": [-9223372036854775808], "mood": "busy"'
        ),
        201,
    ),
    Probe("list-after-everything", "GET", "/readings?page=1&size=200", None, 200),
]


@pytest.fixture(scope="module")
def fuzz_service(tmp_path_factory: pytest.TempPathFactory, service_venv: Path) -> Path:
    template = committed_template_copy(tmp_path_factory.mktemp("template") / "kitgen")
    service = committed_service(template, tmp_path_factory.mktemp("fuzz") / "shop")
    manifest = service / "service.yaml"
    manifest.write_text(manifest.read_text().replace("entities: []\n", ENTITIES))
    ok(service, "sync")
    commit_all(service, "four entities")
    python = service_venv / "bin" / "python"
    run([str(UV), "pip", "install", "--python", str(python), "-e", f"{service}[dev]"], cwd=service)
    return service


def test_own_suite_with_schemathesis_passes_on_postgres_and_sqlite(
    fuzz_service: Path, service_venv: Path
) -> None:
    tools = service_venv / "bin"
    env = clean_env()
    run([str(tools / "ruff"), "check", "."], cwd=fuzz_service, env=env)
    run([str(tools / "ruff"), "format", "--check", "."], cwd=fuzz_service, env=env)
    run([str(tools / "mypy")], cwd=fuzz_service, env=env)
    result = run(
        [str(tools / "python"), "-m", "pytest", "-v", "-p", "no:cacheprovider"],
        cwd=fuzz_service,
        env=env,
    )
    assert " failed" not in result.stdout
    for route in ("POST /products", "PUT /readings", "GET /customers/{item_id}", "POST /tags"):
        for backend in ("postgres", "sqlite"):
            case = f"test_api_keeps_its_contract[{route}][{backend}] PASSED"
            assert case in result.stdout, case


def test_own_suite_passes_behind_pgbouncer(
    fuzz_service: Path, service_venv: Path, pgbouncer: LocalServer
) -> None:
    """Four entities' repositories and routes, and the Schemathesis test, unchanged
    behind PgBouncer in transaction pooling mode (asyncpg, the template's default)."""
    python = str(service_venv / "bin" / "python")
    # The Schemathesis runs on SQLite never reach PgBouncer: half the suite's time, left out.
    result = run(
        [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", "not sqlite"],
        cwd=fuzz_service,
        env={**clean_env(), **behind(pgbouncer)},
    )
    assert " passed" in result.stdout
    assert "failed" not in result.stdout
    # The shared transactional database, the real_commits clones, the migrations' one.
    assert len(databases_reached_through(pgbouncer)) >= 3


def _answers(python: Path, env: dict[str, str], workdir: Path) -> dict[str, list[object]]:
    workdir.mkdir()
    requests = workdir / "requests.json"
    requests.write_text(json.dumps([[probe.method, probe.path, probe.body] for probe in PROBES]))
    result = run([str(python), str(PROBE), "shop", str(requests)], cwd=workdir, env=env)
    answers: list[list[object]] = json.loads(result.stdout)
    return {probe.id: answer for probe, answer in zip(PROBES, answers, strict=True)}


def test_postgres_and_sqlite_answer_every_probe_the_same(
    fuzz_service: Path, service_venv: Path, empty_databases: DatabaseFactory, tmp_path: Path
) -> None:
    python = service_venv / "bin" / "python"
    name = empty_databases.create_empty()
    postgres_env = {
        **clean_env(),
        "DATABASE_URL": empty_databases.url(name).render_as_string(hide_password=False),
    }
    try:
        run([str(python), "-m", "alembic", "upgrade", "head"], cwd=fuzz_service, env=postgres_env)
        postgres = _answers(python, postgres_env, tmp_path / "postgres")
    finally:
        empty_databases.drop(name)
    sqlite = _answers(python, clean_env(), tmp_path / "sqlite")  # the embedded default
    expected = {probe.id: probe.status for probe in PROBES}
    assert {key: status for key, (status, _) in postgres.items()} == expected
    assert {key: status for key, (status, _) in sqlite.items()} == expected
    stored = _sent_fields(postgres["every-type-stored"][1])
    assert stored == _sent_fields(sqlite["every-type-stored"][1])
    assert stored["taken_at"] == "2024-03-01T00:30:00.500000Z"
    assert stored["amount"] == "-12.345"
    assert stored["total"] == 9223372036854775807


def _sent_fields(body: object) -> dict[str, object]:
    # The key and the clock differ by design (Postgres spends an id on a failed insert).
    assert isinstance(body, dict)
    return {k: v for k, v in body.items() if k not in ("id", "created_at", "updated_at")}
