"""Transactional isolation: tests run inside an outer transaction, rolled back at their end.

An inner suite runs in a subprocess (``setup()`` installs fixtures in a conftest), in file
order, against the real Postgres: code under test that commits and rolls back, sync and
async sessions, FastAPI apps through ``TestClient`` whose lifespan binds its own engine
and runs a poller beside the requests (as the outbox relay does), concurrent requests,
the ``real_commits`` marker, and a last test checking that nothing leaked.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.runtime.testgres._inner_suite import run_inner_suite

CONFTEST = """
import asyncio
import os
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Annotated

import pytest
from fastapi import Depends, FastAPI, HTTPException
from fastapi.testclient import TestClient
from sqlalchemy import String, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, Session, mapped_column

from servicekit import database, testgres
from servicekit.database import declarative_base

Base = declarative_base()


class Item(Base):
    __tablename__ = "items"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50), unique=True)


testgres.setup(Base, async_mode=True, isolation="transaction")


def async_app() -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        database.async_bind(os.environ["DATABASE_URL"])  # as generated services do
        stop = asyncio.Event()

        async def poll() -> None:  # sessions of its own beside the requests (a relay)
            while not stop.is_set():
                async with database.async_db_session() as session:
                    await session.execute(select(func.count(Item.id)))
                await asyncio.sleep(0.002)

        poller = asyncio.create_task(poll())
        yield
        stop.set()
        await poller
        await database.async_dispose()

    app = FastAPI(lifespan=lifespan)

    @app.post("/items/{name}", status_code=201)
    async def create(
        name: str, session: Annotated[AsyncSession, Depends(database.fastapi_async_session)]
    ) -> int:
        assert session.get_bind().dialect.name == "postgresql"  # before any statement
        item = Item(name=name)
        session.add(item)
        try:
            await session.commit()
        except IntegrityError:
            await session.rollback()
            raise HTTPException(409) from None
        return item.id

    @app.get("/items")
    async def names(
        session: Annotated[AsyncSession, Depends(database.fastapi_async_session)],
    ) -> list[str]:
        return list(await session.scalars(select(Item.name).order_by(Item.name)))

    return app


def sync_app() -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        database.bind(os.environ["DATABASE_URL"])
        stop = threading.Event()

        def poll() -> None:
            while not stop.is_set():
                with database.db_session() as session:
                    session.execute(select(func.count(Item.id)))
                stop.wait(0.002)

        poller = threading.Thread(target=poll)
        poller.start()
        yield
        stop.set()
        poller.join()
        database.dispose()

    app = FastAPI(lifespan=lifespan)

    @app.post("/items/{name}", status_code=201)
    def create(name: str, session: Annotated[Session, Depends(database.fastapi_session)]) -> int:
        item = Item(name=name)
        session.add(item)
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
            raise HTTPException(409) from None
        return item.id

    @app.get("/items")
    def names(session: Annotated[Session, Depends(database.fastapi_session)]) -> list[str]:
        return list(session.scalars(select(Item.name).order_by(Item.name)))

    return app


@pytest.fixture
def async_client() -> Iterator[TestClient]:
    with TestClient(async_app()) as client:
        yield client


@pytest.fixture
def sync_client() -> Iterator[TestClient]:
    with TestClient(sync_app()) as client:
        yield client
"""

TESTS = """
import os
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError

from servicekit import database
from servicekit.errors import ConfigurationError
from conftest import Item


class ItemRead(BaseModel):
    id: int
    name: str


SHARED: dict[str, str] = {}


def names_seen_by_another_connection() -> list[str]:
    with psycopg.connect(os.environ["DATABASE_URL"].replace("+psycopg", "")) as other:
        return [row[0] for row in other.execute("SELECT name FROM items ORDER BY name")]


def stored_names() -> list[str]:
    with database.SessionLocal() as session:
        return list(session.scalars(select(Item.name).order_by(Item.name)))


def test_a_commit_in_the_code_under_test_is_seen_by_the_test_only(testgres_database, db_session):
    SHARED["url"] = testgres_database
    with database.db_session() as session:  # commits
        session.add(Item(name="committed"))
    assert [item.name for item in db_session.scalars(select(Item))] == ["committed"]
    assert names_seen_by_another_connection() == []


def test_the_next_test_starts_empty(testgres_database):
    assert testgres_database == SHARED["url"]  # the same database, rolled back
    assert stored_names() == []


def test_a_rollback_in_the_code_under_test_undoes_only_its_own_writes():
    with database.db_session() as session:
        session.add(Item(name="kept"))
    with pytest.raises(RuntimeError), database.db_session() as session:
        session.add(Item(name="undone"))
        session.flush()
        raise RuntimeError("the code under test fails")
    session = database.SessionLocal()
    session.add(Item(name="kept"))
    with pytest.raises(Exception, match="duplicate key"):
        session.commit()
    session.rollback()  # the outer transaction survives a failed statement
    session.close()
    assert stored_names() == ["kept"]


