"""Invalid manifests: each one is refused with one line naming file, line and column."""

from __future__ import annotations

from pathlib import Path

import pytest

from kitgen.errors import UserError
from kitgen.manifest import ManifestDocument, ManifestError, load_manifest

BASE = """\
manifest_version: 1
service: orders
package: orders
database:
  schema: null
  async: true
entities:
  - name: Customer
    fields:
      - {name: email, type: str}
  - name: Product
    fields:
      - {name: slug, type: str, max_length: 120}
      - {name: customer_id, type: fk, to: Customer}
events:
  - name: OrderPlaced
    fields:
      - {name: total, type: decimal}
consumers:
  - {group: fulfillment, handles: [OrderPlaced, order.*]}
"""

# (id, text in BASE to replace (None: whole file), replacement, exact message)
CASES: list[tuple[str, str | None, str, str]] = [
    (
        "version",
        "manifest_version: 1",
        "manifest_version: 2",
        (
            "service.yaml:1:19: manifest_version: unsupported manifest_version 2; "
            "this kitgen reads manifest_version 1"
        ),
    ),
    (
        "version_missing",
        "manifest_version: 1\n",
        "",
        "service.yaml:1:1: manifest_version: required key missing",
    ),
    (
        "service_slug",
        "service: orders",
        "service: Orders_Svc",
        (
            "service.yaml:2:10: service: service 'Orders_Svc' is not allowed; use "
            "lower-case letters and digits in words joined by '-' (e.g. order-sync)"
        ),
    ),
    (
        "service_path",
        "service: orders",
        "service: ../../etc",
        (
            "service.yaml:2:10: service: service '../../etc' looks like a path; use"
            " lower-case letters and digits in words joined by '-' (e.g. "
            "order-sync)"
        ),
    ),
    (
        "package_keyword",
        "package: orders",
        "package: class",
        "service.yaml:3:10: package: package 'class' is a Python keyword; choose another name",
    ),
    (
        "unknown_top_key",
        "package: orders\n",
        "package: orders\ncache: {ttl: 3}\n",
        (
            "service.yaml:4:1: cache: unknown key 'cache'; allowed: "
            "manifest_version, service, package, database, entities, events, "
            "consumers"
        ),
    ),
    (
        "async_type",
        "async: true",
        "async: 'yes'",
        "service.yaml:6:10: database.async: expected true or false, got 'yes'",
    ),
    (
        "schema_reserved",
        "schema: null",
        "schema: user",
        (
            "service.yaml:5:11: database.schema: schema 'user' is an SQL reserved "
            "word; choose another name"
        ),
    ),
    (
        "entity_lower",
        "name: Customer",
        "name: customer",
        (
            "service.yaml:8:11: entities[0].name: name 'customer' is not allowed; "
            "use PascalCase: an upper-case letter, then letters and digits (e.g. "
            "OrderItem)"
        ),
    ),
    (
        "entity_keyword",
        "name: Customer",
        "name: None",
        (
            "service.yaml:8:11: entities[0].name: name 'None' is a Python keyword; "
            "choose another name"
        ),
    ),
    (
        "entity_quote",
        "name: Customer",
        'name: "Cust\'omer"',
        (
            'service.yaml:8:11: entities[0].name: name "Cust\'omer" contains a quote'
            " or backslash; use PascalCase: an upper-case letter, then letters and "
            "digits (e.g. OrderItem)"
        ),
    ),
    (
        "entity_newline",
        "name: Customer",
        'name: "Cust\\nomer"',
        (
            "service.yaml:8:11: entities[0].name: name 'Cust\\nomer' contains a "
            "control character; use PascalCase: an upper-case letter, then letters "
            "and digits (e.g. OrderItem)"
        ),
    ),
    (
        "entity_abs_path",
        "name: Customer",
        "name: /etc/passwd",
        (
            "service.yaml:8:11: entities[0].name: name '/etc/passwd' looks like a "
            "path; use PascalCase: an upper-case letter, then letters and digits "
            "(e.g. OrderItem)"
        ),
    ),
    (
        "entity_taken",
        "name: Customer",
        "name: Base",
        (
            "service.yaml:8:11: entities[0].name: name 'Base' is a name the "
            "generated code already imports; choose another"
        ),
    ),
    (
        "dup_entity",
        "name: Product",
        "name: Customer",
        "service.yaml:11:11: entities[1].name: duplicate entity 'Customer' (also entities[0])",
    ),
    (
        "table_reserved",
        "  - name: Product\n",
        "  - name: Product\n    table: order\n",
        (
            "service.yaml:12:12: entities[1].table: table 'order' is an SQL "
            "reserved word; use 'orders'"
        ),
    ),
    (
        "table_path",
        "  - name: Product\n",
        "  - name: Product\n    table: ../products\n",
        (
            "service.yaml:12:12: entities[1].table: table '../products' looks like "
            "a path; use a lower-case SQL identifier: a letter or '_', then "
            "lower-case letters, digits, '_'"
        ),
    ),
    (
        "field_keyword",
        "{name: slug, type: str, max_length: 120}",
        "{name: class, type: str}",
        (
            "service.yaml:13:16: entities[1].fields[0].name: field name 'class' is "
            "a Python keyword; choose another name"
        ),
    ),
    (
        "field_generated",
        "{name: slug, type: str, max_length: 120}",
        "{name: created_at, type: datetime}",
        (
            "service.yaml:13:16: entities[1].fields[0].name: field name "
            "'created_at' is generated or used by the generated code (id, "
            "created_at, updated_at, SQLAlchemy/pydantic attributes, imported "
            "names); choose another"
        ),
    ),
    (
        "field_shadow",
        "{name: slug, type: str, max_length: 120}",
        "{name: metadata, type: json}",
        (
            "service.yaml:13:16: entities[1].fields[0].name: field name 'metadata' "
            "is generated or used by the generated code (id, created_at, "
            "updated_at, SQLAlchemy/pydantic attributes, imported names); choose "
            "another"
        ),
    ),
    (
        "field_sql_reserved",
        "{name: slug, type: str, max_length: 120}",
        "{name: order, type: int}",
        (
            "service.yaml:13:16: entities[1].fields[0].name: field name 'order' is "
            "an SQL reserved word; use 'sort_order'"
        ),
    ),
    (
        "field_upper",
        "{name: slug, type: str, max_length: 120}",
        "{name: Slug, type: str}",
        (
            "service.yaml:13:16: entities[1].fields[0].name: field name 'Slug' is "
            "not allowed; use snake_case: a lower-case letter, then lower-case "
            "letters, digits and '_'"
        ),
    ),
    (
        "dup_field",
        "{name: slug, type: str, max_length: 120}",
        "{name: customer_id, type: str}",
        (
            "service.yaml:14:16: entities[1].fields[1].name: duplicate field "
            "'customer_id' in 'Product'"
        ),
    ),
    (
        "unknown_type",
        "{name: slug, type: str, max_length: 120}",
        "{name: slug, type: strng}",
        (
            "service.yaml:13:28: entities[1].fields[0].type: unknown type 'strng'; "
            "allowed: str, int, float, decimal, bool, date, datetime, uuid, json,"
            " list[str], list[int], text, bigint, enum, fk"
        ),
    ),
    (
        "type_not_string",
        "{name: slug, type: str, max_length: 120}",
        "{name: slug, type: 3}",
        (
            "service.yaml:13:28: entities[1].fields[0].type: unknown type 3; "
            "allowed: str, int, float, decimal, bool, date, datetime, uuid, json,"
            " list[str], list[int], text, bigint, enum, fk"
        ),
    ),
    (
        "option_wrong_type",
        "{name: slug, type: str, max_length: 120}",
        "{name: slug, type: int, max_length: 10}",
        (
            "service.yaml:13:33: entities[1].fields[0].max_length: option not valid"
            " for type 'int'; max_length applies to type 'str'"
        ),
    ),
    (
        "max_length_zero",
        "{name: slug, type: str, max_length: 120}",
        "{name: slug, type: str, max_length: 0}",
        (
            "service.yaml:13:45: entities[1].fields[0].max_length: max_length must "
            "be between 1 and 10485760, got 0"
        ),
    ),
    (
        "max_length_string",
        "{name: slug, type: str, max_length: 120}",
        "{name: slug, type: str, max_length: '120'}",
        "service.yaml:13:45: entities[1].fields[0].max_length: expected an integer, got '120'",
    ),
    (
        "nullable_not_bool",
        "{name: slug, type: str, max_length: 120}",
        "{name: slug, type: str, nullable: 1}",
        "service.yaml:13:43: entities[1].fields[0].nullable: expected true or false, got 1",
    ),
    (
        "scale_over_precision",
        "{name: slug, type: str, max_length: 120}",
        "{name: slug, type: decimal, precision: 4, scale: 5}",
        (
            "service.yaml:13:58: entities[1].fields[0].scale: scale must be between"
            " 0 and precision (4), got 5"
        ),
    ),
    (
        "unknown_option",
        "{name: slug, type: str, max_length: 120}",
        "{name: slug, type: str, lenght: 3}",
        (
            "service.yaml:13:33: entities[1].fields[0].lenght: unknown key "
            "'lenght'; allowed: name, type, nullable, unique, index, default, "
            "max_length, precision, scale, values, to, on_delete"
        ),
    ),
    (
        "default_int_bool",
        "{name: slug, type: str, max_length: 120}",
        "{name: slug, type: int, default: true}",
        (
            "service.yaml:13:42: entities[1].fields[0].default: must be an integer "
            "for type 'int', got true"
        ),
    ),
    (
        "default_str_int",
        "{name: slug, type: str, max_length: 120}",
        "{name: slug, type: str, default: 5}",
        (
            "service.yaml:13:42: entities[1].fields[0].default: must be a string "
            "for type 'str', got 5"
        ),
    ),
    (
        "default_too_long",
        "{name: slug, type: str, max_length: 120}",
        "{name: slug, type: str, max_length: 2, default: abc}",
        (
            "service.yaml:13:57: entities[1].fields[0].default: 'abc' is 3 "
            "characters long; max_length is 2"
        ),
    ),
    (
        "default_newline",
        "{name: slug, type: str, max_length: 120}",
        '{name: slug, type: str, default: "a\\nb"}',
        (
            "service.yaml:13:42: entities[1].fields[0].default: 'a\\nb' contains a "
            "control character (newline, tab, ...)"
        ),
    ),
    (
        "default_date",
        "{name: slug, type: str, max_length: 120}",
        "{name: slug, type: date, default: 2024-01-01}",
        "service.yaml:13:43: entities[1].fields[0].default: type 'date' takes no default",
    ),
    (
        "default_decimal_scale",
        "{name: slug, type: str, max_length: 120}",
        "{name: slug, type: decimal, default: '1.234'}",
        (
            "service.yaml:13:46: entities[1].fields[0].default: '1.234' has more "
            "than 2 decimal places"
        ),
    ),
    (
        "default_float_nan",
        "{name: slug, type: str, max_length: 120}",
        "{name: slug, type: float, default: .nan}",
        "service.yaml:13:44: entities[1].fields[0].default: nan is not a finite number",
    ),
    (
        "default_list_items",
        "{name: slug, type: str, max_length: 120}",
        "{name: slug, type: 'list[int]', default: [1, x]}",
        (
            "service.yaml:13:50: entities[1].fields[0].default: must be an integer "
            "for type 'list[int]', got 'x'"
        ),
    ),
    (
        "default_null",
        "{name: slug, type: str, max_length: 120}",
        "{name: slug, type: str, default: null}",
        (
            "service.yaml:13:42: entities[1].fields[0].default: null needs "
            "'nullable: true'; or leave the default out"
        ),
    ),
    (
        "enum_no_values",
        "{name: slug, type: str, max_length: 120}",
        "{name: slug, type: enum}",
        (
            "service.yaml:13:9: entities[1].fields[0]: type 'enum' needs 'values': "
            "a non-empty list of lower-case identifiers"
        ),
    ),
    (
        "enum_bad_value",
        "{name: slug, type: str, max_length: 120}",
        "{name: slug, type: enum, values: [draft, Live]}",
        (
            "service.yaml:13:50: entities[1].fields[0].values[1]: enum value 'Live'"
            " is not allowed; use a lower-case identifier: a letter, then "
            "lower-case letters, digits and '_'"
        ),
    ),
    (
        "enum_dup_value",
        "{name: slug, type: str, max_length: 120}",
        "{name: slug, type: enum, values: [draft, draft]}",
        "service.yaml:13:50: entities[1].fields[0].values[1]: duplicate enum value 'draft'",
    ),
    (
        "enum_default",
        "{name: slug, type: str, max_length: 120}",
        "{name: slug, type: enum, values: [a, b], default: c}",
        "service.yaml:13:59: entities[1].fields[0].default: 'c' is not one of the values: a, b",
    ),
    (
        "fk_unknown",
        "to: Customer",
        "to: Client",
        (
            "service.yaml:14:43: entities[1].fields[1].to: unknown entity 'Client';"
            " entities: Customer, Product"
        ),
    ),
    (
        "fk_no_to",
        ", to: Customer}",
        "}",
        (
            "service.yaml:14:9: entities[1].fields[1]: type 'fk' needs 'to': the "
            "name of the entity it points at"
        ),
    ),
    (
        "on_delete_bad",
        "to: Customer}",
        "to: Customer, on_delete: explode}",
        (
            "service.yaml:14:64: entities[1].fields[1].on_delete: unknown on_delete"
            " 'explode'; allowed: cascade, restrict, set null, no action"
        ),
    ),
    (
        "set_null_not_nullable",
        "to: Customer}",
        "to: Customer, on_delete: set null}",
        (
            "service.yaml:14:64: entities[1].fields[1].on_delete: on_delete 'set "
            "null' needs 'nullable: true' on the field"
        ),
    ),
    (
        "unique_together_unknown",
        "  - name: Product\n",
        "  - name: Product\n    unique_together: [[slug, sku]]\n",
        (
            "service.yaml:12:30: entities[1].unique_together[0][1]: unknown field "
            "'sku' in 'Product'; fields: slug, customer_id"
        ),
    ),
    (
        "unique_together_one",
        "  - name: Product\n",
        "  - name: Product\n    unique_together: [[slug]]\n",
        (
            "service.yaml:12:23: entities[1].unique_together[0]: a unique_together "
            "group names at least two fields (for one field use 'unique: true')"
        ),
    ),
    (
        "lookup_unknown_field",
        "      - {name: customer_id, type: fk, to: Customer}\n",
        "      - {name: customer_id, type: fk, to: Customer}\n"
        "    repository: {cached: [by_title]}\n",
        (
            "service.yaml:15:27: entities[1].repository.cached[0]: unknown lookup 'by_title' "
            "in 'Product': a lookup is by_<field> of a unique str, int, bigint or uuid "
            "field; this entity has none"
        ),
    ),
    (
        "lookup_not_unique",
        "      - {name: customer_id, type: fk, to: Customer}\n",
        "      - {name: customer_id, type: fk, to: Customer}\n"
        "    repository: {cached: [by_slug]}\n",
        (
            "service.yaml:15:27: entities[1].repository.cached[0]: lookup 'by_slug' needs "
            "'slug' to be unique (unique: true) and of type str, int, bigint or uuid (it is "
            "str, not unique)"
        ),
    ),
    (
        "lookup_twice",
        "      - {name: slug, type: str, max_length: 120}\n"
        "      - {name: customer_id, type: fk, to: Customer}\n",
        "      - {name: slug, type: str, max_length: 120, unique: true}\n"
        "      - {name: customer_id, type: fk, to: Customer}\n"
        "    repository: {cached: [by_slug, by_slug]}\n",
        "service.yaml:15:36: entities[1].repository.cached[1]: lookup 'by_slug' listed twice",
    ),
    (
        "lookup_ttl_zero",
        "      - {name: customer_id, type: fk, to: Customer}\n",
        "      - {name: customer_id, type: fk, to: Customer}\n"
        "    repository: {cached: [], ttl: 0}\n",
        ("service.yaml:15:35: entities[1].repository.ttl: must be at least 1, got 0"),
    ),
    (
        "consumer_dead_letters_is_the_stream",
        "  - {group: fulfillment, handles: [OrderPlaced, order.*]}",
        "  - {group: fulfillment, handles: [OrderPlaced, order.*], dead_letters: 'orders:events'}",
        (
            "service.yaml:20:73: consumers[0].dead_letters: dead-letter stream "
            "'orders:events' is a stream the service emits to or consumes: dead letters need "
            "a stream of their own (the default is {<stream>}:dead)"
        ),
    ),
    (
        "consumer_dead_letters_off_string",
        "  - {group: fulfillment, handles: [OrderPlaced, order.*]}",
        "  - {group: fulfillment, handles: [OrderPlaced, order.*], dead_letters: 'off'}",
        (
            "service.yaml:20:73: consumers[0].dead_letters: 'off' would name a dead-letter "
            "stream; write false (no quotes) to turn dead letters off"
        ),
    ),
    (
        "consumer_max_deliveries_zero",
        "  - {group: fulfillment, handles: [OrderPlaced, order.*]}",
        "  - {group: fulfillment, handles: [OrderPlaced, order.*], max_deliveries: 0}",
        ("service.yaml:20:75: consumers[0].max_deliveries: must be at least 1, got 0"),
    ),
    (
        "consumer_retries_negative",
        "  - {group: fulfillment, handles: [OrderPlaced, order.*]}",
        "  - {group: fulfillment, handles: [OrderPlaced, order.*], retries: -1}",
        ("service.yaml:20:68: consumers[0].retries: must be at least 0, got -1"),
    ),
    (
        "consumer_backoff_kind",
        "  - {group: fulfillment, handles: [OrderPlaced, order.*]}",
        "  - {group: fulfillment, handles: [OrderPlaced, order.*], backoff: {kind: fibonacci}}",
        (
            "service.yaml:20:75: consumers[0].backoff.kind: unknown kind 'fibonacci'; "
            "allowed: exponential, linear, constant"
        ),
    ),
    (
        "consumer_backoff_constant_max",
        "  - {group: fulfillment, handles: [OrderPlaced, order.*]}",
        "  - {group: fulfillment, handles: [OrderPlaced, order.*],"
        " backoff: {kind: constant, initial: 1, max: 2}}",
        (
            "service.yaml:20:102: consumers[0].backoff.max: a constant backoff waits "
            "'initial' every time: drop 'max'"
        ),
    ),
    (
        "consumer_backoff_max_below",
        "  - {group: fulfillment, handles: [OrderPlaced, order.*]}",
        "  - {group: fulfillment, handles: [OrderPlaced, order.*], backoff: {initial: 5, max: 1}}",
        ("service.yaml:20:86: consumers[0].backoff.max: max (1) is below initial (5)"),
    ),
    (
        "consumer_start",
        "  - {group: fulfillment, handles: [OrderPlaced, order.*]}",
        "  - {group: fulfillment, handles: [OrderPlaced, order.*], start: middle}",
        (
            "service.yaml:20:66: consumers[0].start: unknown start 'middle'; allowed: "
            "beginning, latest"
        ),
    ),
    (
        "consumer_dead_letters_stream",
        "  - {group: fulfillment, handles: [OrderPlaced, order.*]}",
        "  - {group: fulfillment, handles: [OrderPlaced, order.*], dead_letters: 'a b'}",
        (
            "service.yaml:20:73: consumers[0].dead_letters: stream 'a b' contains "
            "whitespace; use letters, digits and ':', '_', '.', '-' (e.g. orders:events)"
        ),
    ),
    (
        "consumer_timeout_string",
        "  - {group: fulfillment, handles: [OrderPlaced, order.*]}",
        "  - {group: fulfillment, handles: [OrderPlaced, order.*], timeout: '30'}",
        ("service.yaml:20:68: consumers[0].timeout: expected a number, got '30'"),
    ),
    (
        "consumer_unknown_key",
        "  - {group: fulfillment, handles: [OrderPlaced, order.*]}",
        "  - {group: fulfillment, handles: [OrderPlaced, order.*], retry: 3}",
        (
            "service.yaml:20:59: consumers[0].retry: unknown key 'retry'; allowed: group, "
            "stream, handles, dead_letters, max_deliveries, retries, backoff, timeout, "
            "claim_min_idle_ms, start, dedupe"
        ),
    ),
    (
        "consumer_dedupe_zero",
        "  - {group: fulfillment, handles: [OrderPlaced, order.*]}",
        "  - {group: fulfillment, handles: [OrderPlaced, order.*], dedupe: 0}",
        ("service.yaml:20:67: consumers[0].dedupe: Input should be greater than 0"),
    ),
    (
        "entities_not_list",
        "entities:\n",
        "entities: {}\nx:\n",
        "service.yaml:7:11: entities: expected a list, got a mapping",
    ),
    (
        "event_same_as_entity",
        "name: OrderPlaced",
        "name: Product",
        (
            "service.yaml:16:11: events[0].name: 'Product' is already an entity; "
            "entity and event names become Python classes and must all differ"
        ),
    ),
    (
        "event_field_envelope",
        "{name: total, type: decimal}",
        "{name: timestamp, type: datetime}",
        (
            "service.yaml:18:16: events[0].fields[0].name: field name 'timestamp' "
            "is part of every event's envelope or used by the generated code (id, "
            "timestamp, correlation_id, causation_id, metadata, ...); choose "
            "another"
        ),
    ),
    (
        "event_field_type",
        "{name: total, type: decimal}",
        "{name: total, type: enum}",
        (
            "service.yaml:18:29: events[0].fields[0].type: unknown type 'enum'; "
            "allowed: str, int, float, decimal, bool, date, datetime, uuid, json, "
            "list[str], list[int]"
        ),
    ),
    (
        "schema_version_zero",
        "  - name: OrderPlaced\n",
        "  - name: OrderPlaced\n    schema_version: 0\n",
        "service.yaml:17:21: events[0].schema_version: must be at least 1, got 0",
    ),
    (
        "handle_unknown_event",
        "[OrderPlaced, order.*]",
        "[OrderShipped]",
        (
            "service.yaml:20:36: consumers[0].handles[0]: unknown event "
            "'OrderShipped'; declare it under 'events' or use a routing-key glob "
            "such as 'order.*'; events: OrderPlaced"
        ),
    ),
    (
        "handle_bad_glob",
        "[OrderPlaced, order.*]",
        "['order/../*']",
        (
            "service.yaml:20:36: consumers[0].handles[0]: handle 'order/../*' looks"
            " like a path; use an event name declared in this manifest (e.g. "
            "OrderPlaced) or a routing-key glob of lower-case letters, digits, '_',"
            " '.' and '*' (e.g. order.*)"
        ),
    ),
    (
        "handles_empty",
        "[OrderPlaced, order.*]",
        "[]",
        "service.yaml:20:35: consumers[0].handles: must not be empty",
    ),
    (
        "group_bad",
        "group: fulfillment",
        "group: Fulfil_ment",
        (
            "service.yaml:20:13: consumers[0].group: group 'Fulfil_ment' is not "
            "allowed; use lower-case letters and digits in words joined by '-' "
            "(e.g. order-sync)"
        ),
    ),
    (
        "stream_bad",
        "group: fulfillment,",
        "group: fulfillment, stream: 'a b',",
        (
            "service.yaml:20:34: consumers[0].stream: stream 'a b' contains "
            "whitespace; use letters, digits and ':', '_', '.', '-' (e.g. "
            "orders:events)"
        ),
    ),
    (
        "alias",
        "  - name: Customer\n",
        "  - &c name: Customer\n",
        (
            "service.yaml:8:5: anchor '&c' is not allowed; a manifest uses no "
            "anchors or aliases, write the value out"
        ),
    ),
    (
        "custom_tag",
        "service: orders",
        "service: !!python/name:os.system orders",
        (
            "service.yaml:2:10: tag '!!python/name:os.system' is not allowed; only "
            "the standard tags (!!str, !!int, !!float, !!bool, !!null, !!map, "
            "!!seq)"
        ),
    ),
    (
        "local_tag",
        "service: orders",
        "service: !env orders",
        (
            "service.yaml:2:10: tag '!env' is not allowed; only the standard tags "
            "(!!str, !!int, !!float, !!bool, !!null, !!map, !!seq)"
        ),
    ),
    (
        "duplicate_key",
        "package: orders\n",
        "package: orders\npackage: shop\n",
        'service.yaml:4:1: found duplicate key "package"; each key may appear once',
    ),
    (
        "syntax",
        "async: true",
        "async: [true",
        "service.yaml:7:9: invalid YAML: expected ',' or ']', but got ':'",
    ),
    (
        "top_level_list",
        None,
        "- 1\n",
        (
            "service.yaml:1:1: the top level is a list; a manifest is a mapping of "
            "keys (manifest_version, service, package, database, entities, events, "
            "consumers)"
        ),
    ),
    (
        "non_string_key",
        "package: orders\n",
        "package: orders\n1: x\n",
        "service.yaml:4:1: key 1 is not a string; keys are names",
    ),
    (
        "fk_required_self_reference",
        "{name: email, type: str}",
        "{name: parent_id, type: fk, to: Customer}",
        (
            "service.yaml:10:41: entities[0].fields[0].to: required references form a cycle "
            "(Customer.parent_id -> Customer): no first row could be inserted; make a "
            "reference in it 'nullable: true'"
        ),
    ),
    (
        "fk_required_cycle_of_two",
        "{name: email, type: str}",
        "{name: product_id, type: fk, to: Product}",
        (
            "service.yaml:10:42: entities[0].fields[0].to: required references form a cycle "
            "(Customer.product_id -> Product.customer_id -> Customer): no first row could be "
            "inserted; make a reference in it 'nullable: true'"
        ),
    ),
]


