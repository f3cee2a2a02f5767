"""RedisConfigStore on the shared Redis and on the cluster: documents, versions, the cache and
watchers."""

from __future__ import annotations

import asyncio
import logging

import pytest
from pydantic import BaseModel
from redis.asyncio.cluster import RedisCluster

from servicekit.config import (
    ConfigDocumentInvalidError,
    ConfigVersionConflictError,
    RedisConfigStore,
    StoreConnectionError,
    StoreSerializationError,
)
from servicekit.errors import ConfigurationError
from servicekit.redis_clients import RedisClient
from tests.runtime.config.conftest import eventually


class Flags(BaseModel):
    beta: bool = False
    limit: int = 10


async def test_update_then_fetch_returns_the_model(store: RedisConfigStore) -> None:
    assert await store.fetch("flags", Flags) is None
    assert await store.update("flags", Flags(beta=True)) == 1
    assert await store.fetch("flags", Flags) == Flags(beta=True)
    assert store.cached_version("flags") == 1


async def test_every_update_is_a_new_version_and_old_ones_stay_readable(
    store: RedisConfigStore,
) -> None:
    for limit in (1, 2, 3):
        await store.update("flags", Flags(limit=limit))

    assert await store.versions("flags") == [1, 2, 3]
    assert await store.fetch("flags", Flags, version=1) == Flags(limit=1)
    assert await store.fetch("flags", Flags, version=2) == Flags(limit=2)
    assert await store.fetch("flags", Flags) == Flags(limit=3)
    assert await store.fetch("flags", Flags, version=9) is None


async def test_history_keeps_the_newest_versions(target_url: str, key_prefix: str) -> None:
    async with RedisConfigStore.from_url(target_url, prefix=key_prefix, history=2) as store:
        for limit in range(5):
            await store.update("flags", Flags(limit=limit))
        assert await store.versions("flags") == [4, 5]
        assert await store.fetch("flags", Flags, version=3) is None
        assert await store.fetch("flags", Flags) == Flags(limit=4)
        await store.delete("flags")


async def test_delete_removes_the_document_and_its_history(
    store: RedisConfigStore, other_store: RedisConfigStore
) -> None:
    await store.update("flags", Flags(beta=True))
    await store.update("flags", Flags(beta=False))
    assert await other_store.fetch("flags", Flags) == Flags(beta=False)

    assert await store.delete("flags") is True
    assert await store.delete("flags") is False
    assert await store.fetch("flags", Flags) is None
    assert await store.versions("flags") == []
    await eventually(lambda: other_store.cached_version("flags") is None)
    assert await other_store.fetch("flags", Flags) is None
    assert await store.update("flags", Flags()) == 1  # versions restart


async def test_concurrent_updates_lose_no_version(
    store: RedisConfigStore, other_store: RedisConfigStore
) -> None:
    written = await asyncio.gather(
        *(s.update("flags", Flags(limit=n)) for n in range(20) for s in (store, other_store))
    )
    assert sorted(written) == list(range(1, 41))
    assert await store.versions("flags") == list(range(1, 41))


async def test_expected_version_refuses_a_stale_update(store: RedisConfigStore) -> None:
    assert await store.update("flags", Flags(), expected_version=0) == 1
    assert await store.update("flags", Flags(limit=2), expected_version=1) == 2

    with pytest.raises(ConfigVersionConflictError) as caught:
        await store.update("flags", Flags(limit=3), expected_version=1)

    assert (caught.value.key, caught.value.expected, caught.value.current) == ("flags", 1, 2)
    assert await store.fetch("flags", Flags) == Flags(limit=2)


async def test_a_value_json_cannot_represent_is_refused(store: RedisConfigStore) -> None:
    with pytest.raises(StoreSerializationError):
        await store.update("flags", object())
    assert await store.versions("flags") == []


async def test_one_key_is_cached_as_one_model(store: RedisConfigStore) -> None:
    await store.update("flags", Flags())
    await store.fetch("flags", Flags)

    with pytest.raises(ConfigurationError, match="cached as Flags"):
        await store.fetch("flags", dict)
    assert await store.fetch("flags", dict, version=1) == {"beta": False, "limit": 10}


async def test_an_update_by_another_store_reaches_the_cache(
    store: RedisConfigStore, other_store: RedisConfigStore
) -> None:
    await store.update("flags", Flags())
    assert await store.fetch("flags", Flags) == Flags()

    await other_store.update("flags", Flags(beta=True))

    await eventually(lambda: store.cached_version("flags") == 2)
    assert await store.fetch("flags", Flags) == Flags(beta=True)


