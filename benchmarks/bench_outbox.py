"""servicekit.outbox against its raw baselines, same Postgres and Redis, same run.

Run: ``.venv/bin/python benchmarks/bench_outbox.py`` (``REDIS_URL`` and ``DATABASE_URL``
override the local defaults). Ours and the baseline are measured in alternating rounds
(``_report.interleaved``); the medians decide.

* write overhead: creating an entity in its own transaction (async session, asyncpg),
  with its event staged in the outbox versus the entity alone. Target: at most 1.30x.
  The same two statements on raw asyncpg show the database's share of that overhead
  (the rest is SQLAlchemy's cost of executing one more statement).
* relay throughput: 10,000 staged events sent by ``OutboxRelay.run_once`` (batches of
  500: select, XADD, delete, commit) versus a raw redis-py ``pipeline(transaction=False)``
  of ``XADD`` carrying the very same encoded fields, 500 per round trip. Target: at least
  0.70x the raw events/s, shown as time per event (at most 1 / 0.70 = 1.43x).
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
import uuid
from collections.abc import Callable, Coroutine
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
from redis.asyncio import Redis
from sqlalchemy import Numeric, String, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Mapped, mapped_column

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import Report, interleaved

from servicekit.database import declarative_base, normalize_url
from servicekit.outbox import OutboxMixin, OutboxRelay, stage_event
from servicekit.streams import BaseEvent
from servicekit.streams.serialization import (
    FIELD_DATA,
    FIELD_SCHEMA_VERSION,
    FIELD_TYPE,
    encode_event,
)
from servicekit.testgres import DatabaseFactory, resolve_postgres

BenchBase = declarative_base()
CREATES = 300
EVENTS = 10_000
BATCH = 500
MAXLEN = 100_000
WRITE_TARGET = 1.30
RELAY_TARGET = 0.70


class BenchProduct(BenchBase):
    __tablename__ = "bench_products"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(120))
    name: Mapped[str] = mapped_column(String(200))
    price: Mapped[Decimal] = mapped_column(Numeric(12, 2))


class BenchOutbox(OutboxMixin, BenchBase):
    __tablename__ = "bench_outbox"


class BenchProductCreated(BaseEvent):
    product_id: int
    slug: str
    name: str
    price: str


PRICE = Decimal("9.50")


def product(n: int) -> BenchProduct:
    return BenchProduct(slug=f"product-{n:08d}", name=f"Product number {n}", price=PRICE)


def created(n: int) -> BenchProductCreated:
    # About 250 bytes of JSON, like the streams benchmark's events.
    return BenchProductCreated(
        product_id=n, slug=f"product-{n:08d}", name=f"Product number {n}", price="9.50"
    )


Run = Callable[[Coroutine[Any, Any, float]], float]


def bench_writes(run: Run, sessions: async_sessionmaker[AsyncSession], report: Report) -> None:
    async def creates(with_event: bool) -> float:
        start = time.perf_counter()
        for n in range(CREATES):
            async with sessions() as session, session.begin():
                session.add(product(n))
                if with_event:
                    stage_event(session, BenchOutbox, created(n), stream="bench:products")
        elapsed = time.perf_counter() - start
        async with sessions() as session, session.begin():
            await session.execute(text("TRUNCATE bench_products, bench_outbox"))
        return elapsed

    ours, base = interleaved(lambda: run(creates(True)), lambda: run(creates(False)))
    report.ratio(
        "create: entity + outbox row vs entity alone (per transaction)",
        ours * 1e6 / CREATES,
        base * 1e6 / CREATES,
        WRITE_TARGET,
        "us",
    )


def bench_writes_raw(run: Run, url: str, report: Report) -> None:
    """The database's share of the write overhead: the same two statements on raw asyncpg."""

    encoded = [encode_event(created(n)) for n in range(CREATES)]  # not timed: DB only

    async def creates(with_event: bool) -> float:
        connection = await asyncpg.connect(url)
        try:
            insert_product = await connection.prepare(
                "INSERT INTO bench_products (slug, name, price) VALUES ($1, $2, $3) RETURNING id"
            )
            insert_message = await connection.prepare(
                "INSERT INTO bench_outbox (stream, event_type, schema_version, data, created_at)"
                " VALUES ($1, $2, $3, $4, now()) RETURNING id"
            )
            start = time.perf_counter()
            for n in range(CREATES):
                async with connection.transaction():
                    await insert_product.fetchval(f"product-{n:08d}", f"Product {n}", PRICE)
                    if with_event:
                        await insert_message.fetchval("bench:products", *encoded[n])
            elapsed = time.perf_counter() - start
            await connection.execute("TRUNCATE bench_products, bench_outbox")
            return elapsed
        finally:
            await connection.close()

    ours, base = interleaved(lambda: run(creates(True)), lambda: run(creates(False)))
    report.ratio(
        "  the same on raw asyncpg, no ORM (the database's share)",
        ours * 1e6 / CREATES,
        base * 1e6 / CREATES,
        WRITE_TARGET,
        "us",
    )


