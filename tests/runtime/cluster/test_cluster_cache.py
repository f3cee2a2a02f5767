"""The fail-open cache on a healthy Redis Cluster: same behaviour as on one node."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import BaseModel

from servicekit import cache
from servicekit.cache import FailOpenRedisCluster
from servicekit.redis_clients import ReadyCluster
from tests.runtime.cluster.conftest import keys_on_every_primary, node_of

pytestmark = pytest.mark.usefixtures("cluster_cache")


class Product(BaseModel):
    slug: str
    price: int


async def test_the_cluster_url_gives_a_fail_open_cluster_client() -> None:
    assert isinstance(cache.redis_client(), FailOpenRedisCluster)


async def test_hit_miss_and_delete_across_slots(
    cluster_client: ReadyCluster, key_prefix: str
) -> None:
    names = [
        key.removeprefix(f"{key_prefix}:")
        for key in keys_on_every_primary(cluster_client, key_prefix, per_node=2)
    ]
    assert await cache.redis_get(names[0]) is None
    for i, name in enumerate(names):
        await cache.redis_set(name, {"n": i}, ttl=60)
    assert [await cache.redis_get(name) for name in names] == [{"n": i} for i in range(6)]
    stored = {node_of(cluster_client, f"{key_prefix}:{name}") for name in names}
    assert len(stored) == 3  # the values really are on three shards

    # One DEL over keys in six slots on three nodes: split by slot, counted once each.
    assert await cache.redis_delete(*names, "never-written") == 6
    assert [await cache.redis_get(name) for name in names] == [None] * 6


async def test_raw_mget_and_exists_across_slots_fail_open_client(
    cluster_client: ReadyCluster, key_prefix: str
) -> None:
    keys = keys_on_every_primary(cluster_client, key_prefix, per_node=2)
    client = cache.redis_client()
    for i, key in enumerate(keys[:3]):
        await client.set(key, str(i))
    assert await client.mget(keys) == [b"0", b"1", b"2", None, None, None]
    assert await client.exists(*keys) == 3
    assert await client.ping() is True


async def test_redis_cached_hits_after_the_first_call(key_prefix: str) -> None:
    calls: list[str] = []

    @cache.redis_cached("product", ttl=60)
    async def product(slug: str) -> Product:
        calls.append(slug)
        return Product(slug=slug, price=len(slug))

    slugs = [f"item-{i}" for i in range(20)]  # twenty keys: every shard gets some
    first = [await product(slug) for slug in slugs]
    again = await asyncio.gather(*(product(slug) for slug in slugs))
    assert list(again) == first
    assert all(isinstance(item, Product) for item in again)
    assert calls == slugs
