"""Typed events on Redis Streams: emitter, router, recovery and dead letters.

Define events as :class:`BaseEvent` subclasses, append them with :class:`EventEmitter`
and consume them with :class:`EventRouter`. Delivery is at-least-once.
"""

from servicekit.streams.backoff import Backoff, constant, exponential, linear
from servicekit.streams.correlation import (
    correlation_scope,
    get_causation_id,
    get_correlation_id,
)
from servicekit.streams.dead_letters import (
    DeadLetter,
    DeadLetterReason,
    read_dead_letters,
    replay,
)
from servicekit.streams.emitter import EventEmitter
from servicekit.streams.errors import (
    DeserializationError,
    EmitError,
    HandlerTimeoutError,
    MaxRetriesExceededError,
    NonRetryableError,
    StreamsConfigurationError,
    StreamsError,
)
from servicekit.streams.events import BaseEvent, GenericEvent
from servicekit.streams.health import GroupHealth, group_health
from servicekit.streams.keys import dead_letter_stream
from servicekit.streams.registry import event_registry, event_type_for
from servicekit.streams.router import EventRouter, GroupStartPosition

__all__ = [
    "Backoff",
    "BaseEvent",
    "DeadLetter",
    "DeadLetterReason",
    "DeserializationError",
    "EmitError",
    "EventEmitter",
    "EventRouter",
    "GenericEvent",
    "GroupHealth",
    "GroupStartPosition",
    "HandlerTimeoutError",
    "MaxRetriesExceededError",
    "NonRetryableError",
    "StreamsConfigurationError",
    "StreamsError",
    "constant",
    "correlation_scope",
    "dead_letter_stream",
    "event_registry",
    "event_type_for",
    "exponential",
    "get_causation_id",
    "get_correlation_id",
    "group_health",
    "linear",
    "read_dead_letters",
    "replay",
]