async def test_documents_on_every_shard_follow_changes(
    store: RedisConfigStore,
    other_store: RedisConfigStore,
    raw_redis: RedisClient,
    key_prefix: str,
) -> None:
    keys = [f"doc-{i}" for i in range(30)]
    if isinstance(raw_redis, RedisCluster):  # each primary announces its own keys only
        owners = {raw_redis.get_node_from_key(f"{key_prefix}:{key}") for key in keys}
        assert len(owners) == len(raw_redis.get_primaries())
    for key in keys:
        assert await store.fetch(key, Flags) is None

    for n, key in enumerate(keys):
        await other_store.update(key, Flags(limit=n))

    # Announced, not resynced: the store reloads everything only once a minute.
    await eventually(lambda: all(store.cached_version(key) == 1 for key in keys))
    assert [await store.fetch(key, Flags) for key in keys] == [Flags(limit=n) for n in range(30)]


async def test_watchers_see_every_change_from_anywhere(
    store: RedisConfigStore, other_store: RedisConfigStore
) -> None:
    seen: list[Flags | None] = []
    awaited: list[Flags | None] = []

    async def record(value: Flags | None) -> None:
        awaited.append(value)

    await store.update("flags", Flags())
    await store.watch("flags", Flags, seen.append)
    await store.watch("flags", Flags, record)

    await store.update("flags", Flags(limit=1))  # this process
    await eventually(lambda: len(seen) == 1)
    await other_store.update("flags", Flags(limit=2))  # another one
    await eventually(lambda: len(seen) == 2)
    await other_store.delete("flags")
    await eventually(lambda: len(seen) == 3)

    assert seen == [Flags(limit=1), Flags(limit=2), None]
    assert awaited == seen


async def test_a_failing_watcher_does_not_stop_the_others(
    store: RedisConfigStore, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[Flags | None] = []

    def broken(_value: Flags | None) -> None:
        raise RuntimeError("watcher bug")

    await store.watch("flags", Flags, broken)
    await store.watch("flags", Flags, seen.append)
    with caplog.at_level(logging.ERROR, logger="servicekit.config"):
        await store.update("flags", Flags(beta=True))

    assert seen == [Flags(beta=True)]
    assert "watcher" in caplog.text and "watcher bug" in caplog.text


@pytest.mark.parametrize(
    "garbage", [b'{"beta": "perhaps", "limit": 1}', b"not json {", b'["a", "list"]']
)
async def test_a_malformed_document_keeps_the_last_good_value(
    store: RedisConfigStore,
    raw_redis: RedisClient,
    key_prefix: str,
    caplog: pytest.LogCaptureFixture,
    garbage: bytes,
) -> None:
    seen: list[Flags | None] = []
    await store.update("flags", Flags(limit=1))
    await store.watch("flags", Flags, seen.append)

    with caplog.at_level(logging.ERROR, logger="servicekit.config"):
        # Written by hand, as a broken tool or an operator's HSET would: version 2 is junk.
        await raw_redis.hset(f"{key_prefix}:flags", mapping={"2": garbage, "current": 2})
        await eventually(lambda: "version 2 is invalid" in caplog.text)

    assert "config 'flags' version 2 is invalid" in caplog.text
    assert "still serving version 1" in caplog.text
    assert await store.fetch("flags", Flags) == Flags(limit=1)
    assert store.cached_version("flags") == 1
    assert seen == []
    with pytest.raises(ConfigDocumentInvalidError) as caught:
        await store.fetch("flags", Flags, version=2)
    assert (caught.value.key, caught.value.version) == ("flags", 2)

    assert await store.update("flags", Flags(limit=3)) == 3  # a good version replaces it
    assert await store.fetch("flags", Flags) == Flags(limit=3)
    assert seen == [Flags(limit=3)]


async def test_a_malformed_document_read_first_raises_until_it_is_fixed(
    store: RedisConfigStore, raw_redis: RedisClient, key_prefix: str
) -> None:
    await raw_redis.hset(f"{key_prefix}:flags", mapping={"1": b"{oops", "current": 1})

    with pytest.raises(ConfigDocumentInvalidError, match="'flags' version 1 is invalid"):
        await store.fetch("flags", Flags)
    with pytest.raises(ConfigDocumentInvalidError):  # still tracked: the same answer
        await store.fetch("flags", Flags)

    await raw_redis.hset(f"{key_prefix}:flags", mapping={"2": b"{}", "current": 2})
    await eventually(lambda: store.cached_version("flags") == 2)
    assert await store.fetch("flags", Flags) == Flags()


async def test_a_pointer_to_a_missing_version_is_an_invalid_document(
    store: RedisConfigStore, raw_redis: RedisClient, key_prefix: str
) -> None:
    await raw_redis.hset(f"{key_prefix}:flags", "current", 7)

    with pytest.raises(ConfigDocumentInvalidError, match="version 7 is invalid: its JSON"):
        await store.fetch("flags", Flags)


async def test_start_without_redis_is_a_connection_error(closed_port_url: str) -> None:
    store = RedisConfigStore.from_url(closed_port_url, prefix="nowhere")
    try:
        with pytest.raises(StoreConnectionError):
            await store.start()
    finally:
        await store.aclose()
