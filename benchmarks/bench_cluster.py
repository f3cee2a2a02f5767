"""servicekit on a local Redis Cluster (3 primaries + 3 replicas) vs one Redis node.

Same machine, same run, same client count (one emitter, one router, one cache caller),
alternating rounds. The baseline is a private ``redis-server`` with one replica, started
like the cluster's nodes (no persistence): the cluster has a replica per primary, and a
replica is not free. A consumer group's read is replicated as one ``XCLAIM`` per entry
delivered, so on this 2-core machine a replica's work competes with the client for the
CPU; a lone node without a replica is measured too, to show that share.

* emit: 10,000 events in batches of 100 through ``EventEmitter``;
* consume: the same 10,000 through ``EventRouter`` (batch 100, no-op handler);
* cached hit: ``@redis_cached`` returning a 1 KB JSON value.

Targets: throughput >= 0.85x and cached-hit latency <= 1.15x the single node's (shown
below as time per event or per call, cluster / single, so <= 1.18x and <= 1.15x), each
with the range of the per-round ratios. The CPU table splits a consume round's CPU time
between the client process and the Redis servers (every node of the setup).

Run: .venv/bin/python benchmarks/bench_cluster.py [--rounds 7] [--events 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import Report

from servicekit import cache
from servicekit.redis_clients import RedisClient, connect
from servicekit.streams import BaseEvent, EventEmitter, EventRouter
from servicekit.testgres._cluster import start_redis_cluster
from servicekit.testgres._processes import LocalServer, start_redis

BATCH = 100
CACHE_CALLS = 5_000
_REPLICA_TIMEOUT_S = 30.0


class BenchOrderPlaced(BaseEvent):
    order_id: str
    total: float


@dataclass
class Setup:
    """A Redis setup under test: its URL, its server processes, what it measured."""

    name: str
    url: str
    servers: list[LocalServer]
    rounds: list[Round] = field(default_factory=list)

    def server_cpu(self) -> float:
        """CPU seconds the setup's server processes have used so far."""
        return sum(_cpu_seconds(server) for server in self.servers)


@dataclass(frozen=True)
class Round:
    emit: float
    consume: float
    hit: float
    consume_client_cpu: float
    consume_server_cpu: float


def _cpu_seconds(server: LocalServer) -> float:
    assert server.process is not None
    # schedstat's first field: nanoseconds on a CPU, finer than /proc/<pid>/stat's ticks.
    with open(f"/proc/{server.process.pid}/schedstat") as stat:
        return int(stat.read().split()[0]) / 1e9


def start_replicated() -> list[LocalServer]:
    """One node and a replica of it, once the replica has synced."""
    primary = start_redis()
    port = primary.url.rsplit(":", 1)[1].split("/")[0]
    replica = start_redis("--replicaof", "127.0.0.1", port)
    client = redis.Redis.from_url(replica.url)
    deadline = time.monotonic() + _REPLICA_TIMEOUT_S
    try:
        while client.info("replication").get("master_link_status") != "up":
            if time.monotonic() > deadline:
                raise RuntimeError("the replica did not sync with its primary")
            time.sleep(0.05)
    except BaseException:
        replica.stop()
        primary.stop()
        raise
    finally:
        client.close()
    return [primary, replica]


async def emit(client: RedisClient, stream: str, events: list[BenchOrderPlaced]) -> float:
    emitter = EventEmitter(client, stream=stream)
    start = time.perf_counter()
    for i in range(0, len(events), BATCH):
        await emitter.emit(events[i : i + BATCH])
    return time.perf_counter() - start


async def consume(client: RedisClient, stream: str, count: int) -> float:
    router = EventRouter(client, stream=stream, group="bench", batch_size=BATCH, block_ms=100)
    handled = 0
    finished = asyncio.Event()

    @router.on(BenchOrderPlaced)
    async def noop(_event: BenchOrderPlaced) -> None:
        nonlocal handled
        handled += 1
        if handled == count:
            finished.set()

    start = time.perf_counter()
    task = asyncio.create_task(router.start())
    waiter = asyncio.create_task(finished.wait())
    await asyncio.wait([task, waiter], return_when=asyncio.FIRST_COMPLETED)
    if task.done():  # the router died: show why instead of waiting forever
        waiter.cancel()
        await task
    await router.stop()
    elapsed = time.perf_counter() - start
    await task
    return elapsed


