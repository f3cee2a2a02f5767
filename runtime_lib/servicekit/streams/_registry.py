"""The handlers of one router: registration, matching and the match cache.

(Not to be confused with :mod:`servicekit.streams.registry`, which maps event type names
to event classes.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from servicekit.streams._settings import check_deadline
from servicekit.streams.events import GenericEvent

if TYPE_CHECKING:
    from servicekit.streams._handlers import Handler
    from servicekit.streams.events import BaseEvent

Match = tuple["Handler", ...]
"""The handlers an event matches, in registration order."""


class HandlerRegistry:
    """The handlers registered on a router, and which of them an event goes to."""

    __slots__ = ("_handlers", "_matches")

    def __init__(self) -> None:
        self._handlers: list[Handler] = []
        # Keyed by event class, and by routing key for GenericEvent only: the routing key
        # of every other class is fixed.
        self._matches: dict[tuple[type[BaseEvent], str], Match] = {}

    def add(self, handler: Handler) -> None:
        """Register ``handler``, once its worst case is known to be a deadline (else
        :class:`StreamsConfigurationError`)."""
        check_deadline(handler.worst_case(), f"handler {handler.name}")
        self._handlers.append(handler)
        self._matches.clear()

    def match(self, event: BaseEvent) -> Match:
        """The handlers ``event`` goes to (cached per class)."""
        cls = type(event)
        key = (cls, event.routing_key if cls is GenericEvent else "")
        try:
            return self._matches[key]
        except KeyError:
            match = self._matches[key] = tuple(h for h in self._handlers if h.matches(event))
            return match
