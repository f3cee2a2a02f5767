"""KV primitives on the shared Redis and on the cluster: stampede guard, de-dup, rate limit.

Idempotency keys have their own file, test_idempotency.py.
"""

from __future__ import annotations

import asyncio
import functools

import pytest
import redis
from redis.exceptions import RedisClusterException

from servicekit import kv
from servicekit.redis_clients import RedisClient, connect, is_cluster_url


async def test_already_processed_is_false_once_then_true(
    raw_redis: RedisClient, key_prefix: str
) -> None:
    seen = functools.partial(kv.already_processed, raw_redis, ttl=60, namespace=key_prefix)

    assert await seen(event_id="evt-1") is False
    assert await seen(event_id="evt-1") is True
    assert await seen(event_id="evt-2") is False
    assert 55_000 < await raw_redis.pttl(f"{key_prefix}:evt-1") <= 60_000


async def test_already_processed_lets_exactly_one_concurrent_caller_through(
    raw_redis: RedisClient, key_prefix: str
) -> None:
    seen = functools.partial(kv.already_processed, raw_redis, ttl=60, namespace=key_prefix)
    outcomes = await asyncio.gather(*(seen(event_id="e") for _ in range(20)))
    assert outcomes.count(False) == 1


class SlowComputation:
    """A compute function that takes ``seconds`` and counts how often it really ran."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.runs = 0

    async def __call__(self) -> bytes:
        self.runs += 1
        await asyncio.sleep(self.seconds)
        return b"expensive"


async def test_stampede_of_50_callers_computes_once(
    raw_redis: RedisClient, key_prefix: str
) -> None:
    compute = SlowComputation(0.1)
    get = functools.partial(kv.guarded_get, raw_redis, compute=compute, ttl=9, namespace=key_prefix)

    results = await asyncio.gather(*(get("report") for _ in range(50)))

    assert results == [b"expensive"] * 50
    assert compute.runs == 1
    assert await raw_redis.exists(f"{key_prefix}:report:lock") == 0  # released
    assert await get("report") == b"expensive"
    assert compute.runs == 1


async def test_waiters_fall_through_after_lock_ttl(raw_redis: RedisClient, key_prefix: str) -> None:
    compute = SlowComputation(0.4)  # longer than the lock lives
    get = functools.partial(kv.guarded_get, raw_redis, compute=compute, ttl=9, namespace=key_prefix)

    results = await asyncio.gather(*(get("slow", lock_ttl=0.1) for _ in range(3)))

    assert results == [b"expensive"] * 3
    assert compute.runs == 3  # the waiters did not wait for the stuck holder forever


async def test_only_the_lock_holder_releases_the_lock(
    raw_redis: RedisClient, key_prefix: str
) -> None:
    lock_key = f"{key_prefix}:k:lock"

    async def compute() -> bytes:
        # Simulate our lock expiring and another process taking it meanwhile.
        await raw_redis.set(lock_key, "someone-else")
        return b"v"

    value = await kv.guarded_get(raw_redis, "k", compute=compute, ttl=60, namespace=key_prefix)
    assert value == b"v"
    assert await raw_redis.get(lock_key) == b"someone-else"


async def test_guarded_get_works_with_decoded_responses(target_url: str, key_prefix: str) -> None:
    client = await connect(target_url, decode_responses=True)
    try:

        async def compute() -> bytes:
            return b"text"

        for _ in range(2):
            value = await kv.guarded_get(client, "d", compute=compute, ttl=5, namespace=key_prefix)
            assert value == b"text"
    finally:
        await client.delete(f"{key_prefix}:d")
        await client.aclose()


async def test_rate_limit_fixed_window(raw_redis: RedisClient, key_prefix: str) -> None:
    results = [
        await kv.rate_limit(raw_redis, "user-1", limit=3, window=0.5, namespace=key_prefix)
        for _ in range(4)
    ]

    assert [r.allowed for r in results] == [True, True, True, False]
    assert [r.remaining for r in results] == [2, 1, 0, 0]
    assert [r.count for r in results] == [1, 2, 3, 4]
    assert results[0].retry_after is None
    assert results[3].retry_after == 1  # whole seconds, rounded up
    assert results[3].limit == 3

    other = await kv.rate_limit(raw_redis, "user-2", limit=3, window=0.5, namespace=key_prefix)
    assert other.allowed

    await asyncio.sleep(0.6)  # the window is over
    fresh = await kv.rate_limit(raw_redis, "user-1", limit=3, window=0.5, namespace=key_prefix)
    assert (fresh.allowed, fresh.count) == (True, 1)


async def test_rate_limit_retry_after_tracks_the_window(
    raw_redis: RedisClient, key_prefix: str
) -> None:
    await kv.rate_limit(raw_redis, "k", limit=1, window=30, namespace=key_prefix)
    denied = await kv.rate_limit(raw_redis, "k", limit=1, window=30, namespace=key_prefix)
    assert denied.retry_after is not None
    assert 28 <= denied.retry_after <= 30


async def test_rate_limit_counter_always_has_an_expiry(
    raw_redis: RedisClient, key_prefix: str
) -> None:
    await kv.rate_limit(raw_redis, "fresh", limit=5, window=10, namespace=key_prefix)
    assert 0 < await raw_redis.pttl(f"{key_prefix}:fresh") <= 10_000

    # A counter left without expiry (by a crash in older, non-atomic code) is repaired.
    await raw_redis.set(f"{key_prefix}:orphan", 7)
    result = await kv.rate_limit(raw_redis, "orphan", limit=5, window=10, namespace=key_prefix)
    assert (result.allowed, result.count) == (False, 8)
    assert 0 < await raw_redis.pttl(f"{key_prefix}:orphan") <= 10_000


async def test_kv_is_strict_when_redis_is_unreachable(closed_port_url: str) -> None:
    if is_cluster_url(closed_port_url):
        # A cluster client reads the slot map first: a cluster nobody answers for raises.
        with pytest.raises(RedisClusterException, match="cannot be connected"):
            await connect(closed_port_url)
        return
    client = await connect(closed_port_url)
    try:
        with pytest.raises(redis.ConnectionError):
            await kv.already_processed(client, event_id="e", ttl=1)
    finally:
        await client.aclose()
