"""Liveness after idle: a pooled connection is pinged only when it sat idle.

Each test kills the backend of the one pooled connection while it sits in the pool,
then checks what the next session sees: a working connection when the pool pinged it,
a typed outage (and a recovered pool right after) when it was handed out unchecked.
"""

from __future__ import annotations

import asyncio
import time

import psycopg
import pytest
from sqlalchemy import text

from servicekit import database
from servicekit.database import DatabaseUnavailableError


def terminate(pg_url: str, pid: int) -> None:
    with psycopg.connect(pg_url.replace("+psycopg", ""), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))


def backend_pid() -> int:
    with database.db_session() as session:
        return int(session.execute(text("SELECT pg_backend_pid()")).scalar_one())


def select_one() -> int:
    with database.db_session() as session:
        return int(session.execute(text("SELECT 1")).scalar_one())


async def async_backend_pid() -> int:
    async with database.async_db_session() as session:
        return int((await session.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def async_select_one() -> int:
    async with database.async_db_session() as session:
        return int((await session.execute(text("SELECT 1"))).scalar_one())


def test_a_connection_killed_while_idle_is_replaced_before_use(pg_url: str) -> None:
    database.bind(pg_url, pool_size=1, max_overflow=0, pool_ping_idle_ms=50)
    killed = backend_pid()
    terminate(pg_url, killed)
    time.sleep(0.1)  # longer than the idle window: the checkout pings
    assert select_one() == 1
    assert backend_pid() != killed
    database.dispose()


async def test_a_connection_killed_while_idle_is_replaced_before_use_async(pg_url: str) -> None:
    database.async_bind(pg_url, pool_size=1, max_overflow=0, pool_ping_idle_ms=50)
    killed = await async_backend_pid()
    terminate(pg_url, killed)
    await asyncio.sleep(0.1)
    assert await async_select_one() == 1
    assert await async_backend_pid() != killed
    await database.async_dispose()


def test_a_connection_used_a_moment_ago_is_handed_out_unchecked(pg_url: str) -> None:
    # The bet the window makes: within it, a dead connection costs one failed request
    # (a typed outage, a 503 in a service), and the pool is whole again at once.
    database.bind(pg_url, pool_size=1, max_overflow=0, pool_ping_idle_ms=60_000)
    terminate(pg_url, backend_pid())
    with pytest.raises(DatabaseUnavailableError):
        select_one()
    assert select_one() == 1
    database.dispose()


async def test_a_connection_used_a_moment_ago_is_handed_out_unchecked_async(pg_url: str) -> None:
    database.async_bind(pg_url, pool_size=1, max_overflow=0, pool_ping_idle_ms=60_000)
    terminate(pg_url, await async_backend_pid())
    with pytest.raises(DatabaseUnavailableError):
        await async_select_one()
    assert await async_select_one() == 1
    await database.async_dispose()


@pytest.mark.parametrize("bind", [database.bind, database.async_bind], ids=["psycopg", "asyncpg"])
async def test_a_zero_window_checks_every_checkout(
    pg_url: str, bind: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DB_POOL_PING_IDLE_MS", "0")
    if bind is database.bind:
        database.bind(pg_url, pool_size=1, max_overflow=0)
        terminate(pg_url, backend_pid())
        assert select_one() == 1
        database.dispose()
    else:
        database.async_bind(pg_url, pool_size=1, max_overflow=0)
        terminate(pg_url, await async_backend_pid())
        assert await async_select_one() == 1
        await database.async_dispose()


def test_no_check_at_all_when_pre_ping_is_off(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DB_POOL_PRE_PING", "false")
    database.bind(pg_url, pool_size=1, max_overflow=0, pool_ping_idle_ms=50)
    terminate(pg_url, backend_pid())
    time.sleep(0.1)
    with pytest.raises(DatabaseUnavailableError):
        select_one()
    database.dispose()
