"""Manifest.to_answers(): the data the per-entity Copier templates render from."""

from __future__ import annotations

import ast
import json
import re
from decimal import Decimal
from typing import Any

import pytest

from kitgen.manifest import ManifestDocument, ManifestError
from kitgen.manifest._endpoints import endpoint_code
from kitgen.manifest._entity_code import model_bases
from kitgen.manifest._literals import python_literal

MANIFEST = """\
manifest_version: 1
service: shop
package: shop
database: {schema: sales, async: true}
entities:
  - name: Customer
    primary_key: uuid
    schema: crm
    fields:
      - {name: email, type: str, max_length: 200, unique: true}
  - name: OrderItem
    unique_together: [[sku, order_ref]]
    fields:
      - {name: sku, type: str, default: "a'b"}
      - {name: order_ref, type: text, nullable: true, index: true}
      - {name: quantity, type: int, default: 0}
      - {name: big, type: bigint, default: 9000000000}
      - {name: ratio, type: float, default: 1}
      - {name: price, type: decimal, precision: 10, scale: 2, default: '1.50'}
      - {name: paid, type: bool, default: false}
      - {name: due_on, type: date, nullable: true}
      - {name: paid_at, type: datetime, nullable: true}
      - {name: token, type: uuid}
      - {name: extra, type: json, default: {a: [1, true, null]}}
      - {name: tags, type: 'list[str]', default: [x, y]}
      - {name: sizes, type: 'list[int]', default: []}
      - {name: state, type: enum, values: [draft, live], default: draft}
      - {name: customer_id, type: fk, to: Customer, on_delete: set null, nullable: true}
      - {name: parent_id, type: fk, to: OrderItem, on_delete: restrict, nullable: true}
  - name: Category
    table: product_categories
    fields:
      - {name: title, type: str}
events:
  - name: S3ObjectUploaded
    schema_version: 2
    fields:
      - {name: key, type: str}
      - {name: size, type: int, nullable: true}
consumers:
  - group: order-sync
    handles: [S3ObjectUploaded, "order.*", "*"]
  - {group: audit, stream: "audit:all", handles: ["*"]}
"""

NO_OPTIONS: dict[str, Any] = {
    "nullable": False,
    "unique": False,
    "index": False,
    "max_length": None,
    "precision": None,
    "scale": None,
    "values": None,
    "to": None,
    "to_module": None,
    "to_table": None,
    "to_schema": None,
    "to_pk": None,
    "on_delete": None,
    "default": None,
}


# Keys computed for the templates (imports, types, ...), tested on their own below.
CODE_KEYS = frozenset(
    {"enum_class", "enum_members", "annotation", "schema_annotation", "column"}
    | {"default_expr", "default_factory"}
    | {"model_imports", "schema_imports", "pk_annotation", "table_args", "upsert_key"}
    | {"create_commits_alone", "cached_lookups", "cache_ttl", "repository_imports"}
    | {"router_imports"}
    | {"endpoints", "filters", "model_bases", "delete", "versioned", "entity_events"}
)


def _manifest_keys(item: dict[str, Any]) -> dict[str, Any]:
    kept = {k: v for k, v in item.items() if k not in CODE_KEYS}
    if "fields" in kept:
        kept["fields"] = [_manifest_keys(field) for field in kept["fields"]]
    return kept


def _field(name: str, kind: str, **options: Any) -> dict[str, Any]:
    return {"name": name, "type": kind, **NO_OPTIONS, **options}


def _answers() -> dict[str, Any]:
    return ManifestDocument(MANIFEST).validate().to_answers()


def test_answers_are_plain_json() -> None:
    answers = _answers()
    assert json.loads(json.dumps(answers)) == answers
    assert list(answers) == ["entities", "events", "consumers", "events_imports"]


def test_entities() -> None:
    customer, item, category = map(_manifest_keys, _answers()["entities"])
    assert customer == {
        "name": "Customer",
        "module": "customer",
        "table": "customers",
        "schema": "crm",
        "primary_key": "uuid",
        "route": "customers",
        "unique_together": [],
        "fields": [_field("email", "str", max_length=200, unique=True)],
    }
    assert {k: v for k, v in item.items() if k != "fields"} == {
        "name": "OrderItem",
        "module": "order_item",
        "table": "order_items",
        "schema": "sales",
        "primary_key": "int",
        "route": "order-items",
        "unique_together": [["sku", "order_ref"]],
    }
    assert (category["table"], category["route"]) == ("product_categories", "categories")


