"""Derived names: modules, tables, routes, routing keys."""

from __future__ import annotations

import pytest

from kitgen.manifest.naming import (
    handler_function,
    is_event_name,
    route_of,
    routing_key,
    snake_case,
    table_of,
)


@pytest.mark.parametrize(
    ("entity", "table", "module", "route"),
    [
        ("Product", "products", "product", "products"),
        ("Category", "categories", "category", "categories"),
        ("OrderItem", "order_items", "order_item", "order-items"),
        ("Address", "addresses", "address", "addresses"),
        ("Status", "statuses", "status", "statuses"),
        ("Box", "boxes", "box", "boxes"),
        ("Key", "keys", "key", "keys"),
        ("HTTPCode", "http_codes", "http_code", "http-codes"),
    ],
)
def test_entity_names(entity: str, table: str, module: str, route: str) -> None:
    assert (table_of(entity), snake_case(entity), route_of(entity)) == (table, module, route)


@pytest.mark.parametrize(
    ("event", "key"),
    [
        ("OrderPlaced", "order.placed"),
        ("S3ObjectUploaded", "s3_object.uploaded"),
        ("UserCreated", "user.created"),
        ("Shipped", "shipped"),
    ],
)
def test_routing_keys_match_the_runtime(event: str, key: str) -> None:
    from servicekit.streams.registry import event_type_for

    assert routing_key(event) == key == event_type_for(event)


def test_handler_function() -> None:
    assert handler_function("order-sync") == "handle_order_sync"


@pytest.mark.parametrize(
    ("handle", "expected"),
    [("OrderPlaced", True), ("S3ObjectUploaded", True), ("order.*", False), ("*", False)],
)
def test_is_event_name(handle: str, expected: bool) -> None:
    assert is_event_name(handle) is expected
