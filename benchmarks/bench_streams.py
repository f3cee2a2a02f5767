"""Throughput of servicekit.streams against raw redis-py on the same Redis.

Run: ``.venv/bin/python benchmarks/bench_streams.py`` (``REDIS_URL`` overrides the
default ``redis://127.0.0.1:6379/0``). Ours and the raw baseline are measured alternately
in the same run, ROUNDS times each; the medians decide, the best rounds are shown too.

* emit: 10,000 events in batches of 100 with ``EventEmitter.emit(list)`` versus a raw
  non-transactional pipeline of ``XADD`` carrying the very same field bytes.
* consume: 10,000 events through ``EventRouter`` (batch 100, no-op handler) versus a raw
  ``XREADGROUP COUNT 100`` + ``XACK`` loop.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
import uuid
from typing import Any

from redis.asyncio import Redis

from servicekit.streams import BaseEvent, EventEmitter, EventRouter
from servicekit.streams.serialization import (
    FIELD_DATA,
    FIELD_SCHEMA_VERSION,
    FIELD_TYPE,
    encode_event,
)

N = 10_000
BATCH = 100
ROUNDS = 9
EMIT_TARGET = 0.90
CONSUME_TARGET = 0.70


class BenchOrderPlaced(BaseEvent):
    order_id: str
    user_id: str
    total: float
    currency: str


def make_events() -> list[BenchOrderPlaced]:
    # About 200 bytes of JSON each, like the reference numbers in the issue.
    return [
        BenchOrderPlaced(
            order_id=f"order-{i:08d}", user_id=f"user-{i % 977}", total=i * 1.5, currency="EUR"
        )
        for i in range(N)
    ]


async def emit_ours(redis: Redis, stream: str, events: list[BenchOrderPlaced]) -> float:
    emitter = EventEmitter(redis, stream=stream)
    start = time.perf_counter()
    for i in range(0, N, BATCH):
        await emitter.emit(events[i : i + BATCH])
    return N / (time.perf_counter() - start)


async def emit_raw(redis: Redis, stream: str, events: list[BenchOrderPlaced]) -> float:
    fields: list[Any] = []
    for event in events:
        event_type, version, data = encode_event(event)
        fields.append({FIELD_TYPE: event_type, FIELD_SCHEMA_VERSION: version, FIELD_DATA: data})
    start = time.perf_counter()
    for i in range(0, N, BATCH):
        async with redis.pipeline(transaction=False) as pipe:
            for item in fields[i : i + BATCH]:
                pipe.xadd(stream, item, maxlen=100_000, approximate=True)
            await pipe.execute()
    return N / (time.perf_counter() - start)


async def consume_ours(redis: Redis, stream: str) -> float:
    router = EventRouter(redis, stream=stream, group="bench", batch_size=BATCH, block_ms=100)
    handled = 0
    finished = asyncio.Event()

    @router.on(BenchOrderPlaced)
    async def noop(event: BenchOrderPlaced) -> None:
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
    await router.stop()  # returns after the last batch is acknowledged
    elapsed = time.perf_counter() - start
    await task
    return N / elapsed


async def consume_raw(redis: Redis, stream: str) -> float:
    await redis.xgroup_create(stream, "bench", id="0", mkstream=True)
    seen = 0
    start = time.perf_counter()
    while seen < N:
        reply: Any = await redis.xreadgroup("bench", "raw", {stream: ">"}, count=BATCH, block=100)
        for _, entries in reply:
            await redis.xack(stream, "bench", *[message_id for message_id, _ in entries])
            seen += len(entries)
    return N / (time.perf_counter() - start)


async def main() -> None:
    redis = Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    prefix = f"bench-streams:{uuid.uuid4().hex[:8]}"
    events = make_events()
    size = len(encode_event(events[0])[2])
    results: dict[str, list[float]] = {
        k: [] for k in ("emit", "emit_raw", "consume", "consume_raw")
    }
    try:
        for round_ in range(ROUNDS):
            streams = {name: f"{prefix}:{name}:{round_}" for name in results}
            results["emit_raw"].append(await emit_raw(redis, streams["emit_raw"], events))
            results["emit"].append(await emit_ours(redis, streams["emit"], events))
            # Both consumers read a stream our emitter filled, so the entries are identical.
            await EventEmitter(redis, stream=streams["consume_raw"]).emit(events)
            await EventEmitter(redis, stream=streams["consume"]).emit(events)
            results["consume_raw"].append(await consume_raw(redis, streams["consume_raw"]))
            results["consume"].append(await consume_ours(redis, streams["consume"]))
            await redis.delete(*streams.values())
    finally:
        await redis.aclose()

    med = {name: statistics.median(values) for name, values in results.items()}
    best = {name: max(values) for name, values in results.items()}
    print(f"{N} events, ~{size}-byte payloads, batches of {BATCH}, {ROUNDS} rounds")
    print("ours/raw: medians over the rounds (the verdict); best: fastest round of each side")
    header = f"{'benchmark':<10} {'ours ev/s':>10} {'raw ev/s':>10} {'ratio':>6}"
    print(f"{header} {'best':>6} {'target':>7}  result")
    for name, target in (("emit", EMIT_TARGET), ("consume", CONSUME_TARGET)):
        ours, raw = med[name], med[f"{name}_raw"]
        ratio, best_ratio = ours / raw, best[name] / best[f"{name}_raw"]
        verdict = "PASS" if ratio >= target else "MISS"
        print(
            f"{name:<10} {ours:>10,.0f} {raw:>10,.0f} {ratio:>6.2f} {best_ratio:>6.2f}"
            f" {target:>7.2f}  {verdict}"
        )


if __name__ == "__main__":
    asyncio.run(main())
