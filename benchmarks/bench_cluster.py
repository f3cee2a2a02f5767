"""servicekit on a local Redis Cluster (3 primaries + 3 replicas) vs one Redis node.

Same machine, same run, same client count (one emitter, one router, one cache caller),
alternating rounds; the single node is a private ``redis-server`` started like the
cluster's nodes (no persistence). On this 2-core machine the client process, not the
servers, is the bound: the cluster's cost shows as client-side routing work.

* emit: 10,000 events in batches of 100 through ``EventEmitter``;
* consume: the same 10,000 through ``EventRouter`` (batch 100, no-op handler);
* cached hit: ``@redis_cached`` returning a 1 KB JSON value.

Targets: throughput >= 0.85x and cached-hit latency <= 1.15x the single node's (shown
below as time per event or per call, cluster / single, so <= 1.18x and <= 1.15x).

Run: .venv/bin/python benchmarks/bench_cluster.py
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import Report

from servicekit import cache
from servicekit.redis_clients import RedisClient, connect
from servicekit.streams import BaseEvent, EventEmitter, EventRouter
from servicekit.testgres import resolve_redis_cluster
from servicekit.testgres._processes import start_redis

N = 10_000
BATCH = 100
CACHE_CALLS = 5_000
ROUNDS = 5


class BenchOrderPlaced(BaseEvent):
    order_id: str
    total: float


EVENTS = [BenchOrderPlaced(order_id=f"order-{i:08d}", total=i * 1.5) for i in range(N)]


async def emit(client: RedisClient, stream: str) -> float:
    emitter = EventEmitter(client, stream=stream)
    start = time.perf_counter()
    for i in range(0, N, BATCH):
        await emitter.emit(EVENTS[i : i + BATCH])
    return time.perf_counter() - start


async def consume(client: RedisClient, stream: str) -> float:
    router = EventRouter(client, stream=stream, group="bench", batch_size=BATCH, block_ms=100)
    handled = 0
    finished = asyncio.Event()

    @router.on(BenchOrderPlaced)
    async def noop(_event: BenchOrderPlaced) -> None:
        nonlocal handled
        handled += 1
        if handled == N:
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


async def one_round(url: str) -> tuple[float, float, float]:
    """Seconds for emit, consume and the cached hits on ``url``, on fresh keys."""
    client = await connect(url)
    stream = f"bench:{uuid.uuid4().hex[:8]}"
    try:
        emitted = await emit(client, stream)
        consumed = await consume(client, stream)
        await client.delete(stream)
    finally:
        await client.aclose()
    hits = await cached_hits(url, f"bench-{uuid.uuid4().hex[:8]}")
    return emitted, consumed, hits


async def main() -> None:
    single = start_redis()
    cluster = resolve_redis_cluster()
    rounds: dict[str, list[tuple[float, float, float]]] = {"single": [], "cluster": []}
    try:
        await one_round(single.url)  # warm-up: imports, connections, scripts
        await one_round(cluster.url)
        for _ in range(ROUNDS):
            rounds["single"].append(await one_round(single.url))
            rounds["cluster"].append(await one_round(cluster.url))
    finally:
        cluster.close()
        single.stop()

    def median(kind: str, index: int) -> float:
        return statistics.median(sample[index] for sample in rounds[kind])

    report = Report(f"Redis Cluster (3+3, local) vs one node, medians of {ROUNDS} rounds")
    for index, (name, count, unit_scale, target) in enumerate(
        [
            (f"emit {N:,} events, batches of {BATCH}", N, 1e6, 1 / 0.85),
            (f"consume {N:,} events through a router", N, 1e6, 1 / 0.85),
            ("@redis_cached hit, 1 KB JSON", CACHE_CALLS, 1e6, 1.15),
        ]
    ):
        ours = median("cluster", index) / count * unit_scale
        base = median("single", index) / count * unit_scale
        report.ratio(name, ours, base, target, "us")
    report.print()


if __name__ == "__main__":
    asyncio.run(main())
