"""servicekit.database against plain SQLAlchemy, same database, same run.

Run: .venv/bin/python benchmarks/bench_database.py
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Engine, String, create_engine, insert, pool, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Mapped, Session, mapped_column

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import Report, interleaved

from servicekit import database
from servicekit.database import Repository, declarative_base
from servicekit.testgres import DatabaseFactory, resolve_postgres

BenchBase = declarative_base()
ROWS = 10_000


class Row(BenchBase):
    __tablename__ = "bench_rows"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(80))
    value: Mapped[int]


class RowRepository(Repository[Row]):
    model = Row


def timed(work: Callable[[], object]) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def _rows() -> list[dict[str, object]]:
    return [{"key": f"k-{n}", "name": f"row {n}", "value": n} for n in range(ROWS)]


def bench_writes(engine: Engine, report: Report) -> None:
    table = Row.__table__
    rows = _rows()

    def core_insert() -> float:
        with engine.begin() as conn:
            elapsed = timed(lambda: conn.execute(insert(table), rows))
            conn.execute(text("TRUNCATE bench_rows"))
        return elapsed

    def ours_bulk_add() -> float:
        objects = [Row(**row) for row in rows]
        with Session(engine) as session, session.begin():
            elapsed = timed(lambda: RowRepository(session).bulk_add(objects))
            session.execute(text("TRUNCATE bench_rows"))
        return elapsed

    ours, base = interleaved(ours_bulk_add, core_insert)
    report.ratio("bulk_add 10k ORM objects vs Core executemany", ours * 1e3, base * 1e3, 1.30, "ms")

    with engine.begin() as conn:
        conn.execute(insert(table), rows)
    updates = [{**row, "name": "updated"} for row in rows]
    upsert = pg_insert(table)
    core_upsert = upsert.on_conflict_do_update(
        index_elements=["key"], set_={"name": upsert.excluded.name}
    )
    core_returning = core_upsert.returning(*table.c)

    def core_per_row() -> float:
        with engine.begin() as conn:
            return timed(lambda: [conn.execute(core_returning, row).one() for row in updates])

    def ours_per_row() -> float:
        with Session(engine) as session, session.begin():
            repo = RowRepository(session)
            return timed(
                lambda: [
                    repo.upsert(row, conflict_on=["key"], update_fields=["name"]) for row in updates
                ]
            )

    ours, base = interleaved(ours_per_row, core_per_row, rounds=3)
    report.ratio(
        "upsert per row (10k calls, RETURNING) vs Core", ours * 1e3, base * 1e3, 1.15, "ms"
    )

    def core_many() -> float:
        with engine.begin() as conn:
            return timed(lambda: conn.execute(core_upsert, updates))

    def ours_many() -> float:
        with Session(engine) as session, session.begin():
            repo = RowRepository(session)
            return timed(
                lambda: repo.upsert_many(updates, conflict_on=["key"], update_fields=["name"])
            )

    ours, base = interleaved(ours_many, core_many)
    report.ratio("upsert_many 10k rows vs Core executemany", ours * 1e3, base * 1e3, 1.30, "ms")


def bench_reads(engine: Engine, report: Report) -> None:
    with engine.connect() as conn:
        ids = list(conn.execute(select(Row.id).limit(2000)).scalars())

    def session_get() -> float:
        with Session(engine) as session:
            return timed(lambda: [session.get(Row, ident) for ident in ids])

    def repo_get() -> float:
        with Session(engine) as session:
            repo = RowRepository(session)
            return timed(lambda: [repo.get(ident) for ident in ids])

    ours, base = interleaved(repo_get, session_get)
    per_call = 1e6 / len(ids)
    report.ratio("get by primary key (per call)", ours * per_call, base * per_call, 1.15, "us")

    def session_list() -> float:
        with Session(engine) as session:
            query = select(Row).limit(100)
            return timed(lambda: [session.scalars(query).all() for _ in range(200)])

    def repo_list() -> float:
        with Session(engine) as session:
            repo = RowRepository(session)
            return timed(lambda: [repo.list(limit=100) for _ in range(200)])

    ours, base = interleaved(repo_list, session_list)
    report.ratio("list 100 rows (per call)", ours * 1e6 / 200, base * 1e6 / 200, 1.15, "us")


def main() -> None:
    report = Report("servicekit.database vs SQLAlchemy (psycopg 3, medians of alternating rounds)")
    started = time.perf_counter()
    server = resolve_postgres()
    factory = DatabaseFactory(server.url)
    factory.create_template(BenchBase.metadata)
    startup = time.perf_counter() - started

    def isolate(test_body_s: float) -> float:
        # What the autouse fixture does around every test; returns the time the test
        # waits (the next clone is made in the background while a test runs).
        start = time.perf_counter()
        name = factory.clone()
        database.bind(factory.url(name), poolclass=pool.NullPool)
        waited = time.perf_counter() - start
        time.sleep(test_body_s)
        database.dispose()
        factory.release(name)
        return waited

    back_to_back = statistics.median(isolate(0.0) for _ in range(15))
    with_body = statistics.median(isolate(0.1) for _ in range(15))
    name = factory.clone()
    engine = create_engine(factory.url(name))
    try:
        bench_writes(engine, report)
        bench_reads(engine, report)
    finally:
        engine.dispose()
        factory.close()
        server.close()
    report.absolute(
        "testgres start-up (servers found, template with schema)", startup * 1e3, 1500, "ms"
    )
    report.absolute(
        "per-test isolation, 100 ms tests (wait for a clone)", with_body * 1e3, 60, "ms"
    )
    report.absolute("per-test isolation, empty tests back to back", back_to_back * 1e3, 60, "ms")
    report.print()


if __name__ == "__main__":
    main()
