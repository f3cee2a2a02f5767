"""Repository reads through PgBouncer (transaction pooling) vs straight to Postgres.

Both sides use servicekit's repositories, sessions and settings on the same database in
the same run; only the path differs. Behind PgBouncer twice: with the timeouts sent per
transaction (servicekit's default there: one more round trip) and with them left to the
database (all three at 0, as docs/runtime/database.md describes), which is the setup the
target is for.

Run: .venv/bin/python benchmarks/bench_pgbouncer.py
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import String, insert
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Mapped, mapped_column

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import Report, interleaved

from servicekit import database
from servicekit.database import AsyncRepository, Repository, declarative_base
from servicekit.database.engine import build_async_engine, build_engine
from servicekit.testgres import DatabaseFactory, resolve_postgres, start_pgbouncer

BenchBase = declarative_base()
ROWS = 1_000
GETS = 1_000
LISTS = 300
LEFT_TO_THE_SERVER = {"statement_timeout_ms": 0, "lock_timeout_ms": 0, "idle_in_tx_timeout_ms": 0}


class Row(BenchBase):
    __tablename__ = "bench_pooled_rows"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    value: Mapped[int]


class RowRepository(Repository[Row]):
    model = Row


class AsyncRowRepository(AsyncRepository[Row]):
    model = Row


def sync_reads(url: str, pooler: str, **settings: Any) -> Callable[[], float]:
    """A round of ``GETS`` gets and ``LISTS`` lists of 50, one transaction each."""
    os.environ["DB_POOLER"] = pooler
    engine = build_engine(url, settings)
    database.SessionLocal.configure(bind=engine)

    def run() -> float:
        database.SessionLocal.configure(bind=engine)
        start = time.perf_counter()
        for n in range(GETS):
            with database.db_session() as session:
                RowRepository(session).get(n % ROWS + 1)
        for _ in range(LISTS):
            with database.db_session() as session:
                RowRepository(session).list(limit=50)
        return time.perf_counter() - start

    return run


def async_reads(url: str, pooler: str, **settings: Any) -> Callable[[], float]:
    """The same round on asyncpg, 16 requests at a time."""
    os.environ["DB_POOLER"] = pooler
    # A pool as large as the waves: with the default 10 (+ overflow), 6 connections a
    # wave would be opened and closed, which costs far more straight to Postgres than to
    # PgBouncer and would flatter it.
    engine = build_async_engine(url, {"pool_size": 16, **settings})
    loop = asyncio.new_event_loop()

    async def get(n: int) -> None:
        async with database.async_db_session() as session:
            await AsyncRowRepository(session).get(n % ROWS + 1)

    async def listing(_: int) -> None:
        async with database.async_db_session() as session:
            await AsyncRowRepository(session).list(limit=50)

    async def in_waves(work: Callable[[int], Any], count: int) -> None:
        for first in range(0, count, 16):
            await asyncio.gather(*(work(n) for n in range(first, min(first + 16, count))))

    def run() -> float:
        database.AsyncSessionLocal.configure(bind=engine)
        start = time.perf_counter()
        loop.run_until_complete(in_waves(get, GETS))
        loop.run_until_complete(in_waves(listing, LISTS))
        return time.perf_counter() - start

    return run


def main() -> None:
    report = Report("repository reads through PgBouncer 1.18 vs direct (medians of 7 rounds)")
    server = resolve_postgres()
    factory = DatabaseFactory(server.url)
    factory.create_template(BenchBase.metadata)
    name = factory.clone()
    direct = factory.url(name).render_as_string(hide_password=False)
    engine = database.bind(direct)
    with engine.begin() as connection:
        rows = [{"name": f"row {n}", "value": n} for n in range(ROWS)]
        connection.execute(insert(Row.__table__), rows)
    database.dispose()
    bouncer = start_pgbouncer(server.url)
    pooled = make_url(bouncer.url).set(database=name).render_as_string(hide_password=False)
    per_round = (GETS + LISTS) / 1e6  # seconds per round -> microseconds per transaction
    try:
        for driver, reads in (("psycopg", sync_reads), ("asyncpg", async_reads)):
            baseline = reads(direct, "none")
            for label, settings in (
                ("timeouts left to the database", LEFT_TO_THE_SERVER),
                ("timeouts per transaction", {}),
            ):
                ours, base = interleaved(reads(pooled, "pgbouncer", **settings), baseline)
                # Per transaction: one more round trip on a one-query transaction.
                target = 1.15 if settings else 2.0
                report.ratio(
                    f"{driver}: get + list of 50, {label}",
                    ours / per_round,
                    base / per_round,
                    target,
                    "us/tx",
                )
    finally:
        bouncer.stop()
        factory.close()
        server.close()
    report.print()


if __name__ == "__main__":
    main()
