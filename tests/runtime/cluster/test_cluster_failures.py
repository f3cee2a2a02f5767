"""A Redis Cluster losing nodes: only the failed shard's keys are affected, then recover.

These tests crash nodes (SIGKILL), so they run on a cluster of their own (``crashable``),
started for this module and thrown away after it; each test breaks a shard no earlier test touched.
Their order matters: a failover needs a majority of primaries to vote, so the test that
loses a whole shard for good runs last.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from pydantic import BaseModel

from servicekit import cache
from servicekit.redis_clients import ReadyCluster
from servicekit.store import AsyncRedisStore, FailedValue, RedisStore, StoreConnectionError
from servicekit.testgres._cluster import LocalCluster
from tests.runtime.cluster.conftest import keys_on_every_primary, node_of

pytestmark = pytest.mark.slow

RECOVERY_BOUND_S = 30.0


class Item(BaseModel):
    n: int


def healthy_shard(client: ReadyCluster, cluster: LocalCluster) -> tuple[int, list[int]]:
    """Ports of a primary whose process is alive and of its replicas."""
    for nodes in client.nodes_manager.slots_cache.values():
        primary = nodes[0]
        if cluster.alive(primary.port) and all(cluster.alive(n.port) for n in nodes[1:]):
            return primary.port, [replica.port for replica in nodes[1:]]
    raise AssertionError("no healthy shard left")


async def test_cached_reads_survive_a_primary_crash_and_recover_after_failover(
    crashable: LocalCluster, crashable_client: ReadyCluster, key_prefix: str
) -> None:
    await cache.redis_init(crashable.url, prefix=key_prefix)
    computed: list[int] = []

    @cache.redis_cached("item", ttl=300)
    async def item(n: int) -> Item:
        computed.append(n)
        return Item(n=n)

    def shard_of(n: int) -> str:
        return node_of(crashable_client, f"{key_prefix}:item:[{n}]")

    primary, _replicas = healthy_shard(crashable_client, crashable)
    victim = f"127.0.0.1:{primary}"
    alive = {f"127.0.0.1:{port}" for port in crashable.ports if crashable.alive(port)}
    # Only keys on shards that still answer: an earlier test may have lost a whole shard.
    numbers = [n for n in range(90) if shard_of(n) in alive]
    affected = {n for n in numbers if shard_of(n) == victim}
    assert affected
    assert {shard_of(n) for n in numbers} - {victim}  # and keys on a healthy shard
    try:
        assert [await item(n) for n in numbers] == [Item(n=n) for n in numbers]
        assert await item(0) == Item(n=0)
        assert computed == numbers  # every value is cached now
        await asyncio.sleep(0.5)  # let the replica receive the writes

        crashed_at = time.monotonic()
        crashable.crash(primary)
        recovered_after: float | None = None
        while time.monotonic() - crashed_at < RECOVERY_BOUND_S:
            computed.clear()
            answers = [await item(n) for n in numbers]
            assert answers == [Item(n=n) for n in numbers]  # always answered, never raised
            assert not set(computed) - affected  # the other shards kept hitting
            if not computed and time.monotonic() - crashed_at > 0.2:
                recovered_after = time.monotonic() - crashed_at
                break
            await asyncio.sleep(0.02)
    finally:
        await cache.redis_close()

    assert recovered_after is not None, f"no recovery within {RECOVERY_BOUND_S} s"
    print(f"\ncache recovered {recovered_after:.2f} s after a primary was killed")


async def test_a_lost_shard_fails_only_its_keys(
    crashable: LocalCluster, crashable_client: ReadyCluster, key_prefix: str
) -> None:
    keys = keys_on_every_primary(crashable_client, key_prefix, per_node=3)
    store = AsyncRedisStore.from_url(crashable.url)
    sync_store = RedisStore.from_url(crashable.url)
    for i, key in enumerate(keys):
        await store.set(key, Item(n=i))
    primary, replicas = healthy_shard(crashable_client, crashable)
    lost = {key for key in keys if node_of(crashable_client, key) == f"127.0.0.1:{primary}"}
    assert len(lost) == 3

    # Primary and replica both gone: nobody can take the slots over, deterministically.
    for port in (primary, *replicas):
        crashable.crash(port)

    try:
        for values in (await store.mget(keys, Item), sync_store.mget(keys, Item)):
            for i, (key, value) in enumerate(zip(keys, values, strict=True)):
                if key in lost:
                    assert isinstance(value, FailedValue), key
                    assert isinstance(value.error, StoreConnectionError)
                    assert value.key == key
                else:
                    assert value == Item(n=i)

        # The cache on the same cluster: the lost shard's keys are misses, the rest hit.
        await cache.redis_init(crashable.url, prefix="lost-shard")
        for i, key in enumerate(keys):
            await cache.redis_set(key, i)
        hits = [await cache.redis_get(key) for key in keys]
        dead = f"127.0.0.1:{primary}"
        missed = [node_of(crashable_client, f"lost-shard:{key}") == dead for key in keys]
        assert any(missed)
        assert hits == [None if miss else i for i, miss in enumerate(missed)]
    finally:
        await cache.redis_close()
        await store.aclose()
        sync_store.close()
