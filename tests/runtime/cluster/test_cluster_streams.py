"""Streams and the outbox on a Redis Cluster: streams on every shard, dead letters on
their stream's slot, de-duplication and the relay's batches split by node.

The streams tests in ``tests/runtime/streams`` and ``tests/runtime/outbox`` run on the
cluster too (their ``redis_client`` is parametrized); these add what only a cluster has:
several shards at once, and where each key lands.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from servicekit.outbox import OutboxRelay, stage_event
from servicekit.redis_clients import ReadyCluster
from servicekit.streams import (
    BaseEvent,
    EventEmitter,
    EventRouter,
    NonRetryableError,
    dead_letter_stream,
    read_dead_letters,
    replay,
)
from tests.runtime.cluster.conftest import keys_on_every_primary, node_of
from tests.runtime.outbox.conftest import async_sessions, db_url, outbox_databases
from tests.runtime.outbox.models import OutboxMessage
from tests.runtime.streams.conftest import running, wait_for

__all__ = ["async_sessions", "db_url", "outbox_databases"]


class SkClOrderPlaced(BaseEvent):
    n: int


@pytest.fixture
def streams(cluster_client: ReadyCluster, key_prefix: str) -> list[str]:
    """One stream name served by each primary."""
    names = keys_on_every_primary(cluster_client, f"{key_prefix}:events", per_node=1)
    assert len({node_of(cluster_client, name) for name in names}) == 3
    return names


@pytest.fixture
async def dead_letters(cluster_client: ReadyCluster) -> AsyncIterator[list[str]]:
    """Dead-letter streams a test uses (their names start with "{", not with the test's
    prefix, so the cluster client's cleanup would miss them)."""
    used: list[str] = []
    yield used
    for name in used:
        await cluster_client.delete(name)


def router_for(client: ReadyCluster, stream: str, **options: Any) -> EventRouter:
    options.setdefault("block_ms", 50)
    return EventRouter(client, stream=stream, group="g", consumer="c", **options)


async def test_emit_and_route_on_streams_of_every_shard(
    cluster_client: ReadyCluster, streams: list[str]
) -> None:
    handled: dict[str, list[int]] = {stream: [] for stream in streams}
    routers = [router_for(cluster_client, stream, batch_size=7) for stream in streams]
    for stream, router in zip(streams, routers, strict=True):

        @router.on(SkClOrderPlaced)
        async def record(event: SkClOrderPlaced, stream: str = stream) -> None:
            handled[stream].append(event.n)

    emitters = [EventEmitter(cluster_client, stream=stream) for stream in streams]
    await asyncio.gather(*(e.emit([SkClOrderPlaced(n=n) for n in range(50)]) for e in emitters))
    async with running(routers[0]), running(routers[1]), running(routers[2]):
        for emitter in emitters:  # and while the routers read, one at a time
            assert await emitter.emit(SkClOrderPlaced(n=50))
        await wait_for(lambda: all(len(ns) == 51 for ns in handled.values()))
    assert all(ns == list(range(51)) for ns in handled.values())  # in order, once each
    for stream in streams:
        assert (await cluster_client.xpending(stream, "g"))["pending"] == 0


async def test_dead_letters_share_their_stream_slot_and_replay_atomically(
    cluster_client: ReadyCluster,
    streams: list[str],
    dead_letters: list[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    stream = streams[0]
    dlq = dead_letter_stream(stream)
    dead_letters.append(dlq)
    assert dlq == "{" + stream + "}:dead"
    assert cluster_client.keyslot(dlq) == cluster_client.keyslot(stream)
    router = router_for(cluster_client, stream, dlq_stream=dlq)
    attempts: list[int] = []

    @router.on(SkClOrderPlaced)
    async def refuse(event: SkClOrderPlaced) -> None:
        attempts.append(event.n)
        if len(attempts) == 1:
            raise NonRetryableError("not this one")

    await EventEmitter(cluster_client, stream=stream).emit(SkClOrderPlaced(n=1))
    with caplog.at_level("WARNING", logger="servicekit.streams.router"):
        async with running(router):
            await wait_for(lambda: _length(cluster_client, dlq, 1))
            assert (await cluster_client.xpending(stream, "g"))["pending"] == 0
            (letter,) = await read_dead_letters(cluster_client, dlq)
            assert letter.original_stream == stream
            assert letter.reason == "non_retryable_error"
            await replay(cluster_client, letter)  # MULTI/EXEC: XADD + XDEL, one slot
            await wait_for(lambda: attempts == [1, 1])
    assert await cluster_client.xlen(dlq) == 0
    assert "not on the Redis Cluster slot" not in caplog.text


async def test_a_dead_letter_stream_on_another_slot_still_works(
    cluster_client: ReadyCluster,
    streams: list[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    stream, elsewhere = streams[0], streams[1]  # another shard: no MULTI can span them
    router = router_for(cluster_client, stream, dlq_stream=elsewhere)

    @router.on(SkClOrderPlaced)
    async def refuse(event: SkClOrderPlaced) -> None:
        raise NonRetryableError("never")

    await EventEmitter(cluster_client, stream=stream).emit(SkClOrderPlaced(n=1))
    with caplog.at_level("WARNING", logger="servicekit.streams.router"):
        async with running(router):
            await wait_for(lambda: _length(cluster_client, elsewhere, 1))
            await wait_for(lambda: _pending(cluster_client, stream, 0))
    assert "not on the Redis Cluster slot" in caplog.text
    (letter,) = await read_dead_letters(cluster_client, elsewhere)
    await replay(cluster_client, letter)  # two steps: append, then delete
    assert await cluster_client.xlen(elsewhere) == 0
    assert await cluster_client.xlen(stream) == 2


async def test_dedupe_on_the_cluster(cluster_client: ReadyCluster, streams: list[str]) -> None:
    stream = streams[1]
    router = router_for(cluster_client, stream, dedupe_ttl=60)
    handled: Counter[int] = Counter()

    @router.on(SkClOrderPlaced)
    async def record(event: SkClOrderPlaced) -> None:
        handled[event.n] += 1

    events = [SkClOrderPlaced(n=n) for n in range(20)]
    emitter = EventEmitter(cluster_client, stream=stream)
    await emitter.emit(events)
    await emitter.emit(events)  # every event twice, as a relay re-sending a batch would
    async with running(router):
        await wait_for(lambda: _read_and_acknowledged(cluster_client, stream))
    assert handled == Counter(range(20))
    # The records are keyed by the stream's name, so they spread over the shards.
    keys = [key async for key in cluster_client.scan_iter(match=f"{stream}:processed:*")]
    assert len(keys) == 20
    assert len({node_of(cluster_client, key.decode()) for key in keys}) > 1


async def test_outbox_relay_splits_a_batch_by_node(
    cluster_client: ReadyCluster,
    streams: list[str],
    async_sessions: async_sessionmaker[AsyncSession],
) -> None:
    events = [SkClOrderPlaced(n=n) for n in range(90)]
    async with async_sessions() as session, session.begin():
        for event in events:  # interleaved: each batch spans every shard
            stage_event(session, OutboxMessage, event, stream=streams[event.n % 3])
    relay = OutboxRelay(async_sessions, OutboxMessage, cluster_client, batch_size=40)
    assert [await relay.run_once() for _ in range(4)] == [40, 40, 10, 0]
    for i, stream in enumerate(streams):
        stored: Any = await cluster_client.xrange(stream)
        ns = [SkClOrderPlaced.model_validate_json(fields[b"data"]).n for _, fields in stored]
        assert ns == list(range(i, 90, 3))  # each stream in id order


async def _length(client: ReadyCluster, stream: str, length: int) -> bool:
    return int(await client.xlen(stream)) == length


async def _pending(client: ReadyCluster, stream: str, pending: int) -> bool:
    summary: Any = await client.xpending(stream, "g")
    return int(summary["pending"]) == pending


async def _read_and_acknowledged(client: ReadyCluster, stream: str) -> bool:
    """Group "g" has read every entry of ``stream`` and acknowledged them all."""
    (group,) = await client.xinfo_groups(stream)
    return bool(group["lag"] == 0 and group["pending"] == 0)
