"""Redis or Postgres unreachable: rows stay, nothing escapes the loop, the relay resumes."""

from __future__ import annotations

import asyncio
import logging

import pytest
import redis.asyncio
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from servicekit.outbox import OutboxRelay, stage_event
from servicekit.streams import constant
from servicekit.testgres._processes import free_port

from ..streams.conftest import Names, wait_for
from .conftest import count_rows
from .models import OutboxMessage, SkObWidgetCreated

RELAY_LOGGER = "servicekit.outbox.relay"


async def test_redis_down_keeps_the_rows_and_the_relay_resumes(
    async_sessions: async_sessionmaker[AsyncSession],
    redis_client: redis.asyncio.Redis,
    names: Names,
    caplog: pytest.LogCaptureFixture,
) -> None:
    stream = names("events")
    async with async_sessions() as session, session.begin():
        for i in range(10):
            stage_event(session, OutboxMessage, SkObWidgetCreated(n=i), stream=stream)
    # Nothing listens on this port; no retries inside redis-py, so attempts are quick.
    dead = redis.asyncio.Redis(port=free_port(), retry=Retry(NoBackoff(), 0))
    relay = OutboxRelay(
        async_sessions, OutboxMessage, dead, poll_interval=0.01, backoff=constant(0.02)
    )
    try:
        with pytest.raises(RedisConnectionError):
            await relay.run_once()
        assert await count_rows(async_sessions, OutboxMessage) == 10

        with caplog.at_level(logging.DEBUG, logger=RELAY_LOGGER):
            async with relay:
                await wait_for(lambda: bool(caplog.records))
                await asyncio.sleep(0.3)  # many more failed attempts
                assert relay.running
                assert await count_rows(async_sessions, OutboxMessage) == 10
                warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
                assert len(warnings) == 1  # once per outage, not once per attempt

                relay.configure(redis_client)  # Redis is back

                async def all_sent() -> bool:
                    return await count_rows(async_sessions, OutboxMessage) == 0

                await wait_for(all_sent)
        assert "recovered" in caplog.text
        assert await redis_client.xlen(stream) == 10
    finally:
        await dead.aclose()


async def test_database_down_is_retried_without_crashing(
    redis_client: redis.asyncio.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    engine = create_async_engine(f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/none")
    relay = OutboxRelay(
        async_sessionmaker(engine), OutboxMessage, redis_client, backoff=constant(0.02)
    )
    try:
        with pytest.raises((SQLAlchemyError, OSError)):
            await relay.run_once()
        with caplog.at_level(logging.WARNING, logger=RELAY_LOGGER):
            async with relay:
                await asyncio.sleep(0.2)
                assert relay.running
        assert len(caplog.records) == 1
        assert not relay.running
    finally:
        await engine.dispose()