async def test_async_sessions_commit_and_roll_back(async_db_session):
    async with database.async_db_session() as session:
        session.add(Item(name="async"))
    with pytest.raises(RuntimeError):
        async with database.async_db_session() as session:
            session.add(Item(name="undone"))
            await session.flush()
            raise RuntimeError("fails")
    assert list(await async_db_session.scalars(select(Item.name))) == ["async"]
    assert names_seen_by_another_connection() == []


async def test_async_writes_are_gone_in_the_next_test(async_db_session):
    assert await async_db_session.scalar(select(func.count(Item.id))) == 0


async def test_row_writers_and_readers_join_the_test_transaction(async_db_session):
    writer, reader = database.AsyncRowWriter(), database.AsyncRowReader()
    stored = await writer.create_as(ItemRead, Item, {"name": "written"})
    with pytest.raises(IntegrityError):  # rolled back to its savepoint, nothing more
        await writer.create_as(ItemRead, Item, {"name": "written"})
    assert await reader.get_as(ItemRead, Item, stored.id) == stored
    assert list(await async_db_session.scalars(select(Item.name))) == ["written"]
    # The sync writer joins the sync sessions' transaction of the test.
    assert database.RowWriter().create_as(ItemRead, Item, {"name": "sync"}).name == "sync"
    assert stored_names() == ["sync"]
    assert names_seen_by_another_connection() == []


def test_an_async_app_joins_the_test_transaction(async_client):
    assert async_client.post("/items/a").status_code == 201
    assert async_client.post("/items/a").status_code == 409  # rolled back to its savepoint
    assert async_client.post("/items/b").status_code == 201
    assert async_client.get("/items").json() == ["a", "b"]

    async def seen_on_the_apps_loop():
        async with database.AsyncSessionLocal() as session:
            return list(await session.scalars(select(Item.name).order_by(Item.name)))

    assert async_client.portal.call(seen_on_the_apps_loop) == ["a", "b"]
    assert names_seen_by_another_connection() == []


@pytest.mark.parametrize("app", ["async_client", "sync_client"])
def test_concurrent_requests_take_turns_on_the_connection(app, request):
    client = request.getfixturevalue(app)
    names = [f"n{i:02}" for i in range(20)] * 2  # each twice: 20 created, 20 conflicts
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda name: client.post(f"/items/{name}").status_code, names))
    assert sorted(statuses) == [201] * 20 + [409] * 20
    assert client.get("/items").json() == sorted(set(names))


def test_a_sync_app_joins_it_while_the_test_holds_a_session(sync_client, db_session):
    assert db_session.scalars(select(Item)).all() == []  # db_session's savepoint stays open
    assert sync_client.post("/items/c").status_code == 201
    assert sync_client.post("/items/c").status_code == 409
    assert [item.name for item in db_session.scalars(select(Item))] == ["c"]
    assert names_seen_by_another_connection() == []


async def test_async_sessions_of_one_test_share_one_event_loop(async_client, async_db_session):
    # The app's poller opened the async outer transaction on the app's loop.
    async_db_session.add(Item(name="on the test's loop"))
    with pytest.raises(ConfigurationError, match="client.portal.call"):
        await async_db_session.flush()


@pytest.mark.real_commits
def test_real_commits_get_a_database_whose_commits_others_see(testgres_database, sync_client):
    assert testgres_database != SHARED["url"]
    assert sync_client.post("/items/real").status_code == 201
    assert names_seen_by_another_connection() == ["real"]


def test_sessions_reach_the_server_as_db_pooler_says(db_session):
    # Behind PgBouncer the URL's port is PgBouncer's, not the server's.
    url_port = make_url(os.environ["DATABASE_URL"]).port
    server_port = db_session.execute(text("SELECT inet_server_port()")).scalar_one()
    assert (url_port != server_port) == (os.environ["DB_POOLER"] == "pgbouncer")


def test_nothing_leaked_into_the_shared_database(testgres_database):
    assert testgres_database == SHARED["url"]
    assert names_seen_by_another_connection() == []
    assert stored_names() == []
"""


@pytest.mark.slow
@pytest.mark.parametrize("pooler", ["none", "pgbouncer"])
def test_transactional_isolation_end_to_end(tmp_path: Path, pooler: str) -> None:
    """Also behind PgBouncer in transaction pooling mode (``DB_POOLER=pgbouncer``): a
    test's outer transaction holds one server connection from its BEGIN to its ROLLBACK,
    so its savepoints, and the app's sessions joining them, all land on that backend."""
    # --strict-markers: the real_commits marker must be registered by setup() itself.
    ini = (
        "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
        "addopts = --strict-markers\n"
    )
    tests = {"test_transactional.py": TESTS}
    result = run_inner_suite(tmp_path, CONFTEST, tests, ini, timeout=300, DB_POOLER=pooler)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "14 passed" in result.stdout, result.stdout