def test_a_cycle_with_a_nullable_reference_is_valid() -> None:
    text = BASE.replace(
        "{name: email, type: str}", "{name: product_id, type: fk, to: Product, nullable: true}"
    )
    assert ManifestDocument(text).validate().service == "orders"


def _message(text: str) -> str:
    with pytest.raises(ManifestError) as info:
        ManifestDocument(text).validate()
    return str(info.value)


def test_base_is_valid() -> None:
    assert ManifestDocument(BASE).validate().service == "orders"


@pytest.mark.parametrize(
    ("old", "new", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_invalid_manifest(old: str | None, new: str, expected: str) -> None:
    if old is None:
        text = new
    else:
        assert old in BASE
        text = BASE.replace(old, new, 1)
    message = _message(text)
    assert message == expected
    assert "\n" not in message


def test_errors_are_user_errors_with_exit_code_2() -> None:
    with pytest.raises(UserError) as info:
        ManifestDocument(BASE.replace("manifest_version: 1", "manifest_version: 2")).validate()
    assert info.value.exit_code == 2


def test_billion_laughs_is_refused_before_expansion() -> None:
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in "bcdefghi":
        previous = chr(ord(level) - 1)
        lines.append(f"{level}: &{level} [" + ", ".join([f"*{previous}"] * 9) + "]")
    text = BASE + "\n".join(lines) + "\n"
    assert _message(text) == (
        "service.yaml:21:4: anchor '&a' is not allowed; a manifest uses no anchors or aliases, "
        "write the value out"
    )


def test_alias_without_anchor_is_refused() -> None:
    assert _message(BASE.replace("package: orders", "package: *p")) == (
        "service.yaml:3:10: alias '*p' is not allowed; a manifest uses no anchors or aliases, "
        "write the value out"
    )


def test_huge_file_is_refused_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "service.yaml"
    path.write_text(BASE + "#" * (300 * 1024) + "\n", encoding="utf-8")
    with pytest.raises(ManifestError) as info:
        load_manifest(path, display_name="service.yaml")
    assert str(info.value) == (
        f"service.yaml:1:1: file is {path.stat().st_size} bytes; a manifest may be at most "
        "262144 bytes (256 KiB)"
    )


def test_huge_text_is_refused() -> None:
    assert _message(BASE + "#" * (300 * 1024)).startswith("service.yaml:1:1: manifest is 307")


def test_non_utf8_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "service.yaml"
    path.write_bytes(BASE.replace("orders\npackage", "ordérs\npackage").encode("latin-1"))
    with pytest.raises(ManifestError) as info:
        load_manifest(path, display_name="service.yaml")
    assert str(info.value) == (
        "service.yaml:2:13: byte 0xe9 is not valid UTF-8; save the file as UTF-8"
    )


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "service.yaml"
    with pytest.raises(ManifestError) as info:
        load_manifest(path)
    assert str(info.value) == (
        f"{path}: no such file; run kitgen inside a generated service (next to service.yaml)"
    )


def test_empty_file_is_refused() -> None:
    assert _message("# only a comment\n") == (
        "service.yaml:1:1: the top level is empty; a manifest is a mapping of keys "
        "(manifest_version, service, package, database, entities, events, consumers)"
    )


def test_first_problem_in_the_file_is_reported() -> None:
    text = BASE.replace("type: decimal}", "type: decimall}").replace(
        "{name: email, type: str}", "{name: email, type: strng}"
    )
    assert _message(text).startswith("service.yaml:10:29: entities[0].fields[0].type: ")


def test_deep_nesting_is_refused() -> None:
    text = BASE + "extra: " + "[" * 40 + "]" * 40 + "\n"
    assert _message(text) == (
        "service.yaml:21:39: nested more than 32 levels deep; a manifest needs far fewer"
    )