def test_every_field_type() -> None:
    fields = _manifest_keys(_answers()["entities"][1])["fields"]
    customer_ref = {
        "to": "Customer",
        "to_module": "customer",
        "to_table": "customers",
        "to_schema": "crm",
        "to_pk": "uuid",
    }
    assert fields == [
        _field("sku", "str", max_length=255, default='"a\'b"'),
        _field("order_ref", "text", nullable=True, index=True),
        _field("quantity", "int", default="0"),
        _field("big", "bigint", default="9000000000"),
        _field("ratio", "float", default="1.0"),
        _field("price", "decimal", precision=10, scale=2, default='Decimal("1.50")'),
        _field("paid", "bool", default="False"),
        _field("due_on", "date", nullable=True),
        _field("paid_at", "datetime", nullable=True),
        _field("token", "uuid"),
        _field("extra", "json", default='{"a": [1, True, None]}'),
        _field("tags", "list[str]", default='["x", "y"]'),
        _field("sizes", "list[int]", default="[]"),
        _field("state", "enum", values=["draft", "live"], default='"draft"'),
        _field("customer_id", "fk", nullable=True, on_delete="SET NULL", **customer_ref),
        _field(
            "parent_id",
            "fk",
            nullable=True,
            to="OrderItem",
            to_module="order_item",
            to_table="order_items",
            to_schema="sales",
            to_pk="int",
            on_delete="RESTRICT",
        ),
    ]


def test_imports_are_computed_once_as_ruff_sorts_them() -> None:
    customer, item, _ = _answers()["entities"]
    assert customer["model_imports"] == [
        "import uuid",
        "",
        "from servicekit.database import TimestampMixin",
        "from sqlalchemy import String, Uuid",
        "from sqlalchemy.orm import Mapped, mapped_column",
        "",
        "from shop.models.base import Base",
    ]
    assert customer["schema_imports"] == [
        "import uuid",
        "from datetime import datetime",
        "",
        "from pydantic import BaseModel, ConfigDict, Field",
        "from servicekit.database import PartialUpdate, StorableText",
    ]
    models = "\n".join(item["model_imports"])
    assert "from servicekit.database import TimestampMixin, UTCDateTime, enum_type" in models
    assert "from sqlalchemy import (\n    ARRAY,\n    JSON,\n    BigInteger," in models
    assert "from sqlalchemy.dialects.postgresql import JSONB" in models
    assert item["schema_imports"][-1] == "from shop.models.order_item import OrderItemState"


def test_derived_names_types_and_defaults() -> None:
    customer, item, category = _answers()["entities"]
    assert (customer["upsert_key"], item["upsert_key"], category["upsert_key"]) == (
        ["email"],
        ["sku", "order_ref"],
        [],
    )
    assert (customer["pk_annotation"], item["pk_annotation"]) == ("uuid.UUID", "int")
    assert item["table_args"] == ['UniqueConstraint("sku", "order_ref")', '{"schema": "sales"}']
    code = {f["name"]: {k: f[k] for k in sorted(CODE_KEYS & set(f))} for f in item["fields"]}
    assert code["state"] == {
        "annotation": "OrderItemState",
        "schema_annotation": "OrderItemState",
        "column": "enum_type(OrderItemState)",
        "default_expr": "OrderItemState.DRAFT",
        "default_factory": None,
        "enum_class": "OrderItemState",
        "enum_members": [["DRAFT", "draft"], ["LIVE", "live"]],
    }
    assert (code["sizes"]["default_factory"], code["tags"]["default_factory"]) == (
        "list",
        'lambda: ["x", "y"]',
    )
    assert code["customer_id"]["annotation"] == "uuid.UUID | None"
    assert code["customer_id"]["column"] == 'ForeignKey("crm.customers.id", ondelete="SET NULL")'
    assert code["extra"]["annotation"] == "Any"
    wire = {name: field["schema_annotation"] for name, field in code.items()}
    assert wire == {
        "sku": "StorableText",
        # unique with sku: a text column that could outgrow its half of an index entry
        "order_ref": "Annotated[StorableText, IndexKeyBytes(1300)] | None",
        "quantity": "Int32",
        "big": "Int64",
        "ratio": "Float64",
        "price": "Annotated[Decimal, DecimalText(10, 2)]",
        "paid": "StrictBool",
        "due_on": "ISODate | None",
        "paid_at": "UTCTimestamp | None",
        "token": "uuid.UUID",
        "extra": "StorableJson",
        "tags": "list[StorableText]",
        "sizes": "list[Int64]",
        "state": "OrderItemState",
        "customer_id": "uuid.UUID | None",
        "parent_id": "RowId | None",
    }