async def cached_hits(url: str, prefix: str) -> float:
    await cache.redis_init(url, prefix=prefix)

    @cache.redis_cached("hit", ttl=600)
    async def load() -> dict[str, Any]:
        return {"id": 1, "lines": [{"sku": f"sku-{n}", "qty": n} for n in range(30)]}

    try:
        await load()  # the miss that stores it
        start = time.perf_counter()
        for _ in range(CACHE_CALLS):
            await load()
        return time.perf_counter() - start
    finally:
        await cache.redis_close()


async def one_round(setup: Setup, events: list[BenchOrderPlaced]) -> Round:
    """Emit, consume and cached hits on ``setup``, on fresh keys."""
    client = await connect(setup.url)
    stream = f"bench:{uuid.uuid4().hex[:8]}"
    try:
        emitted = await emit(client, stream, events)
        client_cpu, server_cpu = time.process_time(), setup.server_cpu()
        consumed = await consume(client, stream, len(events))
        client_cpu = time.process_time() - client_cpu
        server_cpu = setup.server_cpu() - server_cpu
        await client.delete(stream)
    finally:
        await client.aclose()
    hits = await cached_hits(setup.url, f"bench-{uuid.uuid4().hex[:8]}")
    return Round(emitted, consumed, hits, client_cpu, server_cpu)


def _compare(report: Report, ours: Setup, base: Setup, events: int) -> None:
    for name, attribute, count, target in [
        (f"emit {events:,} events, batches of {BATCH}", "emit", events, 1 / 0.85),
        (f"consume {events:,} events through a router", "consume", events, 1 / 0.85),
        ("@redis_cached hit, 1 KB JSON", "hit", CACHE_CALLS, 1.15),
    ]:
        mine = [getattr(sample, attribute) for sample in ours.rounds]
        theirs = [getattr(sample, attribute) for sample in base.rounds]
        ratios = [a / b for a, b in zip(mine, theirs, strict=True)]  # the same round's
        report.ratio(
            name,
            statistics.median(mine) / count * 1e6,
            statistics.median(theirs) / count * 1e6,
            target,
            "us",
            spread=(min(ratios), max(ratios)),
        )


def _cpu_table(setups: list[Setup], events: int) -> None:
    batches = events / BATCH
    print(f"\nCPU per consumed batch of {BATCH} (medians): client process / Redis servers")
    for setup in setups:
        client = statistics.median(s.consume_client_cpu for s in setup.rounds)
        servers = statistics.median(s.consume_server_cpu for s in setup.rounds)
        wall = statistics.median(s.consume for s in setup.rounds)
        print(
            f"  {setup.name:<26} {client / batches * 1e6:6.0f} us / {servers / batches * 1e6:6.0f}"
            f" us   (wall {wall / batches * 1e6:6.0f} us)"
        )


async def main(rounds: int, events: int) -> None:
    batch = [BenchOrderPlaced(order_id=f"order-{i:08d}", total=i * 1.5) for i in range(events)]
    setups: list[Setup] = []
    try:
        cluster = start_redis_cluster()
        setups.append(Setup("cluster, 3 + 3 replicas", cluster.url, cluster.nodes))
        replicated = start_replicated()
        setups.append(Setup("one node + 1 replica", replicated[0].url, replicated))
        lone = start_redis()
        setups.append(Setup("one node, no replica", lone.url, [lone]))
        for setup in setups:  # warm-up: imports, connections, scripts
            await one_round(setup, batch)
        for _ in range(rounds):
            for setup in setups:
                setup.rounds.append(await one_round(setup, batch))
    finally:
        for setup in setups:
            for server in setup.servers:
                server.stop()
    cluster_setup, replicated_setup, lone_setup = setups
    title = f"Redis Cluster (3+3, local) vs one node with a replica, medians of {rounds} rounds"
    report = Report(title)
    _compare(report, cluster_setup, replicated_setup, events)
    report.print()
    reference = Report("For reference: against one node without a replica")
    _compare(reference, cluster_setup, lone_setup, events)
    reference.print()
    _cpu_table(setups, events)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=7, help="measured rounds per setup")
    parser.add_argument("--events", type=int, default=10_000, help="events per round")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.rounds, arguments.events))
