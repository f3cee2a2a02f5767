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

Match = tuple[tuple["Handler", ...], float]
"""The handlers an event matches, in registration order, and their longest worst case."""


class HandlerRegistry:
    """The handlers registered on a router, and which of them an event goes to."""

    __slots__ = ("_handlers", "_matches", "max_worst_case")

    def __init__(self) -> None:
        self._handlers: list[Handler] = []
        # Keyed by event class, and by routing key for GenericEvent only: the routing key
        # of every other class is fixed.
        self._matches: dict[tuple[type[BaseEvent], str], Match] = {}
        self.max_worst_case = 0.0
        """The longest worst case of any handler (see :meth:`Handler.worst_case`)."""

    def add(self, handler: Handler, *, claim_min_idle_ms: int) -> None:
        """Register ``handler``, once its worst case is known to fit in
        ``claim_min_idle_ms`` (else :class:`StreamsConfigurationError`)."""
        worst_case = handler.worst_case()
        check_deadline(worst_case, f"handler {handler.name}", claim_min_idle_ms)
        self._handlers.append(handler)
        self.max_worst_case = max(self.max_worst_case, worst_case)
        self._matches.clear()

    def match(self, event: BaseEvent) -> Match:
        """The handlers ``event`` goes to (cached per class) and their longest worst case."""
        cls = type(event)
        key = (cls, event.routing_key if cls is GenericEvent else "")
        try:
            return self._matches[key]
        except KeyError:
            handlers = tuple(h for h in self._handlers if h.matches(event))
            worst_case = max((h.worst_case() for h in handlers), default=0.0)
            match = self._matches[key] = (handlers, worst_case)
            return match
