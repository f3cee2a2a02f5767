"""servicekit.database against plain SQLAlchemy, same database, same run.

Run: .venv/bin/python benchmarks/bench_database.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from sqlalchemy import String, create_engine, insert, pool, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Mapped, Session, mapped_column

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import Report, median_seconds

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


def _rows(tag: str) -> list[dict[str, object]]:
    return [{"key": f"{tag}-{n}", "name": f"row {n}", "value": n} for n in range(ROWS)]


def main() -> None:
    report = Report("servicekit.database vs SQLAlchemy (psycopg 3, median of 5)")
    started = time.perf_counter()
    server = resolve_postgres()
    factory = DatabaseFactory(server.url)
    factory.create_template(BenchBase.metadata)
    startup = time.perf_counter() - started

    def isolate() -> None:
        name = factory.clone()
        database.bind(factory.url(name), poolclass=pool.NullPool)
        database.dispose()
        factory.drop(name)

    isolation = median_seconds(isolate, repeat=15, warmup=2)

    name = factory.clone()
    url = factory.url(name)
    engine = create_engine(url)
    database.bind(url)
    table = Row.__table__
    rows = _rows("k")
    upsert = pg_insert(table)
    core_upsert = upsert.on_conflict_do_update(
        index_elements=["key"], set_={"name": upsert.excluded.name}
    )

    def core_insert() -> None:
        with engine.begin() as conn:
            conn.execute(insert(table), rows)
            conn.execute(text("TRUNCATE bench_rows"))

    def ours_bulk_add() -> None:
        objs = [Row(**row) for row in rows]
        with Session(engine) as session:
            start = time.perf_counter()
            RowRepository(session).bulk_add(objs)
            bulk_times.append(time.perf_counter() - start)
            session.execute(text("TRUNCATE bench_rows"))
            session.commit()

    bulk_times: list[float] = []
    core = median_seconds(core_insert)
    median_seconds(ours_bulk_add)
    bulk = sorted(bulk_times[1:])[len(bulk_times[1:]) // 2]
    report.ratio(
        "bulk_add 10k ORM objects vs Core insert executemany", bulk * 1e3, core * 1e3, 1.30, "ms"
    )

    with engine.begin() as conn:
        conn.execute(insert(table), rows)
    per_row = [{**row, "name": "updated"} for row in rows]
    returning = core_upsert.returning(*table.c)

    def core_upsert_rows() -> None:
        with engine.begin() as conn:
            for row in per_row:
                conn.execute(returning, row).one()

    def ours_upsert_rows() -> None:
        with Session(engine) as session, session.begin():
            repo = RowRepository(session)
            for row in per_row:
                repo.upsert(row, conflict_on=["key"], update_fields=["name"])

    report.ratio(
        "upsert per row (10k calls, RETURNING) vs Core",
        median_seconds(ours_upsert_rows, repeat=3) * 1e3,
        median_seconds(core_upsert_rows, repeat=3) * 1e3,
        1.15,
        "ms",
    )

    def core_upsert_many() -> None:
        with engine.begin() as conn:
            conn.execute(core_upsert, per_row)

    def ours_upsert_many() -> None:
        with Session(engine) as session, session.begin():
            RowRepository(session).upsert_many(per_row, conflict_on=["key"], update_fields=["name"])

    report.ratio(
        "upsert_many 10k rows vs Core executemany upsert",
        median_seconds(ours_upsert_many) * 1e3,
        median_seconds(core_upsert_many) * 1e3,
        1.30,
        "ms",
    )

    with engine.connect() as conn:
        ids = list(conn.execute(select(Row.id).limit(2000)).scalars())

    def session_get() -> None:
        with Session(engine) as session:
            for ident in ids:
                session.get(Row, ident)

    def repo_get() -> None:
        with Session(engine) as session:
            repo = RowRepository(session)
            for ident in ids:
                repo.get(ident)

    report.ratio(
        "get by primary key (per call)",
        median_seconds(repo_get) / len(ids) * 1e6,
        median_seconds(session_get) / len(ids) * 1e6,
        1.15,
        "us",
    )

    def session_list() -> None:
        with Session(engine) as session:
            for _ in range(200):
                session.scalars(select(Row).limit(100)).all()

    def repo_list() -> None:
        with Session(engine) as session:
            repo = RowRepository(session)
            for _ in range(200):
                repo.list(limit=100)

    report.ratio(
        "list 100 rows (per call)",
        median_seconds(repo_list) / 200 * 1e6,
        median_seconds(session_list) / 200 * 1e6,
        1.15,
        "us",
    )

    report.absolute(
        "testgres start-up (servers found, template with schema)", startup * 1e3, 1500, "ms"
    )
    report.absolute("per-test isolation (clone, bind, drop)", isolation * 1e3, 60, "ms")
    database.dispose()
    engine.dispose()
    factory.close()
    server.close()
    report.print()


if __name__ == "__main__":
    main()
