"""The cache follows changes made elsewhere: another process, a Redis restart, a Redis that
refuses CONFIG, and a Redis whose notification flags were already set.

Another process's updates arrive on the single Redis and on the cluster. The other tests
restart or reconfigure a private single ``redis-server`` (``throwaway_redis``): doing that
to a cluster would need a cluster of the test's own (about 7 s to start).
"""

from __future__ import annotations

import asyncio
import logging
import statistics
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio
from pydantic import BaseModel

from servicekit.config import RedisConfigStore
from tests.runtime.config.conftest import eventually
from tests.runtime.conftest import ThrowawayRedis

WRITER = Path(__file__).with_name("_writer.py")


class Stamp(BaseModel):
    n: int
    sent_at: float


class Flags(BaseModel):
    beta: bool = False


@pytest.fixture
async def admin(throwaway_redis: ThrowawayRedis) -> AsyncIterator[redis.asyncio.Redis]:
    client = redis.asyncio.Redis.from_url(throwaway_redis.url)
    yield client
    await client.aclose()


@pytest.mark.slow
async def test_another_process_update_reaches_the_cache_at_once(
    store: RedisConfigStore, target_url: str, key_prefix: str
) -> None:
    latencies: dict[int, float] = {}

    def arrived(value: Stamp | None) -> None:
        assert value is not None
        latencies.setdefault(value.n, time.time() - value.sent_at)

    await store.watch("stamp", Stamp, arrived)
    count = 20
    writer = await asyncio.create_subprocess_exec(
        sys.executable, str(WRITER), target_url, key_prefix, "stamp", str(count), "0.05"
    )
    assert await writer.wait() == 0
    await eventually(lambda: count - 1 in latencies)

    latest = await store.fetch("stamp", Stamp)
    assert latest is not None and latest.n == count - 1
    assert len(latencies) == count  # every version was seen, not only the last
    # Generous: the point is "announced, not polled"; the figure is printed for the record.
    assert max(latencies.values()) < 2.0
    ms = sorted(1000 * latency for latency in latencies.values())
    print(
        f"\nconfig propagation across processes over {count} updates: "
        f"median {statistics.median(ms):.2f} ms, max {ms[-1]:.2f} ms"
    )


@pytest.mark.slow
async def test_the_store_reconnects_after_a_redis_restart(
    throwaway_redis: ThrowawayRedis, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[Flags | None] = []
    async with RedisConfigStore.from_url(throwaway_redis.url, prefix="svc") as store:
        await store.update("flags", Flags(beta=True))
        await store.watch("flags", Flags, seen.append)

        with caplog.at_level(logging.WARNING, logger="servicekit.config"):
            throwaway_redis.kill()
            await eventually(lambda: "lost Redis" in caplog.text)
            # While Redis is away the cache still answers, with the last value it read.
            assert await store.fetch("flags", Flags) == Flags(beta=True)
            throwaway_redis.start()  # same port, empty: this server keeps nothing on disk

            writer = redis.asyncio.Redis.from_url(throwaway_redis.url)
            async with RedisConfigStore(writer, prefix="svc") as other:
                await other.update("flags", Flags(beta=False))
            await writer.aclose()

            await eventually(lambda: store.cached_version("flags") == 1 and seen)
            assert await store.fetch("flags", Flags) == Flags(beta=False)
            assert not store.polling  # the new server was given the flags again

            # Later changes are announced again, not only picked up by the reload.
            await asyncio.sleep(0)
            async with RedisConfigStore.from_url(throwaway_redis.url, prefix="svc") as other:
                await other.update("flags", Flags(beta=True))
            await eventually(lambda: store.cached_version("flags") == 2)
    assert seen[-1] == Flags(beta=True)


@pytest.mark.slow
async def test_without_config_rights_the_store_says_what_to_set_and_polls(
    throwaway_redis: ThrowawayRedis,
    admin: redis.asyncio.Redis,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A managed Redis: the service's user may do everything but CONFIG.
    await admin.execute_command(
        "ACL", "SETUSER", "svc", "on", "nopass", "~*", "&*", "+@all", "-config"
    )
    url = throwaway_redis.url.replace("redis://", "redis://svc:x@")

    with caplog.at_level(logging.WARNING, logger="servicekit.config"):
        async with RedisConfigStore.from_url(url, prefix="svc", poll_interval=0.05) as store:
            assert await store.fetch("flags", Flags) is None
            assert store.polling
            await admin.hset("svc:flags", mapping={"1": b'{"beta": true}', "current": 1})
            await eventually(lambda: store.cached_version("flags") == 1)
            assert await store.fetch("flags", Flags) == Flags(beta=True)

    warning = caplog.text
    assert "does not announce changes" in warning
    assert "CONFIG GET notify-keyspace-events was refused" in warning
    assert "notify-keyspace-events to include 'Kgh'" in warning
    assert "polled every 0.05 s" in warning
    assert await admin.config_get("notify-keyspace-events") == {"notify-keyspace-events": ""}


@pytest.mark.slow
@pytest.mark.parametrize(("before", "after"), [("Ex", "gxhEK"), ("AKE", "AKE"), ("", "ghK")])
async def test_flags_already_set_are_kept(
    throwaway_redis: ThrowawayRedis, admin: redis.asyncio.Redis, before: str, after: str
) -> None:
    await admin.config_set("notify-keyspace-events", before)

    async with RedisConfigStore.from_url(throwaway_redis.url, prefix="svc") as store:
        assert not store.polling

    reply = await admin.config_get("notify-keyspace-events")
    assert set(reply["notify-keyspace-events"]) == set(after)


@pytest.mark.slow
async def test_with_configure_notifications_off_the_store_polls(
    throwaway_redis: ThrowawayRedis, admin: redis.asyncio.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="servicekit.config"):
        async with RedisConfigStore.from_url(
            throwaway_redis.url, prefix="svc", configure_notifications=False, poll_interval=0.05
        ) as store:
            assert store.polling
            await store.update("flags", Flags(beta=True))
            assert await store.fetch("flags", Flags) == Flags(beta=True)
            await admin.hset("svc:flags", mapping={"2": b"{}", "current": 2})
            await eventually(lambda: store.cached_version("flags") == 2)

    assert "configure_notifications is off" in caplog.text
    assert await admin.config_get("notify-keyspace-events") == {"notify-keyspace-events": ""}