def bench_relay(
    run: Run, sessions: async_sessionmaker[AsyncSession], redis: Redis, report: Report
) -> tuple[float, float]:
    prefix = f"bench-outbox:{uuid.uuid4().hex[:8]}"
    events = [created(n) for n in range(EVENTS)]
    fields: list[Any] = []
    for event in events:
        event_type, version, data = encode_event(event)
        fields.append({FIELD_TYPE: event_type, FIELD_SCHEMA_VERSION: version, FIELD_DATA: data})
    relay = OutboxRelay(sessions, BenchOutbox, redis, batch_size=BATCH, maxlen=MAXLEN)

    async def ours() -> float:
        stream = f"{prefix}:relay"
        async with sessions() as session, session.begin():
            for event in events:
                stage_event(session, BenchOutbox, event, stream=stream)
        start = time.perf_counter()
        while await relay.run_once():
            pass
        elapsed = time.perf_counter() - start
        assert await redis.xlen(stream) == EVENTS
        await redis.delete(stream)
        return elapsed

    async def raw() -> float:
        stream = f"{prefix}:raw"
        start = time.perf_counter()
        for i in range(0, EVENTS, BATCH):
            async with redis.pipeline(transaction=False) as pipe:
                for item in fields[i : i + BATCH]:
                    pipe.xadd(stream, item, maxlen=MAXLEN, approximate=True)
                await pipe.execute()
        elapsed = time.perf_counter() - start
        await redis.delete(stream)
        return elapsed

    ours_s, raw_s = interleaved(lambda: run(ours()), lambda: run(raw()))
    report.ratio(
        f"relay {EVENTS // 1000}k events, batch {BATCH}, vs raw pipelined XADD (per event)",
        ours_s * 1e6 / EVENTS,
        raw_s * 1e6 / EVENTS,
        1 / RELAY_TARGET,
        "us",
    )
    return EVENTS / ours_s, EVENTS / raw_s


def main() -> None:
    report = Report("servicekit.outbox vs raw baselines (medians of alternating rounds)")
    server = resolve_postgres()
    factory = DatabaseFactory(server.url)
    factory.create_template(BenchBase.metadata)
    name = factory.clone()
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    try:
        with asyncio.Runner() as runner:
            engine = create_async_engine(normalize_url(factory.url(name), is_async=True))
            sessions = async_sessionmaker(engine, expire_on_commit=False)
            redis = Redis.from_url(redis_url)
            try:
                bench_writes(runner.run, sessions, report)
                raw_url = factory.url(name).set(drivername="postgresql")
                bench_writes_raw(runner.run, raw_url.render_as_string(hide_password=False), report)
                relay_rate, raw_rate = bench_relay(runner.run, sessions, redis, report)
            finally:
                runner.run(redis.aclose())
                runner.run(engine.dispose())
    finally:
        factory.close()
        server.close()
    report.print()
    ratio = relay_rate / raw_rate
    verdict = "PASS" if ratio >= RELAY_TARGET else "MISS"
    print(
        f"\nrelay throughput: {relay_rate:,.0f} events/s vs raw {raw_rate:,.0f} events/s"
        f" = {ratio:.2f}x (target >= {RELAY_TARGET:.2f}x) {verdict}"
    )


if __name__ == "__main__":
    main()
