"""A stream's hash slot migrates to another primary while the emitter and router use it.

Redis Cluster moves a slot in steps: the target marks it IMPORTING, the source MIGRATING,
``MIGRATE`` moves its keys one command at a time, and ``CLUSTER SETSLOT ... NODE`` ends
it. In between, the source answers ``ASK`` for a key it no longer has and the target
serves it only after ``ASKING``; once it ends, the source answers ``MOVED``. The streams
code follows both redirects in the same call (no retry, no pause): an emitter with
``max_retries=0`` never fails, a router never logs a failed read, nothing is lost or
written twice.

Runs on a cluster of its own (``crashable``): slots move for good here.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass

import pytest
import redis.asyncio
from redis.exceptions import AskError

from servicekit.redis_clients import ReadyCluster
from servicekit.streams import (
    BaseEvent,
    EventEmitter,
    EventRouter,
    NonRetryableError,
    dead_letter_stream,
    read_dead_letters,
)
from servicekit.testgres._cluster import LocalCluster
from servicekit.testgres._processes import free_port, start_redis
from tests.runtime.cluster.conftest import node_of
from tests.runtime.streams.conftest import pending_count, running, wait_for


class SkMgTick(BaseEvent):
    n: int


@dataclass
class Migration:
    """One slot's move from ``source`` to ``target`` (``host:port`` names), step by step."""

    client: ReadyCluster
    cluster: LocalCluster
    slot: int
    source: str
    target: str

    async def _on(self, name: str, *args: object) -> object:
        host, port = name.rsplit(":", 1)
        node = redis.asyncio.Redis(host=host, port=int(port))
        try:
            return await node.execute_command(*args)
        finally:
            await node.aclose()

    async def _id(self, name: str) -> str:
        node_id = await self._on(name, "CLUSTER", "MYID")
        assert isinstance(node_id, bytes)
        return node_id.decode()

    async def begin(self) -> None:
        """IMPORTING on the target, MIGRATING on the source: keys may now move."""
        source_id, target_id = await self._id(self.source), await self._id(self.target)
        await self._on(self.target, "CLUSTER", "SETSLOT", self.slot, "IMPORTING", source_id)
        await self._on(self.source, "CLUSTER", "SETSLOT", self.slot, "MIGRATING", target_id)

    async def move_keys(self) -> int:
        """``MIGRATE`` every key the source still has in the slot; how many."""
        keys = await self._on(self.source, "CLUSTER", "GETKEYSINSLOT", self.slot, 1000)
        assert isinstance(keys, list)
        if keys:
            host, port = self.target.rsplit(":", 1)
            await self._on(self.source, "MIGRATE", host, port, "", 0, 5000, "KEYS", *keys)
        return len(keys)

    async def end(self) -> None:
        """The slot is the target's: told to the target, the source and every other node."""
        target_id = await self._id(self.target)
        others = [f"127.0.0.1:{port}" for port in self.cluster.ports]
        for name in [self.target, self.source, *others]:
            role = await self._on(name, "ROLE")
            assert isinstance(role, list)
            if role[0] == b"master":
                await self._on(name, "CLUSTER", "SETSLOT", self.slot, "NODE", target_id)


def migration_of(
    client: ReadyCluster, cluster: LocalCluster, stream: str, target: str | None = None
) -> Migration:
    """The move of ``stream``'s slot to ``target`` (default: another primary)."""
    source = node_of(client, stream)
    if target is None:
        target = next(node.name for node in client.get_primaries() if node.name != source)
    return Migration(client, cluster, client.keyslot(stream), source, target)


async def cluster_nodes_seen_by(port: int) -> bytes:
    node = redis.asyncio.Redis(port=port)
    try:
        seen = await node.execute_command("CLUSTER", "NODES")
    finally:
        await node.aclose()
    return seen if isinstance(seen, bytes) else str(seen).encode()


async def add_primary(cluster: LocalCluster) -> str:
    """Start a node, join it to ``cluster`` as a primary without slots (as one added to
    scale out, before any slot moves to it); its ``host:port``."""
    bus = free_port()
    node = start_redis(
        *("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"),
        *("--cluster-port", str(bus), "--cluster-node-timeout", "2000"),
    )
    cluster.nodes.append(node)  # stopped with the cluster
    port = int(node.url.rsplit(":", 1)[1].split("/")[0])
    new, member = redis.asyncio.Redis(port=port), redis.asyncio.Redis(port=cluster.ports[0])
    try:
        node_id = (await new.execute_command("CLUSTER", "MYID")).decode()
        await member.execute_command("CLUSTER", "MEET", "127.0.0.1", port, bus)
    finally:
        await new.aclose()
        await member.aclose()

    async def everyone_knows_it() -> bool:
        for other in cluster.ports:
            if node_id.encode() not in await cluster_nodes_seen_by(other):
                return False
        new = redis.asyncio.Redis(port=port)
        try:
            info = await new.execute_command("CLUSTER", "INFO")  # and it knows every slot
        finally:
            await new.aclose()
        return b"cluster_state:ok" in info

    await wait_for(everyone_knows_it, timeout=30)
    return f"127.0.0.1:{port}"


