"""The typed store on a healthy Redis Cluster: get/set, mget across slots, SCAN listing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest
from pydantic import BaseModel

from servicekit.redis_clients import ReadyCluster
from servicekit.store import AsyncRedisStore, FailedValue, RedisStore, StoreDeserializationError
from tests.runtime.cluster.conftest import keys_on_every_primary, node_of


class User(BaseModel):
    id: int
    name: str


@pytest.fixture
async def store(cluster_url: str, cluster_client: ReadyCluster) -> AsyncIterator[AsyncRedisStore]:
    store = AsyncRedisStore.from_url(cluster_url)
    yield store
    await store.aclose()


@pytest.fixture
def sync_store(cluster_url: str, cluster_client: ReadyCluster) -> Iterator[RedisStore]:
    store = RedisStore.from_url(cluster_url)
    yield store
    store.close()


async def test_set_get_delete(store: AsyncRedisStore, key_prefix: str) -> None:
    key = f"{key_prefix}:user:1"
    assert await store.is_alive() is True
    await store.set(key, User(id=1, name="Ana"), ttl=60)
    assert await store.get(key, User) == User(id=1, name="Ana")
    assert await store.get_raw(key) == '{"id":1,"name":"Ana"}'
    assert await store.delete(key) is True
    assert await store.get(key, User) is None


async def test_mget_across_slots_keeps_order_and_per_key_results(
    store: AsyncRedisStore, cluster_client: ReadyCluster, key_prefix: str
) -> None:
    keys = keys_on_every_primary(cluster_client, key_prefix, per_node=3)
    assert len({node_of(cluster_client, key) for key in keys}) == 3
    for i, key in enumerate(keys[:-2]):
        await store.set(key, User(id=i, name=f"u{i}"))
    await store.set(keys[-2], "not a user")

    values = await store.mget(keys, User)

    assert values[:-2] == [User(id=i, name=f"u{i}") for i in range(len(keys) - 2)]
    assert isinstance(values[-2], FailedValue)
    assert isinstance(values[-2].error, StoreDeserializationError)
    assert values[-1] is None


async def test_a_fresh_store_takes_concurrent_first_calls(
    store: AsyncRedisStore, key_prefix: str
) -> None:
    # redis-py's RedisCluster can fail when used concurrently before its first command;
    # the store's client reads the slot map first, under a lock.
    keys = [f"{key_prefix}:cold-{i}" for i in range(100)]
    results = await asyncio.gather(*(store.get(key, User) for key in keys))
    assert results == [None] * 100
    assert await store.mget(keys, User) == [None] * 100


async def test_list_keys_scans_every_primary(
    store: AsyncRedisStore, cluster_client: ReadyCluster, key_prefix: str
) -> None:
    keys = keys_on_every_primary(cluster_client, key_prefix, per_node=4)
    for key in keys:
        await store.set(key, "x")
    await store.set(f"other-{key_prefix}", "not listed")

    listed = await store.list_keys(f"{key_prefix}:*")

    assert sorted(listed) == sorted(keys)  # twelve keys from three primaries
    await store.delete(f"other-{key_prefix}")


def test_sync_store_on_the_cluster(
    sync_store: RedisStore, cluster_client: ReadyCluster, key_prefix: str
) -> None:
    keys = keys_on_every_primary(cluster_client, key_prefix, per_node=2)
    assert sync_store.is_alive() is True
    for i, key in enumerate(keys[1:]):
        sync_store.set(key, User(id=i, name="s"), ttl=60)
    assert sync_store.mget(keys, User) == [None, *(User(id=i, name="s") for i in range(5))]
    assert sorted(sync_store.list_keys(f"{key_prefix}:*")) == sorted(keys[1:])
    assert sync_store.get(keys[1], User) == User(id=0, name="s")
    assert sync_store.delete(keys[1]) is True
