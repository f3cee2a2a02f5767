"""A router loses the primary of its stream's shard mid-run and resumes after failover.

10,000 small events: 5,000 are in the stream (and on its replica) when the router
starts; the primary is SIGKILLed once 2,000 are handled; the other 5,000 are emitted
after the kill, the producer retrying until the promoted replica takes them. Every event
must be handled (at least once: entries whose acknowledgement or delivery the dead primary
never replicated come again, or are reclaimed from the pending list), and the time from
the kill to the first entry handled after the router's last failed read is printed.

Runs on a cluster of its own (``crashable``), so other tests keep a healthy one. The stream
is put on the primary the router's client reads its command table from, so losing it
also tests re-reading the command table elsewhere.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter

import pytest
import redis.asyncio

from servicekit.redis_clients import ReadyCluster, connect
from servicekit.streams import BaseEvent, EmitError, EventEmitter, EventRouter
from servicekit.testgres._cluster import LocalCluster
from tests.runtime.cluster.conftest import node_of
from tests.runtime.streams.conftest import running, wait_for

pytestmark = pytest.mark.slow

EVENTS = 10_000
BEFORE_KILL = 5_000
KILL_AFTER_HANDLED = 2_000
BATCH = 500
RECOVERY_BOUND_S = 30.0


class SkFoTick(BaseEvent):
    n: int


async def emit_until_stored(emitter: EventEmitter, events: list[SkFoTick]) -> None:
    """Emit in batches; a batch the cluster refused (no primary yet) is emitted again."""
    for start in range(0, len(events), BATCH):
        while True:
            try:
                await emitter.emit(events[start : start + BATCH])
                break
            except EmitError:
                await asyncio.sleep(0.1)


async def replica_of(cluster: LocalCluster, primary: int) -> int:
    """The port of the node replicating the one on ``primary``."""
    for port in cluster.ports:
        node = redis.asyncio.Redis(port=port)
        try:
            info = await node.info("replication")
        finally:
            await node.aclose()
        if info.get("role") == "slave" and int(info["master_port"]) == primary:
            return port
    raise AssertionError(f"no replica of 127.0.0.1:{primary}")


async def replica_holds(port: int, stream: str, length: int) -> bool:
    replica = redis.asyncio.Redis(port=port)
    try:
        await replica.execute_command("READONLY")
        return int(await replica.xlen(stream)) >= length
    finally:
        await replica.aclose()


async def test_router_resumes_after_its_primary_fails_over_and_loses_nothing(
    crashable: LocalCluster,
    crashable_client: ReadyCluster,
    key_prefix: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    parser_node = crashable_client.commands_parser.node.name
    stream = next(
        name
        for name in (f"{key_prefix}:ticks:{i}" for i in range(10_000))
        if node_of(crashable_client, name) == parser_node
    )
    primary = crashable_client.nodes_manager.get_node_from_slot(crashable_client.keyslot(stream))
    assert primary.name == parser_node and crashable.alive(primary.port)
    replica = await replica_of(crashable, primary.port)

    producer = await connect(crashable.url)
    emitter = EventEmitter(producer, stream=stream, maxlen=None)
    events = [SkFoTick(n=n) for n in range(EVENTS)]
    await emit_until_stored(emitter, events[:BEFORE_KILL])
    # Writes the replica never received die with the primary: wait until it has them.
    await wait_for(lambda: replica_holds(replica, stream, BEFORE_KILL))

    router = EventRouter(
        crashable_client,
        stream=stream,
        group="ticks",
        consumer="only",
        batch_size=100,
        block_ms=200,
        claim_min_idle_ms=1000,  # entries the failover orphaned come back within seconds
    )
    handled: Counter[int] = Counter()
    handled_at: list[float] = []

    @router.on(SkFoTick)
    async def tick(event: SkFoTick) -> None:
        handled[event.n] += 1
        handled_at.append(time.time())

    caplog.set_level(logging.WARNING, logger="servicekit.streams.router")
    try:
        async with running(router):
            await wait_for(lambda: len(handled) >= KILL_AFTER_HANDLED, timeout=30)
            killed_at = time.time()
            crashable.crash(primary.port)
            await emit_until_stored(emitter, events[BEFORE_KILL:])
            await wait_for(lambda: len(handled) == EVENTS, timeout=60)
            # What the dead primary had delivered or acknowledged without replicating it
            # is pending on the new one: the claim loop hands it back.
            await wait_for(lambda: _nothing_pending(producer, stream), timeout=30)
    finally:
        await producer.aclose()

    failures = [
        record.created
        for record in caplog.records
        if record.getMessage().startswith(f"reading {stream!r} failed")
    ]
    assert failures, "the router never noticed the failure"
    recovered_at = next(at for at in handled_at if at > max(failures))
    recovery = recovered_at - killed_at
    duplicates = sum(handled.values()) - EVENTS
    print(
        f"\nrouter recovered {recovery:.2f} s after its primary was killed "
        f"({len(failures)} failed reads); {EVENTS} events handled, {duplicates} twice"
    )
    assert set(handled) == set(range(EVENTS))
    assert recovery < RECOVERY_BOUND_S


async def _nothing_pending(client: redis.asyncio.Redis | ReadyCluster, stream: str) -> bool:
    summary = await client.xpending(stream, "ticks")
    return int(summary["pending"]) == 0