def test_indexed_text_is_bounded_by_its_share_of_a_postgres_index_entry() -> None:
    manifest = """\
manifest_version: 1
service: shop
package: shop
entities:
  - name: Page
    fields:
      - {name: title, type: text, index: true}
      - {name: body, type: text}
      - {name: slug, type: str, unique: true}
      - {name: path, type: str, max_length: 1000, nullable: true}
      - {name: lang, type: str, max_length: 700}
      - {name: rank, type: int}
    unique_together: [[path, lang, rank]]
"""
    (page,) = ManifestDocument(manifest).validate().to_answers()["entities"]
    wire = {field["name"]: field["schema_annotation"] for field in page["fields"]}
    assert wire == {
        "title": "Annotated[StorableText, IndexKeyBytes(2600)]",
        "body": "StorableText",  # not indexed
        "slug": "StorableText",  # 255 characters fit in any share
        # Two text columns in one index share its entry.
        "path": "Annotated[StorableText, IndexKeyBytes(1300)] | None",
        "lang": "Annotated[StorableText, IndexKeyBytes(1300)]",
        "rank": "Int32",
    }
    imports = page["schema_imports"]
    wanted = "from servicekit.database import IndexKeyBytes, Int32, PartialUpdate, StorableText"
    assert wanted in imports


def test_defaults_are_python_literals_of_the_checked_value() -> None:
    fields = _answers()["entities"][1]["fields"]
    defaults = {f["name"]: f["default"] for f in fields if f["default"] is not None}
    assert ast.literal_eval(defaults["sku"]) == "a'b"
    assert ast.literal_eval(defaults["extra"]) == {"a": [1, True, None]}
    assert eval(defaults["price"], {"Decimal": Decimal}) == Decimal("1.50")


def test_string_defaults_are_spelled_as_ruff_formats_them() -> None:
    assert python_literal("plain") == '"plain"'
    assert python_literal('say "hi"') == "'say \"hi\"'"
    assert python_literal("both ' and \"") == '"both \' and \\""'
    assert python_literal("back\\slash") == '"back\\\\slash"'


def test_events_and_consumers() -> None:
    answers = _answers()
    assert answers["events"] == [
        {
            "name": "S3ObjectUploaded",
            "module": "s3_object_uploaded",
            "routing_key": "s3_object.uploaded",
            "schema_version": 2,
            "fields": [
                {"name": "key", "type": "str", "nullable": False, "annotation": "str"},
                {"name": "size", "type": "int", "nullable": True, "annotation": "int | None"},
            ],
        }
    ]
    assert answers["events_imports"] == [
        "from typing import ClassVar",
        "",
        "from servicekit.streams import BaseEvent, EventEmitter",
    ]
    assert answers["consumers"] == [
        {
            "group": "order-sync",
            "module": "order_sync",
            "stream": "shop:events",
            "function": "handle_order_sync",
            "handles": [
                {
                    "kind": "event",
                    "name": "S3ObjectUploaded",
                    "module": "s3_object_uploaded",
                    "function": "s3_object_uploaded",
                },
                {"kind": "glob", "pattern": "order.*", "function": "order_any"},
                {"kind": "glob", "pattern": "*", "function": "any"},
            ],
            "imports": [
                "import logging",
                "",
                "from servicekit.streams import BaseEvent, EventRouter",
                "",
                "from shop.events import S3ObjectUploaded",
            ],
            "router_args": [
                'stream="shop:events"',
                'group="order-sync"',
                'dlq_stream="{shop:events}:dead"',
            ],
        },
        {
            "group": "audit",
            "module": "audit",
            "stream": "audit:all",
            "function": "handle_audit",
            "handles": [{"kind": "glob", "pattern": "*", "function": "any"}],
            "imports": [
                "import logging",
                "",
                "from servicekit.streams import BaseEvent, EventRouter",
            ],
            "router_args": ['stream="audit:all"', 'group="audit"', 'dlq_stream="{audit:all}:dead"'],
        },
    ]


