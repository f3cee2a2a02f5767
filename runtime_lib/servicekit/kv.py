"""Key-value primitives over Redis: stampede guard, idempotency, de-duplication, rate limit.

Every function takes a ``redis.asyncio.Redis`` client as its first positional argument, so
the caller decides which connection pool (and which ``decode_responses`` setting) is used;
results are the same either way. Keys are written as ``f"{namespace}:{key}"``.

A Redis Cluster client (``servicekit.redis_clients.connect("redis+cluster://...")``) works
unchanged: every command and Lua script here touches exactly one key, so none can fail
with ``CROSSSLOT`` (the key layout is documented in docs/runtime/redis-keys.md).

Unlike :mod:`servicekit.cache`, these functions are **strict**: a Redis error propagates.
They coordinate work between processes (who computes, who replays, who is throttled), and
silently pretending Redis answered would break that contract.
"""

from __future__ import annotations

import asyncio
import math
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from redis.asyncio import Redis

    from servicekit.redis_clients import RedisClient

__all__ = [
    "RateLimitResult",
    "already_processed",
    "forget_processed",
    "guarded_get",
    "idempotent_execute",
    "rate_limit",
]

# Delete the lock only while it still holds our token: a holder whose lock expired must not
# release the lock a later caller has since taken. GET + DEL in one script is atomic.
_RELEASE_LOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""

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


def _ms(seconds: float) -> int:
    # Redis expiries are whole milliseconds and must be positive.
    return max(1, math.ceil(seconds * 1000))


async def already_processed(
    redis: RedisClient, *, event_id: str, ttl: float, namespace: str = "processed"
) -> bool:
    """Record ``event_id`` and report whether it had been recorded before.

    Returns ``False`` the first time (the caller should handle the event) and ``True`` on
    every later call within ``ttl`` seconds (the caller should skip it). The check and the
    write are one ``SET NX PX`` command, so two concurrent callers never both get ``False``.
    """
    stored = await redis.set(f"{namespace}:{event_id}", b"1", nx=True, px=_ms(ttl))
    return not stored


async def forget_processed(
    redis: RedisClient, *, event_id: str, namespace: str = "processed"
) -> None:
    """Undo :func:`already_processed` for ``event_id``: handling it failed after all, so the
    next delivery must not be skipped."""
    await redis.delete(f"{namespace}:{event_id}")


async def guarded_get(
    redis: RedisClient,
    key: str,
    *,
    compute: Callable[[], Awaitable[bytes]],
    ttl: float,
    lock_ttl: float = 2.0,
    poll_interval: float = 0.02,
    namespace: str = "guarded",
) -> bytes:
    """Return the cached bytes at ``key``, computing them at most once per miss.

    On a miss one caller takes a lock (``SET NX PX`` with a random token) and runs
    ``compute``; the others poll the key every ``poll_interval`` seconds for at most
    ``lock_ttl`` seconds (the longest the lock can be held) and then compute themselves,
    so a crashed or slow holder delays them by a bounded amount. Only the holder can
    release the lock: the release compares the token atomically.
    """
    cache_key = f"{namespace}:{key}"
    cached = await redis.get(cache_key)
    if cached is not None:
        return _as_bytes(cached)

    lock_key = f"{cache_key}:lock"
    token = secrets.token_hex(16)
    if await redis.set(lock_key, token, nx=True, px=_ms(lock_ttl)):
        try:
            # Another holder may have filled the key between our GET and our lock.
            cached = await redis.get(cache_key)
            if cached is not None:
                return _as_bytes(cached)
            value = await compute()
            await redis.set(cache_key, value, px=_ms(ttl))
            return value
        finally:
            await redis.eval(_RELEASE_LOCK, 1, lock_key, token)

    loop = asyncio.get_running_loop()
    deadline = loop.time() + lock_ttl
    while loop.time() < deadline:
        await asyncio.sleep(poll_interval)
        cached = await redis.get(cache_key)
        if cached is not None:
            return _as_bytes(cached)
    return await compute()


async def idempotent_execute(
    redis: Redis,
    *,
    key: str,
    compute: Callable[[], Awaitable[Any]],
    status_code: int = 200,
    ttl: float = 86400,
    lock_ttl: float = 10.0,
    namespace: str = "idempotency",
) -> tuple[Any, int, bool]:
    """Run ``compute`` once per idempotency ``key`` and replay its result afterwards.

    Returns ``(body, status_code, is_replay)``. The body must be JSON-serialisable (it is
    stored with orjson; a replay returns the decoded JSON, so e.g. a datetime comes back
    as its ISO string). Concurrent first calls are serialised through :func:`guarded_get`.
    """
    computed = False

    async def _compute() -> bytes:
        nonlocal computed
        computed = True
        body = await compute()
        return orjson.dumps({"status_code": status_code, "body": body}, default=str)

    raw = await guarded_get(
        redis, key, compute=_compute, ttl=ttl, lock_ttl=lock_ttl, namespace=namespace
    )
    stored = orjson.loads(raw)
    return stored["body"], int(stored["status_code"]), not computed


async def rate_limit(
    redis: RedisClient, key: str, *, limit: int, window: float, namespace: str = "ratelimit"
) -> RateLimitResult:
    """Count one call against a fixed window of ``window`` seconds allowing ``limit`` calls.

    The counter starts with the first call and expires ``window`` seconds later; the
    increment and the expiry are set by one Lua script, so no crash can leave a counter
    that never resets.
    """
    reply = await redis.eval(_FIXED_WINDOW, 1, f"{namespace}:{key}", _ms(window))
    count, ttl_ms = int(reply[0]), int(reply[1])
    allowed = count <= limit
    return RateLimitResult(
        allowed=allowed,
        count=count,
        limit=limit,
        remaining=max(0, limit - count),
        retry_after=None if allowed else max(1, math.ceil(ttl_ms / 1000)),
    )


def _as_bytes(value: bytes | str) -> bytes:
    # Works with clients created with or without decode_responses=True.
    return value.encode() if isinstance(value, str) else value
