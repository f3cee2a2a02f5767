"""RedisStore and AsyncRedisStore: the same behaviour, checked once for both, on the shared
single Redis and on the cluster."""

from __future__ import annotations

import datetime as dt
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
from pydantic import BaseModel

from servicekit.redis_clients import SyncRedisClient, connect_sync, is_cluster_url
from servicekit.store import (
    AsyncRedisStore,
    FailedValue,
    RedisStore,
    StoreConnectionError,
    StoreDeserializationError,
    StoreOperationError,
    StoreSerializationError,
)


class Item(BaseModel):
    sku: str
    price: Decimal
    added: dt.datetime


ITEM = Item(sku="a-1", price=Decimal("9.99"), added=dt.datetime(2024, 1, 1, tzinfo=dt.UTC))

Call = Callable[..., Awaitable[Any]]


@pytest.fixture
def raw(target_url: str) -> Iterator[SyncRedisClient]:
    """A sync client of the Redis under test, to write what the store would not."""
    client = connect_sync(target_url)
    yield client
    client.close()


@pytest.fixture(params=["sync", "async"])
async def call(
    request: pytest.FixtureRequest, target_url: str, key_prefix: str
) -> AsyncIterator[Call]:
    """``await call("method", *args)`` on a sync or an async store, whichever is under test."""
    kind = RedisStore if request.param == "sync" else AsyncRedisStore
    store: RedisStore | AsyncRedisStore = kind.from_url(target_url)

    async def invoke(method: str, *args: Any, **kwargs: Any) -> Any:
        result = getattr(store, method)(*args, **kwargs)
        return await result if inspect.isawaitable(result) else result

    yield invoke
    for key in await invoke("list_keys", f"{key_prefix}*"):
        await invoke("delete", key)
    if isinstance(store, RedisStore):
        store.close()
    else:
        await store.aclose()


async def test_is_alive(call: Call) -> None:
    assert await call("is_alive") is True


@pytest.mark.parametrize(
    ("value", "model"),
    [
        (ITEM, Item),
        ({"a": 1, "b": [1, 2]}, dict[str, Any]),
        ([1, 2, 3], list[int]),
        ("plain text", str),
        (7, int),
        (2.5, float),
        (False, bool),
    ],
)
async def test_set_then_get_returns_the_value(
    call: Call, key_prefix: str, value: Any, model: Any
) -> None:
    await call("set", f"{key_prefix}:v", value)
    assert await call("get", f"{key_prefix}:v", model) == value


async def test_get_of_a_missing_key_is_none(call: Call, key_prefix: str) -> None:
    assert await call("get", f"{key_prefix}:missing", Item) is None
    assert await call("get_raw", f"{key_prefix}:missing") is None


async def test_get_raw_returns_the_stored_text(call: Call, key_prefix: str) -> None:
    await call("set", f"{key_prefix}:greeting", "hello")
    await call("set", f"{key_prefix}:item", ITEM)

    assert await call("get_raw", f"{key_prefix}:greeting") == "hello"
    assert await call("get_raw", f"{key_prefix}:item") == (
        '{"sku":"a-1","price":"9.99","added":"2024-01-01T00:00:00Z"}'
    )


async def test_set_with_ttl_expires(call: Call, key_prefix: str, raw: SyncRedisClient) -> None:
    await call("set", f"{key_prefix}:ttl", 1, ttl=30)
    assert 25_000 < raw.pttl(f"{key_prefix}:ttl") <= 30_000


async def test_list_keys_scans_every_page(
    call: Call, key_prefix: str, raw: SyncRedisClient
) -> None:
    with raw.pipeline(transaction=False) as pipe:  # a cluster's pipeline is sent per node
        for i in range(1200):
            pipe.set(f"{key_prefix}:k{i}", i)
        pipe.set(f"{key_prefix}-other", 1)
        pipe.execute()

    keys = await call("list_keys", f"{key_prefix}:k*")

    assert sorted(keys) == sorted(f"{key_prefix}:k{i}" for i in range(1200))


async def test_mget_reports_one_corrupt_value_without_failing_the_batch(
    call: Call, key_prefix: str, raw: SyncRedisClient
) -> None:
    await call("set", f"{key_prefix}:1", ITEM)
    raw.set(f"{key_prefix}:2", b'{"sku": "no price"}')
    await call("set", f"{key_prefix}:3", ITEM)

    keys = [f"{key_prefix}:{i}" for i in (1, 2, 3, 4)]
    results = await call("mget", keys, Item)

    assert results[0] == ITEM
    assert isinstance(results[1], FailedValue)
    assert results[1].key == keys[1]
    assert isinstance(results[1].error, StoreDeserializationError)
    assert results[2] == ITEM
    assert results[3] is None
    assert await call("mget", [], Item) == []


async def test_delete(call: Call, key_prefix: str) -> None:
    await call("set", f"{key_prefix}:d", 1)
    assert await call("delete", f"{key_prefix}:d") is True
    assert await call("delete", f"{key_prefix}:d") is False


async def test_errors_map_onto_the_hierarchy(
    call: Call, key_prefix: str, raw: SyncRedisClient
) -> None:
    with pytest.raises(StoreSerializationError):
        await call("set", f"{key_prefix}:x", object())

    raw.set(f"{key_prefix}:bad", b"not json")
    raw.rpush(f"{key_prefix}:list", 1)
    with pytest.raises(StoreDeserializationError):
        await call("get", f"{key_prefix}:bad", Item)
    with pytest.raises(StoreOperationError):
        await call("get", f"{key_prefix}:list", Item)


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_an_unreachable_redis_raises_instead_of_failing_open(
    kind: str, closed_port_url: str
) -> None:
    if kind == "sync" and is_cluster_url(closed_port_url):
        # A sync cluster client reads the slot map when it is made: from_url raises.
        with pytest.raises(StoreConnectionError, match="cannot be connected"):
            RedisStore.from_url(closed_port_url)
    elif kind == "sync":
        sync_store = RedisStore.from_url(closed_port_url)
        assert sync_store.is_alive() is False
        with pytest.raises(StoreConnectionError):
            sync_store.get("k", Item)
        sync_store.close()
    else:
        async_store = AsyncRedisStore.from_url(closed_port_url)
        assert await async_store.is_alive() is False
        with pytest.raises(StoreConnectionError):
            await async_store.set("k", 1)
        await async_store.aclose()