def test_manifest_conveniences() -> None:
    manifest = ManifestDocument(MANIFEST).validate()
    assert manifest.is_async is True
    entity = manifest.entity("OrderItem")
    assert entity is not None
    assert entity.table_name == "order_items"
    assert manifest.schema_of(entity) == "sales"


@pytest.mark.parametrize(
    ("entities", "clash"),
    [
        (
            "[{name: ProductStatus, fields: [{name: a, type: int}]},"
            " {name: Product, fields: [{name: status, type: enum, values: [a]}]}]",
            "'ProductStatus', the name of entity 'ProductStatus'",
        ),
        (
            "[{name: Product, fields: [{name: page, type: enum, values: [a]}]}]",
            "'ProductPage', the name of the Page class of 'Product'",
        ),
        (
            "[{name: Product, fields: [{name: sale_state, type: enum, values: [a]}]},"
            " {name: ProductSale, fields: [{name: state, type: enum, values: [a]}]}]",
            "'ProductSaleState', the name of the enum class of 'Product.sale_state'",
        ),
    ],
)
def test_enum_class_names_must_not_collide(entities: str, clash: str) -> None:
    text = f"manifest_version: 1\nservice: shop\npackage: shop\nentities: {entities}\n"
    with pytest.raises(ManifestError, match=re.escape(clash)):
        ManifestDocument(text).validate()


def test_events_imports_are_the_union_over_every_event() -> None:
    manifest = ManifestDocument(
        "manifest_version: 1\nservice: shop\npackage: shop\nevents:\n"
        "  - name: PaymentTaken\n    fields:\n"
        "      - {name: amount, type: decimal}\n      - {name: at, type: datetime}\n"
        "  - name: ParcelSent\n    fields:\n"
        "      - {name: on, type: date, nullable: true}\n      - {name: ref, type: uuid}\n"
        "      - {name: extra, type: json, nullable: true}\n"
    ).validate()
    answers = manifest.to_answers()
    assert answers["events_imports"] == [
        "import uuid",
        "from datetime import date, datetime",
        "from decimal import Decimal",
        "from typing import Any, ClassVar",
        "",
        "from servicekit.streams import BaseEvent, EventEmitter",
    ]
    annotations = [f["annotation"] for event in answers["events"] for f in event["fields"]]
    assert annotations == ["Decimal", "datetime", "date | None", "uuid.UUID", "Any"]


def test_no_events_no_events_imports() -> None:
    manifest = ManifestDocument("manifest_version: 1\nservice: shop\npackage: shop\n")
    assert manifest.validate().to_answers()["events_imports"] == []


def test_consumer_settings_become_router_arguments() -> None:
    manifest = ManifestDocument(
        "manifest_version: 1\nservice: shop\npackage: shop\nconsumers:\n"
        "  - {group: billing, handles: ['*'], dead_letters: 'billing:poison', max_deliveries: 3,"
        " retries: 2, backoff: {kind: linear, initial: 0.5, max: 4}, timeout: 10,"
        " claim_min_idle_ms: 120000, start: latest, dedupe: 86400}\n"
        "  - {group: audit, handles: ['*'], dead_letters: false, backoff: {kind: constant}}\n"
    ).validate()
    billing, audit = manifest.to_answers()["consumers"]
    assert billing["router_args"] == [
        'stream="shop:events"',
        'group="billing"',
        'dlq_stream="billing:poison"',
        "max_deliveries=3",
        "default_retries=2",
        "handler_timeout=10.0",
        "claim_min_idle_ms=120000",
        "dedupe_ttl=86400.0",
        "default_backoff=linear(delay=0.5, max_delay=4.0)",
        "group_start_id=GroupStartPosition.LATEST",
    ]
    assert billing["imports"][2] == (
        "from servicekit.streams import BaseEvent, EventRouter, GroupStartPosition, linear"
    )
    assert audit["router_args"] == [
        'stream="shop:events"',
        'group="audit"',
        "default_backoff=constant(delay=1.0)",
    ]


def test_consumer_handlers_may_take_longer_than_claim_min_idle() -> None:
    # The router keeps a running handler's message from other consumers, so only a
    # deadline is required, not one below claim_min_idle_ms.
    manifest = ManifestDocument(
        "manifest_version: 1\nservice: shop\npackage: shop\nconsumers:\n"
        "  - {group: billing, handles: ['*'], timeout: 120, retries: 5,"
        " backoff: {initial: 10, max: 30}, claim_min_idle_ms: 1000}\n"
    ).validate()
    (billing,) = manifest.to_answers()["consumers"]
    assert "handler_timeout=120.0" in billing["router_args"]
    assert "claim_min_idle_ms=1000" in billing["router_args"]


