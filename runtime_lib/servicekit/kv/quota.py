"""Fixed-window rate limit: count calls per key, refuse past the limit until the window ends."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from servicekit.kv._values import ms

if TYPE_CHECKING:
    from servicekit.redis_clients import RedisClient

__all__ = ["RateLimitResult", "rate_limit"]

# INCR and PEXPIRE in one script: a client that dies between the two commands would
# otherwise leave a counter without expiry, throttling the key forever. The PTTL check
# also repairs such a counter if one was left by older code.
_FIXED_WINDOW = """
local count = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
    redis.call('PEXPIRE', KEYS[1], ARGV[1])
    ttl = tonumber(ARGV[1])
end
return {count, ttl}
"""


@dataclass(frozen=True, slots=True)
class RateLimitResult:
    """Outcome of one :func:`rate_limit` call.

    ``retry_after`` is ``None`` when the call is allowed, otherwise the whole seconds
    (rounded up, at least 1) until the current window ends.
    """

    allowed: bool
    count: int
    limit: int
    remaining: int
    retry_after: int | None


async def rate_limit(
    redis: RedisClient, key: str, *, limit: int, window: float, namespace: str = "ratelimit"
) -> RateLimitResult:
    """Count one call against a fixed window of ``window`` seconds allowing ``limit`` calls.

    The counter starts with the first call and expires ``window`` seconds later; the
    increment and the expiry are set by one Lua script, so no crash can leave a counter
    that never resets.
    """
    reply = await redis.eval(_FIXED_WINDOW, 1, f"{namespace}:{key}", ms(window))
    count, ttl_ms = int(reply[0]), int(reply[1])
    allowed = count <= limit
    return RateLimitResult(
        allowed=allowed,
        count=count,
        limit=limit,
        remaining=max(0, limit - count),
        retry_after=None if allowed else max(1, math.ceil(ttl_ms / 1000)),
    )
