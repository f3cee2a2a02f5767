"""Keeping the entries a consumer holds: their idle time is refreshed until acknowledged.

Another consumer claims an entry (``XAUTOCLAIM``) once it has been idle for
``claim_min_idle_ms``. An entry whose handler is still running must never look idle,
however long the handler takes; an entry whose consumer died must. So while a router runs,
it re-claims the entries it holds for itself every ``claim_min_idle_ms / 3``
(``XCLAIM ... JUSTID``: the idle time restarts, the delivery count stays): a live consumer
keeps its entries, a dead one stops refreshing and loses them ``claim_min_idle_ms`` after
the last refresh.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from redis.exceptions import RedisError

from servicekit._text import as_text
from servicekit.streams._settings import LOGGER_NAME

if TYPE_CHECKING:
    from collections.abc import Callable, Collection

    from servicekit.streams._settings import RouterSettings

logger = logging.getLogger(LOGGER_NAME)

# A third of the idle time: two refreshes may come late (a slow Redis, a busy event loop)
# before another consumer could claim. Never more often than this, though: an idle time of
# a few milliseconds cannot be kept by any refresh, and a shorter pause is a busy loop.
_REFRESHES_PER_IDLE_TIME = 3
_SHORTEST_INTERVAL = 0.01

# Refresh only the entries this consumer still owns. XCLAIM with a min-idle time of 0 takes
# any pending entry, also one another consumer claimed because this one stalled past
# claim_min_idle_ms (a blocked event loop, a network partition) and is now handling. Taking
# it back would make the entry belong to whichever consumer refreshed last, and leave the
# one running it unprotected. The ownership check (XPENDING of the one id) and the claim
# are one script, so no claim can come in between. Returns the ids owned by another
# consumer; ids no longer pending (acknowledged, dead-lettered) are skipped.
# KEYS[1]: the stream; ARGV: the group, this consumer, then the ids.
_REFRESH_OWNED = """
local taken = {}
for i = 3, #ARGV do
    local id = ARGV[i]
    local pending = redis.call('XPENDING', KEYS[1], ARGV[1], id, id, 1)
    if #pending > 0 then
        if pending[1][2] == ARGV[2] then
            redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, id, 'JUSTID')
        else
            taken[#taken + 1] = id
        end
    end
end
return taken
"""


class Lease:
    """Refreshes the idle time of the entries a router's consumer holds.

    ``held`` gives their ids: delivered to this consumer (read or claimed) and not
    acknowledged yet, whether they wait, are being handled or wait for their
    acknowledgement to be sent.
    """

    def __init__(self, settings: RouterSettings, held: Callable[[], Collection[Any]]) -> None:
        self._settings = settings
        self._held = held
        self._reported: set[str] = set()
        """Ids already logged as taken over, so a long handler is warned about once."""

    @property
    def interval(self) -> float:
        """Seconds between two refreshes."""
        ms_per_refresh = self._settings.claim_min_idle_ms / _REFRESHES_PER_IDLE_TIME
        return max(_SHORTEST_INTERVAL, ms_per_refresh / 1000)

    async def run(self) -> None:
        """Refresh every :attr:`interval` until cancelled; meant to run in a task of its
        own for as long as the router handles entries."""
        # Not stopped by a stop request: handlers finishing after it keep their entries
        # until the router cancels this, once nothing is handled any more.
        settings = self._settings
        while True:
            await asyncio.sleep(self.interval)
            held = list(self._held())
            if not held:
                continue
            try:
                await self._refresh(held)
            except RedisError as exc:
                # Keep trying: a handler is never stopped for this. Until a refresh goes
                # through, its entries may be claimed once idle for claim_min_idle_ms.
                logger.warning(
                    "refreshing %d in-flight entries of %r failed: %s",
                    len(held),
                    settings.stream,
                    exc,
                )
            except Exception:
                # The lease must outlive a bug in one refresh, or every long handler
                # would lose its entries from then on.
                logger.exception("refreshing in-flight entries of %r failed", settings.stream)

    async def _refresh(self, held: list[Any]) -> None:
        settings = self._settings
        args = [settings.group, settings.consumer, *held]
        taken = await settings.redis.eval(_REFRESH_OWNED, 1, settings.stream, *args)
        held_ids = {as_text(message_id) for message_id in held}
        self._reported &= held_ids  # forget entries that are done
        for message_id in map(as_text, taken):
            if message_id not in self._reported:
                self._reported.add(message_id)
                logger.warning(
                    "entry %s of %r was claimed by another consumer while %r handled it "
                    "(this consumer stalled past claim_min_idle_ms): it may be handled twice",
                    message_id,
                    settings.stream,
                    settings.consumer,
                )
