"""Stampede guard: on a cache miss one caller computes, the others wait for its result."""

from __future__ import annotations

import asyncio
import secrets
from typing import TYPE_CHECKING

from servicekit.kv._values import as_bytes, ms

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from servicekit.redis_clients import RedisClient

__all__ = ["guarded_get"]

# Delete the lock only while it still holds our token: a holder whose lock expired must not
# release the lock a later caller has since taken. GET + DEL in one script is atomic.
_RELEASE_LOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""


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

    This is a cache guard, not an exactly-once guarantee (a slow holder lets waiters
    compute too): for operations that must not run twice use
    :func:`servicekit.kv.idempotent_execute`.
    """
    cache_key = f"{namespace}:{key}"
    cached = await redis.get(cache_key)
    if cached is not None:
        return as_bytes(cached)

    lock_key = f"{cache_key}:lock"
    token = secrets.token_hex(16)
    if await redis.set(lock_key, token, nx=True, px=ms(lock_ttl)):
        try:
            # Another holder may have filled the key between our GET and our lock.
            cached = await redis.get(cache_key)
            if cached is not None:
                return as_bytes(cached)
            value = await compute()
            await redis.set(cache_key, value, px=ms(ttl))
            return value
        finally:
            await redis.eval(_RELEASE_LOCK, 1, lock_key, token)

    loop = asyncio.get_running_loop()
    deadline = loop.time() + lock_ttl
    while loop.time() < deadline:
        await asyncio.sleep(poll_interval)
        cached = await redis.get(cache_key)
        if cached is not None:
            return as_bytes(cached)
    return await compute()
