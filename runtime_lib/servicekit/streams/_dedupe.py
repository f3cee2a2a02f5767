"""Skipping redeliveries of events a handler already handled: the router's ``dedupe_ttl``.

Delivery is at least once: a consumer that crashed before acknowledging, a claim after a
stall or an outbox relay re-sending a batch delivers an event again. With ``dedupe_ttl``
each handler records the event id (``SET NX``, :func:`servicekit.kv.already_processed`)
before it runs and skips the event when the id was recorded within the ttl. A run that
fails forgets the id again, so its retry (or the next delivery) is not skipped.
"""

from __future__ import annotations

import functools
import logging
from typing import TYPE_CHECKING, Any

from servicekit.kv import already_processed, forget_processed
from servicekit.streams._settings import LOGGER_NAME

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from servicekit.redis_clients import RedisClient
    from servicekit.streams.events import BaseEvent

__all__ = ["once_per_event"]

logger = logging.getLogger(LOGGER_NAME)


def once_per_event(
    func: Callable[[Any], Awaitable[Any]],
    redis: Callable[[], RedisClient],
    *,
    ttl: float,
    namespace: str,
) -> Callable[[BaseEvent], Awaitable[Any]]:
    """``func`` run at most once per event id within ``ttl`` seconds (ids kept under
    ``namespace``); ``redis`` gives the client when the handler runs."""

    @functools.wraps(func)
    async def handle_once(event: BaseEvent) -> Any:
        event_id = str(event.id)
        if await already_processed(redis(), event_id=event_id, ttl=ttl, namespace=namespace):
            logger.info("%s: skipped %s %s, handled before", namespace, event.event_type, event_id)
            return None
        try:
            return await func(event)
        except BaseException:
            # Not handled after all (an error, a timeout, a stop): the retry must run it.
            await forget_processed(redis(), event_id=event_id, namespace=namespace)
            raise

    return handle_once
