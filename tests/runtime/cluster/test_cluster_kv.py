"""KV primitives on a Redis Cluster: every script and command stays within one slot."""

from __future__ import annotations

import asyncio
import functools

from servicekit import kv
from servicekit.redis_clients import ReadyCluster
from tests.runtime.cluster.conftest import node_of


async def test_already_processed_and_forget(cluster_client: ReadyCluster, key_prefix: str) -> None:
    seen = functools.partial(kv.already_processed, cluster_client, ttl=60, namespace=key_prefix)
    outcomes = await asyncio.gather(*(seen(event_id=f"evt-{i % 10}") for i in range(40)))
    assert outcomes.count(False) == 10  # one first delivery per event, on whatever shard
    await kv.forget_processed(cluster_client, event_id="evt-3", namespace=key_prefix)
    assert await seen(event_id="evt-3") is False


async def test_guarded_get_computes_once_and_releases_its_lock(
    cluster_client: ReadyCluster, key_prefix: str
) -> None:
    runs = 0

    async def compute() -> bytes:
        nonlocal runs
        runs += 1
        await asyncio.sleep(0.05)
        return b"report"

    get = functools.partial(
        kv.guarded_get, cluster_client, compute=compute, ttl=30, namespace=key_prefix
    )
    reports = [f"report-{i}" for i in range(6)]
    results = await asyncio.gather(*(get(name) for name in reports for _ in range(10)))
    assert results == [b"report"] * 60
    assert runs == 6
    locks = [f"{key_prefix}:{name}:lock" for name in reports]
    assert [await cluster_client.exists(lock) for lock in locks] == [0] * 6
    assert len({node_of(cluster_client, f"{key_prefix}:{name}") for name in reports}) > 1


async def test_rate_limit_counts_per_key_on_every_shard(
    cluster_client: ReadyCluster, key_prefix: str
) -> None:
    users = [f"user-{i}" for i in range(8)]
    for _ in range(3):
        results = [
            await kv.rate_limit(cluster_client, u, limit=2, window=30, namespace=key_prefix)
            for u in users
        ]
    assert {(r.allowed, r.count, r.remaining) for r in results} == {(False, 3, 0)}
    assert all(r.retry_after is not None and 1 <= r.retry_after <= 30 for r in results)
    assert len({node_of(cluster_client, f"{key_prefix}:{u}") for u in users}) > 1
