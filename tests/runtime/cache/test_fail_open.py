"""The cache keeps working (as "no cache") through real Redis outages.

A Redis that refuses connections or never answers is tested as a single node and as a
cluster seed (``redis_kind``). The tests that kill a server and start it again use a
private single ``redis-server``: killing a cluster node (and its failover) is tested on a
cluster of its own in ``tests/runtime/cluster/test_cluster_failures.py``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import pytest
import redis.exceptions
from redis.exceptions import RedisClusterException

from servicekit import cache
from servicekit.redis_clients import is_cluster_url
from tests.runtime.conftest import ThrowawayRedis


def counting_square() -> tuple[list[int], Callable[[int], Awaitable[int]]]:
    """A cached ``n * n`` and the list of arguments it was really called with."""
    calls: list[int] = []

    @cache.redis_cached("square", ttl=60)
    async def square(n: int) -> int:
        calls.append(n)
        return n * n

    return calls, square


async def exercise_everything_while_down() -> None:
    assert await cache.redis_get("k") is None
    await cache.redis_set("k", {"a": 1})
    assert await cache.redis_delete("k") == 0
    assert await cache.redis_cached_get_or_set("t", 10, _seven) == 7
    client = cache.redis_client()
    assert await client.mget("a", "b") == [None, None]
    assert await client.ping() is False  # a health check reports "down", it does not raise


async def _seven() -> int:
    return 7


async def test_nothing_listening_degrades_to_no_cache(
    closed_port_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    await cache.redis_init(closed_port_url, prefix="t")
    calls, square = counting_square()

    try:
        with caplog.at_level(logging.WARNING, logger="servicekit.cache"):
            for _ in range(50):
                assert await square(3) == 9
                await exercise_everything_while_down()
    finally:
        await cache.redis_close()

    assert calls == [3] * 50  # every call went through to the function
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert 1 <= len(warnings) <= 2  # rate-limited, not one per call


async def test_a_server_that_never_answers_is_a_miss(silent_server_url: str) -> None:
    await cache.redis_init(silent_server_url, prefix="t")
    try:
        assert await cache.redis_get("k") is None  # after the socket timeout
        await cache.redis_set("k", 1)  # breaker open now: skipped
        assert await cache.redis_cached_get_or_set("t", 10, _seven) == 7
    finally:
        await cache.redis_close()


async def test_coordination_commands_stay_strict(closed_port_url: str) -> None:
    # A conditional SET or an INCR has no honest "no cache" answer, so it raises: redis-py's
    # ConnectionError, or on a cluster no node of which answers its RedisClusterException.
    strict: type[Exception] = redis.exceptions.ConnectionError
    if is_cluster_url(closed_port_url):
        strict = RedisClusterException
    await cache.redis_init(closed_port_url, prefix="t")
    client = cache.redis_client()
    try:
        with pytest.raises(strict):
            await client.set("lock", "1", nx=True)
        with pytest.raises(strict):
            await client.incr("counter")
    finally:
        await cache.redis_close()


async def wait_until_cache_works(deadline_s: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + deadline_s
    while loop.time() < deadline:
        await cache.redis_set("probe", "ok")
        if await cache.redis_get("probe") == "ok":
            return
        await asyncio.sleep(0.05)
    pytest.fail("caching did not resume after Redis came back")


async def test_redis_killed_mid_run_and_restarted(throwaway_redis: ThrowawayRedis) -> None:
    await cache.redis_init(throwaway_redis.url, prefix="t")
    calls, square = counting_square()

    try:
        # Up: the second call is a hit.
        assert [await square(4), await square(4)] == [16, 16]
        assert calls == [4]

        # Killed in the middle of a run: results stay correct, nothing raises.
        results = []
        for i in range(40):
            if i == 10:
                throwaway_redis.kill()
            results.append(await square(5))
            if i >= 10:
                await exercise_everything_while_down()
        assert results == [25] * 40
        assert calls.count(5) >= 30  # nothing cached while down: the function ran

        # Back on the same port: caching resumes by itself, no re-init.
        throwaway_redis.start()
        await wait_until_cache_works()
        calls.clear()
        assert [await square(6), await square(6), await square(6)] == [36, 36, 36]
        assert calls == [6]
    finally:
        await cache.redis_close()


async def test_concurrent_callers_during_an_outage_all_get_results(
    throwaway_redis: ThrowawayRedis,
) -> None:
    await cache.redis_init(throwaway_redis.url, prefix="t")
    _, square = counting_square()
    try:
        assert await square(2) == 4
        throwaway_redis.kill()
        results = await asyncio.gather(*(square(2) for _ in range(100)))
        assert results == [4] * 100
    finally:
        await cache.redis_close()