@pytest.fixture
def quiet_router(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.WARNING, logger="servicekit.streams")
    return caplog


def retries_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Failed reads and emits retried, entries left pending: what a redirect not followed
    would log."""
    messages = [record.getMessage() for record in caplog.records]
    return [m for m in messages if "failed (" in m or "left pending" in m]


@pytest.mark.parametrize("target", ["another primary", "a primary added for it"])
async def test_a_migrating_stream_is_written_read_and_dead_lettered_on_its_new_node(
    crashable: LocalCluster,
    crashable_client: ReadyCluster,
    key_prefix: str,
    quiet_router: pytest.LogCaptureFixture,
    target: str,
) -> None:
    stream = f"{key_prefix}:events"
    dead = dead_letter_stream(stream)
    emitter = EventEmitter(crashable_client, stream=stream, max_retries=0)
    router = EventRouter(
        crashable_client, stream=stream, group="g", consumer="c", block_ms=50, dlq_stream=dead
    )
    handled: list[int] = []

    @router.on(SkMgTick)
    async def record(event: SkMgTick) -> None:
        if event.n in (3, 13):
            raise NonRetryableError(f"unlucky {event.n}")
        handled.append(event.n)

    await emitter.emit([SkMgTick(n=n) for n in range(10)])
    async with running(router):  # 3 is dead-lettered: both streams exist
        await wait_for(lambda: len(handled) == 9)
    # A node added to scale out serves no slot yet: the client's slot map does not list it.
    added = await add_primary(crashable) if target == "a primary added for it" else None
    assert added is None or crashable_client.get_node(node_name=added) is None
    migration = migration_of(crashable_client, crashable, stream, added)
    await migration.begin()
    assert await migration.move_keys() == 2  # the stream, with its group, and its letters

    source_host, source_port = migration.source.rsplit(":", 1)
    plain = redis.asyncio.Redis(host=source_host, port=int(source_port))
    with pytest.raises(AskError):  # what every command on the stream now gets there
        await plain.xlen(stream)
    await plain.aclose()

    # Written, read, acknowledged and dead-lettered (a MULTI/EXEC) on the importing node.
    await emitter.emit([SkMgTick(n=n) for n in range(10, 20)])
    async with running(router):
        await wait_for(lambda: len(handled) == 18)
        await migration.end()
        # The slot is the target's now: the source answers MOVED, followed as well.
        await emitter.emit([SkMgTick(n=n) for n in range(20, 30)])
        await wait_for(lambda: len(handled) == 28)

    assert sorted(handled) == [n for n in range(30) if n not in (3, 13)]
    assert await pending_count(crashable_client, stream, "g") == 0
    assert int(await crashable_client.xlen(stream)) == 30
    letters = await read_dead_letters(crashable_client, dead)
    assert [json.loads(letter.data)["n"] for letter in letters] == [3, 13]
    assert node_of(crashable_client, stream) == migration.target
    assert retries_logged(quiet_router) == []


async def test_batches_split_by_a_live_migration_are_stored_and_handled_once(
    crashable: LocalCluster,
    crashable_client: ReadyCluster,
    key_prefix: str,
    quiet_router: pytest.LogCaptureFixture,
) -> None:
    stream = f"{key_prefix}:live"
    emitter = EventEmitter(crashable_client, stream=stream, max_retries=0)
    router = EventRouter(crashable_client, stream=stream, group="g", consumer="c", block_ms=50)
    handled: list[int] = []
    emitted = 0
    migrated = asyncio.Event()

    @router.on(SkMgTick)
    async def record(event: SkMgTick) -> None:
        handled.append(event.n)

    async def produce() -> None:
        # Batches of 200 XADDs in one write, back to back: a MIGRATE lands between two
        # of them, or inside one, wherever it happens to; after it, five more batches.
        nonlocal emitted
        after = 0
        while after < 5:
            batch = [SkMgTick(n=n) for n in range(emitted, emitted + 200)]
            assert len(await emitter.emit(batch)) == 200
            emitted += 200
            after += migrated.is_set()
            await asyncio.sleep(0)

    await router.ensure_group()
    migration = migration_of(crashable_client, crashable, stream)
    async with running(router):
        producer = asyncio.create_task(produce())
        await wait_for(lambda: emitted >= 600 and len(handled) >= 200)
        await migration.begin()
        await wait_for(lambda: emitted >= 1000)
        assert await migration.move_keys() == 1
        await wait_for(lambda: emitted >= 1400)
        await migration.end()
        migrated.set()
        await producer
        await wait_for(lambda: len(handled) >= emitted)

    assert sorted(handled) == list(range(emitted))  # every event, each once
    assert int(await crashable_client.xlen(stream)) == emitted  # no batch stored twice
    assert await pending_count(crashable_client, stream, "g") == 0
    assert retries_logged(quiet_router) == []