def test_cached_lookups() -> None:
    manifest = ManifestDocument(
        "manifest_version: 1\nservice: shop\npackage: shop\nentities:\n"
        "  - name: Product\n    primary_key: uuid\n    fields:\n"
        "      - {name: slug, type: str, max_length: 80, unique: true}\n"
        "      - {name: code, type: bigint, unique: true}\n"
        "    repository: {cached: [by_slug, by_code], ttl: 90}\n"
    ).validate()
    product = manifest.to_answers()["entities"][0]
    assert product["cache_ttl"] == 90
    slug, code = product["cached_lookups"]
    assert slug == {
        "field": "slug",
        "method": "get_by_slug",
        "endpoint": "get_product_by_slug",
        "route": "by-slug",
        "cache_key": "products:slug",
        "parameter": "Annotated[StorableText, Path(max_length=80)]",
        "value_annotation": "str",
        "key_call": "_slug_key(item.slug)",
    }
    assert code["parameter"] == "Annotated[int, Path(ge=INT64_MIN, le=INT64_MAX)]"
    # no uuid-keyed lookup, so no uuid import (the primary key is the router's concern)
    assert product["repository_imports"] == [
        "from servicekit.cache import redis_delete, redis_get, redis_set",
        "from servicekit.database import AsyncRepository",
        "",
        "from shop.models.product import Product",
        "from shop.schemas.product import ProductRead",
    ]
    assert (
        "from fastapi import APIRouter, Depends, HTTPException, Path, Query"
        in (product["router_imports"])
    )
    assert (
        "from servicekit.database import (\n    INT32_MAX,\n    INT64_MAX,\n    INT64_MIN,\n"
        "    AsyncRowReader,\n    NotFound,\n    StorableText,\n"
        "    fastapi_async_session,\n)"
    ) in product["router_imports"]


def test_a_create_commits_alone_unless_its_transaction_does_more() -> None:
    manifest = ManifestDocument(
        "manifest_version: 1\nservice: shop\npackage: shop\n"
        "database: {async: true}\nentities:\n"
        "  - {name: Plain, fields: [{name: title, type: str}]}\n"
        "  - {name: Announced, events: [created], fields: [{name: title, type: str}]}\n"
        "  - {name: Updates, events: [updated], fields: [{name: title, type: str}]}\n"
        "  - name: Cached\n    fields: [{name: slug, type: str, unique: true}]\n"
        "    repository: {cached: [by_slug]}\n"
        "  - {name: Readonly, endpoints: [list, get], fields: [{name: title, type: str}]}\n"
    ).validate()
    alone = {
        each["name"]: each["create_commits_alone"] for each in manifest.to_answers()["entities"]
    }
    # A staged outbox event commits with the row, a cached lookup is evicted after it.
    assert alone == {
        "Plain": True,
        "Announced": False,
        "Updates": True,
        "Cached": False,
        "Readonly": False,
    }
    plain, announced = manifest.to_answers()["entities"][:2]
    assert "from servicekit.database import (\n    INT32_MAX,\n    AsyncRowReader,\n" in (
        "\n".join(plain["router_imports"])
    )
    assert any("AsyncRowWriter" in line for line in plain["router_imports"])
    assert not any("AsyncRowWriter" in line for line in announced["router_imports"])


def test_routes_follow_the_entity_options() -> None:
    manifest = ManifestDocument(MANIFEST).validate()
    customer = manifest.to_answers()["entities"][0]
    # Every route the entity can have: a unique email gives PUT; delete is opt-in.
    assert customer["endpoints"] == ["list", "get", "create", "upsert", "update"]
    assert customer["model_bases"] == ["TimestampMixin", "Base"]
    assert customer["filters"] == [{"name": "email", "annotation": "StorableText"}]
    entity = manifest.entities[0].model_copy(
        update={"delete": "soft", "versioned": True, "endpoints": ["get", "delete"]}
    )
    routes = endpoint_code(manifest, entity, [])
    assert routes["endpoints"] == ["get", "delete"]
    assert routes["filters"] == []  # no list route, no filters
    assert model_bases(entity) == ["SoftDeleteMixin", "VersionMixin", "TimestampMixin", "Base"]
