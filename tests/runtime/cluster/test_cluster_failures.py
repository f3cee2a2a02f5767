"""A Redis Cluster losing nodes: only the failed shard's keys are affected, then recover.

These tests crash nodes (SIGKILL), so they run on a cluster of their own (``crashable``),
started for this module and thrown away after it; each test breaks a shard no earlier test touched.
Their order matters: a failover needs a majority of primaries to vote, so the test that
loses a whole shard for good runs last.
"""

from __future__ import annotations

import asyncio
import logging
import time

import pytest
import redis.asyncio
from pydantic import BaseModel

from servicekit import cache
from servicekit.config import RedisConfigStore
from servicekit.redis_clients import ReadyCluster
from servicekit.store import AsyncRedisStore, FailedValue, RedisStore, StoreConnectionError
from servicekit.testgres._cluster import LocalCluster
from tests.runtime.cluster.conftest import keys_on_every_primary, node_of
from tests.runtime.config.conftest import eventually

pytestmark = pytest.mark.slow

RECOVERY_BOUND_S = 30.0


class Item(BaseModel):
    n: int


async def healthy_shard(client: ReadyCluster, cluster: LocalCluster) -> tuple[int, list[int]]:
    """Ports of a primary with at least one replica, all of their processes alive, and of
    its replicas. (A replica promoted by an earlier test has none left: it could not fail
    over.) Read from CLUSTER NODES: the client's slot map lists primaries only."""
    nodes = await client.cluster_nodes()
    for address, node in nodes.items():
        port = int(address.rpartition(":")[2])
        if "master" not in node["flags"] or not cluster.alive(port):
            continue
        replicas = [
            int(other.rpartition(":")[2])
            for other, info in nodes.items()
            if info["master_id"] == node["node_id"]
        ]
        if replicas and all(cluster.alive(replica) for replica in replicas):
            return port, replicas
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

    primary, _replicas = await healthy_shard(crashable_client, crashable)
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


async def test_the_config_store_follows_changes_again_after_a_failover(
    crashable: LocalCluster,
    crashable_client: ReadyCluster,
    key_prefix: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    primary, _replicas = await healthy_shard(crashable_client, crashable)
    victim = f"127.0.0.1:{primary}"
    key = next(
        f"doc-{i}"
        for i in range(1000)
        if node_of(crashable_client, f"{key_prefix}:doc-{i}") == victim
    )
    seen: list[Item | None] = []
    async with (
        RedisConfigStore.from_url(crashable.url, prefix=key_prefix) as store,
        RedisConfigStore.from_url(crashable.url, prefix=key_prefix) as other,
    ):
        await store.watch(key, Item, seen.append)
        await other.update(key, Item(n=1))
        await eventually(lambda: seen == [Item(n=1)])
        await asyncio.sleep(0.5)  # let the replica receive the write

        with caplog.at_level(logging.WARNING, logger="servicekit.config"):
            crashed_at = time.monotonic()
            crashable.crash(primary)
            await eventually(lambda: "lost Redis" in caplog.text, timeout=10)
        # The other store's update goes through once the replica is promoted ...
        async with asyncio.timeout(RECOVERY_BOUND_S):
            while True:
                try:
                    await other.update(key, Item(n=2))
                    break
                except StoreConnectionError:
                    await asyncio.sleep(0.1)
        # ... and reaches the watching store, whose listener found the new primary.
        await eventually(lambda: seen[-1:] == [Item(n=2)], timeout=RECOVERY_BOUND_S)
        recovered_after = time.monotonic() - crashed_at

        # It listens on the promoted replica: changes are announced again, not left to
        # the periodic resync (a minute away).
        assert isinstance(other.redis, ReadyCluster)
        owner = other.redis.get_node_from_key(f"{key_prefix}:{key}")
        assert owner is not None and owner.name != victim
        async with redis.asyncio.Redis(host=owner.host, port=owner.port) as new_primary:
            await eventually(new_primary.pubsub_numpat, timeout=RECOVERY_BOUND_S)
        await other.update(key, Item(n=3))
        await eventually(lambda: seen[-1:] == [Item(n=3)])
    print(
        f"\nconfig store followed changes again {recovered_after:.2f} s after a primary was killed"
    )


async def test_a_lost_shard_fails_only_its_keys(
    crashable: LocalCluster, crashable_client: ReadyCluster, key_prefix: str
) -> None:
    keys = keys_on_every_primary(crashable_client, key_prefix, per_node=3)
    store = AsyncRedisStore.from_url(crashable.url)
    sync_store = RedisStore.from_url(crashable.url)
    for i, key in enumerate(keys):
        await store.set(key, Item(n=i))
    primary, replicas = await healthy_shard(crashable_client, crashable)
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
