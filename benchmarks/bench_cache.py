"""servicekit.cache / servicekit.store against hand-written redis-py code, same Redis, one run.

Run: ``.venv/bin/python benchmarks/bench_cache.py`` (``REDIS_URL`` or 127.0.0.1:6379).

Each operation is timed against its raw baseline in interleaved rounds (baseline, ours,
baseline, ours, ...) so that load on a shared machine hits both alike; the ratio is
median(ours) / median(baseline) over the rounds. The outage section starts a cache on a
closed port and on a listener that never answers, and prints the latency a
``@redis_cached`` call adds over calling the function directly.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio
import redis.utils
from pydantic import BaseModel

from servicekit import cache
from servicekit.store import AsyncRedisStore

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
PREFIX = f"bench:{uuid.uuid4().hex[:8]}"
ROUNDS = 9
OPS_PER_ROUND = 1500
MGET_OPS_PER_ROUND = 150

Op = Callable[[], Awaitable[object]]


class Line(BaseModel):
    sku: str
    name: str
    quantity: int
    price: float
    tags: list[str]


class Order(BaseModel):
    id: int
    customer: str
    lines: list[Line]


def payload(i: int) -> dict[str, Any]:
    lines = [
        {"sku": f"SKU-{i}-{n}", "name": f"item {n}", "quantity": n, "price": n * 1.5, "tags": ["a"]}
        for n in range(13)
    ]
    return {"id": i, "customer": f"customer-{i}", "lines": lines}


async def per_call_us(op: Op, n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        await op()
    return (time.perf_counter() - start) / n * 1e6


async def compare(baseline: Op, ours: Op, n: int) -> tuple[float, float]:
    for op in (baseline, ours):  # warm up connections, caches and adapters
        await per_call_us(op, 200)
    base_runs, our_runs = [], []
    for _ in range(ROUNDS):
        base_runs.append(await per_call_us(baseline, n))
        our_runs.append(await per_call_us(ours, n))
    return statistics.median(base_runs), statistics.median(our_runs)


def row(name: str, base: float, ours: float, target: float) -> None:
    ratio = ours / base
    verdict = "PASS" if ratio <= target else "MISS"
    print(f"{name:<44} {base:>9.1f} {ours:>9.1f} {ratio:>7.2f}x {target:>6.2f}x  {verdict}")


async def outage_added_latency(url: str, label: str, calls: int = 20000) -> None:
    async def compute(n: int) -> dict[str, int]:
        return {"n": n}

    cached = cache.redis_cached("outage", ttl=60)(compute)
    await cache.redis_init(url, prefix=PREFIX)
    try:
        # The call that discovers the outage pays at most the connect/read timeout; after
        # it the breaker is open and calls skip Redis until a background probe succeeds.
        t0 = time.perf_counter()
        await cached(0)
        first_ms = (time.perf_counter() - t0) * 1000
        bare, wrapped = [], []
        for i in range(calls):
            t0 = time.perf_counter_ns()
            await compute(i)
            t1 = time.perf_counter_ns()
            await cached(i)
            t2 = time.perf_counter_ns()
            bare.append(t1 - t0)
            wrapped.append(t2 - t1)
    finally:
        await cache.redis_close()
    base = statistics.median(bare)
    qs = statistics.quantiles([w - base for w in wrapped], n=100)
    p50, p99 = qs[49] / 1000, qs[98] / 1000
    verdict = "PASS" if p99 <= 10_000 else "MISS"
    print(
        f"{label:<36} p50 {p50:6.1f} us  p99 {p99:6.1f} us  (target p99 <= 10 ms: {verdict}); "
        f"first call {first_ms:.1f} ms"
    )


def closed_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"redis://127.0.0.1:{sock.getsockname()[1]}/0"


async def main() -> None:
    raw = redis.asyncio.Redis.from_url(REDIS_URL)
    value = json.dumps(payload(0)).encode()
    await raw.set(f"{PREFIX}:one", value)
    keys = [f"{PREFIX}:order:{i}" for i in range(100)]
    await raw.mset({k: json.dumps(payload(i)) for i, k in enumerate(keys)})

    await cache.redis_init(REDIS_URL, prefix=PREFIX)

    @cache.redis_cached("hit", ttl=600)
    async def load_order() -> dict[str, Any]:
        return payload(0)

    await load_order()
    store = AsyncRedisStore.from_url(REDIS_URL)
    one = f"{PREFIX}:one"

    # What a user would write by hand (the ignores keep the baseline free of extra checks).
    async def raw_get() -> object:
        return json.loads(await raw.get(one))  # type: ignore[arg-type]

    async def raw_mget() -> object:
        return [Order.model_validate(json.loads(v)) for v in await raw.mget(keys)]  # type: ignore[arg-type]

    print(
        f"value size {len(value)} bytes; hiredis: {redis.utils.HIREDIS_AVAILABLE}; "
        f"{ROUNDS} interleaved rounds, median per-call time"
    )
    header = f"{'operation (vs raw redis-py baseline)':<44} {'base us':>9} {'ours us':>9}"
    print(f"{header} {'ratio':>8} {'target':>7}")
    base, ours = await compare(raw_get, lambda: cache.redis_get("one"), OPS_PER_ROUND)
    row("redis_get (1 KB JSON) vs GET + json.loads", base, ours, 1.00)
    base, ours = await compare(raw_get, load_order, OPS_PER_ROUND)
    row("@redis_cached hit vs GET + json.loads", base, ours, 1.10)
    base, ours = await compare(raw_mget, lambda: store.mget(keys, Order), MGET_OPS_PER_ROUND)
    row("store.mget(100, Model) vs MGET+loads+validate", base, ours, 1.00)

    await cache.redis_close()
    await store.aclose()
    await raw.delete(one, *keys, *[k async for k in raw.scan_iter(match=f"{PREFIX}*")])
    await raw.aclose()

    print("\nadded latency per @redis_cached call while Redis is down (vs calling directly):")
    await outage_added_latency(closed_port(), "connection refused (closed port)")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    try:
        port = listener.getsockname()[1]
        url = f"redis://127.0.0.1:{port}/0"
        await outage_added_latency(url, "server accepts, never answers")
    finally:
        listener.close()


if __name__ == "__main__":
    # The fail-open warnings are expected here; keep the table readable.
    logging.getLogger("servicekit.cache").setLevel(logging.ERROR)
    asyncio.run(main())
