"""How far behind a consumer group is: for ``/health`` and dashboards.

:func:`group_health` asks Redis three questions about one router's group (no handler is
involved, so it works whether the router runs in this process or elsewhere): how many
entries are delivered but not acknowledged, how old the oldest of them is, and how many
dead letters wait in its dead-letter stream.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from redis.exceptions import ResponseError

if TYPE_CHECKING:
    from servicekit.redis_clients import RedisClient
    from servicekit.streams.router import EventRouter

__all__ = ["GroupHealth", "group_health"]


@dataclass(frozen=True, slots=True)
class GroupHealth:
    """One consumer group's backlog, as Redis sees it now."""

    stream: str
    group: str
    pending: int  # delivered, not yet acknowledged
    oldest_pending_seconds: float | None  # age of the oldest of those (from its entry id)
    dead_letters: int | None  # length of the dead-letter stream; None without one


async def group_health(redis: RedisClient, router: EventRouter) -> GroupHealth:
    """The backlog of ``router``'s group on ``redis`` (zeros before the group exists)."""
    pending, oldest = 0, None
    try:
        summary: Any = await redis.xpending(router.stream, router.group)
    except ResponseError as exc:  # NOGROUP: nothing was ever read, so nothing is owed
        if "NOGROUP" not in str(exc):
            raise
    else:
        pending = int(summary["pending"])
        if pending and summary["min"] is not None:
            oldest = _age_seconds(summary["min"])
    dead = int(await redis.xlen(router.dlq_stream)) if router.dlq_stream else None
    return GroupHealth(router.stream, router.group, pending, oldest, dead)


def _age_seconds(entry_id: bytes | str) -> float:
    # An entry id is "<milliseconds since the epoch>-<sequence>".
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    return max(0.0, time.time() - int(text.split("-", 1)[0]) / 1000)
