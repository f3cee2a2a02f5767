"""Recovery for a router: claiming entries other consumers left pending (XAUTOCLAIM)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from redis.exceptions import RedisError

from servicekit._text import as_text
from servicekit.streams._handlers import Deadline
from servicekit.streams._settings import LOGGER_NAME

if TYPE_CHECKING:
    from servicekit.streams._dispatch import Dispatcher
    from servicekit.streams._lifecycle import Stop
    from servicekit.streams._settings import RouterSettings

logger = logging.getLogger(LOGGER_NAME)

# XAUTOCLAIM pages handled per claim pass, so one pass over a huge backlog of a dead
# consumer does not starve the stop flag; the cursor resumes where the pass ended.
_CLAIM_PAGES_PER_PASS = 10
_CURSOR_START = "0-0"


class Claimer:
    """Claims entries idle longer than ``claim_min_idle_ms`` and hands them to the
    dispatcher. The scan cursor is kept from one pass (and one run) to the next."""

    def __init__(self, settings: RouterSettings, dispatcher: Dispatcher, stop: Stop) -> None:
        self._settings = settings
        self._dispatcher = dispatcher
        self._stop = stop
        self._cursor: Any = _CURSOR_START

    async def run(self) -> None:
        """Claim every ``claim_interval`` seconds until a stop is requested; meant to run
        in a task of its own."""
        # A separate task: claiming never delays reading new messages, and a long read
        # block never delays claiming.
        settings, stop = self._settings, self._stop
        with Deadline() as deadline:
            while not stop.requested:
                await stop.sleep(settings.claim_interval)
                if stop.requested:
                    return
                try:
                    await self._claim_pass(deadline)
                except RedisError as exc:
                    logger.warning(
                        "claiming pending entries of %r failed: %s", settings.stream, exc
                    )
                except Exception:
                    # Recovery must outlive a bug in one pass, or pending entries would
                    # silently never be claimed again.
                    logger.exception("claiming pending entries of %r failed", settings.stream)

    async def _claim_pass(self, deadline: Deadline) -> None:
        settings, dispatcher = self._settings, self._dispatcher
        redis = settings.redis
        for _ in range(_CLAIM_PAGES_PER_PASS):
            if self._stop.requested:
                return
            reply = await redis.xautoclaim(
                settings.stream,
                settings.group,
                settings.consumer,
                min_idle_time=settings.claim_min_idle_ms,
                start_id=self._cursor,
                count=settings.batch_size,
            )
            self._cursor, claimed = reply[0], reply[1]
            # Redis 6.2 reports entries deleted from the stream as nil; 7.x drops them
            # from the pending list itself. Either way there is nothing left to handle.
            gone = [message_id for message_id, fields in claimed if fields is None]
            if gone:
                await redis.xack(settings.stream, settings.group, *gone)
            entries = [
                (message_id, fields)
                for message_id, fields in claimed
                if fields is not None and message_id not in dispatcher.inflight
            ]
            if entries:
                await dispatcher.handle_redelivered(entries, deadline)
            if as_text(self._cursor) == _CURSOR_START:
                return
