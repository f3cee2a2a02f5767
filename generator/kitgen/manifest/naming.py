"""Names derived from manifest names: modules, tables, routes, routing keys, handlers.

Every function here is pure and total on names that passed the manifest's regexes; the
word split is the one the runtime uses for event types (``servicekit.streams.registry``),
so a generated event class and the routing key recorded in the manifest always agree.
"""

from __future__ import annotations

import re

__all__ = [
    "consumer_module",
    "entity_event_name",
    "enum_class",
    "handler_function",
    "is_event_name",
    "pluralize",
    "route_of",
    "routing_key",
    "snake_case",
    "table_of",
    "words",
]

# An acronym run ("HTTP" in "HTTPRequest"), a capitalised word with its digits ("S3",
# "Object"), or a lowercase run. Kept identical to servicekit.streams.registry._WORD.
_WORD = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z][a-z0-9]*|[a-z0-9]+")

_SIBILANT_ENDINGS = ("s", "x", "z", "ch", "sh")
_VOWELS = frozenset("aeiou")


def words(name: str) -> list[str]:
    """The lower-cased CamelCase words of ``name``: ``S3ObjectUploaded`` -> s3, object, uploaded."""
    return [word.lower() for word in _WORD.findall(name)]


def snake_case(name: str) -> str:
    """``OrderItem`` -> ``order_item``; ``HTTPCode`` -> ``http_code``."""
    return "_".join(words(name))


def pluralize(word: str) -> str:
    """English plural of a lower-case word by the regular rules (no irregular forms).

    ``category`` -> ``categories``, ``address`` -> ``addresses``, ``status`` -> ``statuses``,
    ``box`` -> ``boxes``, ``key`` -> ``keys``, ``product`` -> ``products``.
    """
    if word.endswith(_SIBILANT_ENDINGS):
        return word + "es"
    if len(word) > 1 and word.endswith("y") and word[-2] not in _VOWELS:
        return word[:-1] + "ies"
    return word + "s"


def table_of(entity_name: str) -> str:
    """The default table of an entity: snake_case plural (``OrderItem`` -> ``order_items``)."""
    return pluralize(snake_case(entity_name))


def route_of(entity_name: str) -> str:
    """The URL path segment of an entity: kebab-case plural (``OrderItem`` -> ``order-items``)."""
    return table_of(entity_name).replace("_", "-")


def routing_key(event_name: str) -> str:
    """The routing key of an event: ``OrderPlaced`` -> ``order.placed``.

    The last word is the action, the words before it the subject
    (``S3ObjectUploaded`` -> ``s3_object.uploaded``); a one-word name is its own key.
    """
    parts = words(event_name)
    if len(parts) == 1:
        return parts[0]
    return "_".join(parts[:-1]) + "." + parts[-1]


def entity_event_name(entity_name: str, kind: str) -> str:
    """What an entity announces: ``Product`` + ``created`` -> ``ProductCreated``."""
    return entity_name + kind.capitalize()


def is_event_name(handle: str) -> bool:
    """Whether a consumer's handle names an event (``OrderPlaced``), not a routing-key glob.

    Event names are PascalCase and globs lower-case (``order.*``), so the first letter decides.
    """
    return handle[:1].isupper()


def consumer_module(group: str) -> str:
    """The module of a consumer group: ``order-sync`` -> ``order_sync``."""
    return group.replace("-", "_")


def handler_function(group: str) -> str:
    """The handler generated for a consumer group: ``order-sync`` -> ``handle_order_sync``."""
    return "handle_" + consumer_module(group)


def enum_class(entity_name: str, field_name: str) -> str:
    """The StrEnum of an enum field: ``Product`` + ``sale_status`` -> ``ProductSaleStatus``."""
    return entity_name + "".join(part.capitalize() for part in field_name.split("_"))
