"""testgres' per-test isolation: an outer transaction rolled back vs a database clone.

Each "test" stores a row through ``servicekit.database.db_session()`` and reads the table
back, inside ``testgres.isolate()`` as the autouse fixture runs it, back to back. A mode's
overhead is the time spent entering and leaving ``isolate()`` (binding, a clone or a
``BEGIN``, the rollback or the drop); the whole test is timed too, since a commit costs
less inside an outer transaction (a ``RELEASE SAVEPOINT``, no flush to disk). Batches of
the two modes alternate.

Run: .venv/bin/python benchmarks/bench_isolation.py
"""

from __future__ import annotations

import statistics
import sys
import time
import uuid
from pathlib import Path

from sqlalchemy import String, select
from sqlalchemy.orm import Mapped, mapped_column

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import Report

from servicekit import database
from servicekit.database import declarative_base
from servicekit.testgres import (
    DatabaseFactory,
    Isolation,
    TestgresSession,
    isolate,
    resolve_postgres,
)

BenchBase = declarative_base()
TESTS = 25  # per batch
ROUNDS = 7


class Note(BenchBase):
    __tablename__ = "bench_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str] = mapped_column(String(40), unique=True)


def body() -> None:
    """A small test: the code under test commits a row, the test reads the table."""
    with database.db_session() as session:
        session.add(Note(text=uuid.uuid4().hex))
    with database.SessionLocal() as session:
        assert session.scalars(select(Note)).all()


def batch(session: TestgresSession, isolation: Isolation) -> tuple[float, float]:
    """Seconds per test, in isolation and in all, over one batch of back-to-back tests."""
    overhead = 0.0
    start = time.perf_counter()
    for _ in range(TESTS):
        entering = time.perf_counter()
        with isolate(session, isolation, async_mode=False):
            body_start = time.perf_counter()
            body()
            body_end = time.perf_counter()
        overhead += (body_start - entering) + (time.perf_counter() - body_end)
    return overhead / TESTS, (time.perf_counter() - start) / TESTS


def main() -> None:
    report = Report(f"testgres isolation per test, back to back ({TESTS}-test batches, medians)")
    server = resolve_postgres()
    factory = DatabaseFactory(server.url)
    factory.create_template(BenchBase.metadata)
    session = TestgresSession(server, factory)
    measured: dict[Isolation, list[tuple[float, float]]] = {"transaction": [], "database": []}
    try:
        batch(session, "transaction")  # warm-up: the shared clone, pools, statement caches
        batch(session, "database")
        for _ in range(ROUNDS):
            for isolation, samples in measured.items():
                samples.append(batch(session, isolation))
    finally:
        session.close()
        server.close()
    overhead = {
        mode: statistics.median(s[0] for s in samples) for mode, samples in measured.items()
    }
    whole = {mode: statistics.median(s[1] for s in samples) for mode, samples in measured.items()}
    ms = 1e3
    report.absolute(
        "isolation overhead per test, isolation='transaction'",
        overhead["transaction"] * ms,
        3,
        "ms",
    )
    report.ratio(
        "isolation overhead per test, transaction vs database (clone)",
        overhead["transaction"] * ms,
        overhead["database"] * ms,
        0.10,
        "ms",
    )
    report.ratio(
        "whole test (commit a row, read it back), transaction vs database",
        whole["transaction"] * ms,
        whole["database"] * ms,
        0.10,
        "ms",
    )
    report.print()


if __name__ == "__main__":
    main()
