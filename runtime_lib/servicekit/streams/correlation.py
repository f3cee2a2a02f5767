"""Correlation and causation ids carried by a context variable.

Inside :func:`correlation_scope` every emitted event without a correlation id gets the
scope's id. While a router runs a handler, the context holds the handled event: its
correlation id (or its own id, for the first event of a chain) is the correlation id and
its id the causation id, so events emitted by the handler are linked to it without
passing ``caused_by``. Outside both, while an HTTP request is served behind
asgi-correlation-id's middleware, the request id (``X-Request-ID``) is the correlation id:
the events a request causes, and their consumers' log lines, carry the id its own log
lines carry.
"""

from __future__ import annotations

import uuid
from contextvars import ContextVar, Token
from typing import TYPE_CHECKING, Any

# The request id asgi-correlation-id's middleware sets (servicekit.log reads it too).
from asgi_correlation_id import correlation_id as request_id

if TYPE_CHECKING:
    from types import TracebackType

    from servicekit.streams.events import BaseEvent

__all__ = ["correlation_scope", "get_causation_id", "get_correlation_id"]

_Value = tuple[str | None, "BaseEvent | None"]

# (explicit correlation id, event being handled). One variable, set once per handled
# message, and ids are turned into strings only when someone asks: routers set it for
# every message, most handlers never read it.
_context: ContextVar[_Value] = ContextVar("servicekit_streams_context", default=(None, None))


def get_correlation_id() -> str | None:
    """The correlation id of the current scope or handled event, else the id of the
    HTTP request being served, if any."""
    correlation_id, event = _context.get()
    if correlation_id is not None:
        return correlation_id
    if event is not None:
        return event.correlation_id or str(event.id)
    return request_id.get()


def get_causation_id() -> str | None:
    """The id of the event being handled in the current context, if any."""
    event = _context.get()[1]
    return None if event is None else str(event.id)


def stamp(event: BaseEvent, caused_by: BaseEvent | None = None) -> BaseEvent:
    """``event`` with the correlation and causation ids it left empty filled in.

    From ``caused_by`` when given (its id is the causation id, its correlation id, or its
    own id for the first event of a chain, the correlation id), else from the current
    :func:`correlation_scope` or handled event. Producers (the emitter, the outbox) stamp
    an event when it is produced, so it carries the context it was produced in.
    """
    if caused_by is not None:
        causation: str | None = str(caused_by.id)
        correlation: str | None = caused_by.correlation_id or causation
    else:
        correlation, causation = get_correlation_id(), get_causation_id()
    update: dict[str, Any] = {}
    if event.correlation_id is None and correlation is not None:
        update["correlation_id"] = correlation
    if event.causation_id is None and causation is not None:
        update["causation_id"] = causation
    return event.model_copy(update=update) if update else event


class correlation_scope:  # lower case: used like a function, ``with correlation_scope():``
    """Give every event emitted inside the block the same correlation id.

    Works with ``with`` and ``async with``; the target is the correlation id (a new UUID
    unless one is passed). Scopes nest: the inner id applies inside the inner block.
    Inside a handler the causation id is kept.
    """

    def __init__(self, correlation_id: str | None = None) -> None:
        self.correlation_id = correlation_id or str(uuid.uuid4())
        self._token: Token[_Value] | None = None

    def __enter__(self) -> str:
        self._token = _context.set((self.correlation_id, _context.get()[1]))
        return self.correlation_id

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._token is not None:
            _context.reset(self._token)
            self._token = None

    async def __aenter__(self) -> str:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)


class HandlingScope:
    """The context of a task that handles events one after the other (for the router).

    :meth:`enter` makes an event the handled one (its correlation and causation ids apply),
    :meth:`leave` puts back the value the task had when the scope was made, :meth:`close`
    restores that value for good and must be called once, at the end. An event stays the
    context after its handler returned, until the next :meth:`enter` or :meth:`leave`:
    one set per event and one reset per scope, as a reset per event would cost as much as
    the set. A handler (and any task it starts) sees its own event; code the router runs
    between handlers should :meth:`leave` first.
    """

    __slots__ = ("_first", "_outer")

    def __init__(self) -> None:
        self._outer = _context.get()
        self._first: Token[_Value] | None = None

    def enter(self, event: BaseEvent) -> None:
        token = _context.set((None, event))
        # Only the first token is kept: resetting it restores the outer value.
        if self._first is None:
            self._first = token

    def leave(self) -> None:
        _context.set(self._outer)

    def close(self) -> None:
        if self._first is not None:
            _context.reset(self._first)
            self._first = None
