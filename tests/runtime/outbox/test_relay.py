"""OutboxRelay against real Postgres and Redis: order, bytes, deletion, both session kinds."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio
from sqlalchemy import create_engine, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session, sessionmaker

from servicekit.outbox import OutboxMixin, OutboxRelay, stage_event
from servicekit.streams import EventEmitter, EventRouter, correlation_scope
from servicekit.streams.errors import StreamsConfigurationError

from ..streams.conftest import Names, entries, running, wait_for
from .conftest import count_rows
from .models import OutboxMessage, OutboxTestBase, SalesOutboxMessage, SkObWidgetCreated


async def stage(
    sessions: async_sessionmaker[AsyncSession],
    events: Sequence[SkObWidgetCreated],
    stream: str,
    model: type[OutboxMixin] = OutboxMessage,
) -> None:
    async with sessions() as session, session.begin():
        for event in events:
            stage_event(session, model, event, stream=stream)


@pytest.fixture(params=["async", "sync"])
def relay_sessions(
    request: pytest.FixtureRequest,
    async_sessions: async_sessionmaker[AsyncSession],
    sync_sessions: sessionmaker[Session],
) -> async_sessionmaker[AsyncSession] | sessionmaker[Session]:
    """The relay's session factory: an async_sessionmaker or a sessionmaker."""
    return async_sessions if request.param == "async" else sync_sessions


async def test_relay_sends_what_the_emitter_would_in_id_order(
    relay_sessions: async_sessionmaker[AsyncSession] | sessionmaker[Session],
    async_sessions: async_sessionmaker[AsyncSession],
    redis_client: redis.asyncio.Redis,
    names: Names,
) -> None:
    relayed, emitted = names("relayed"), names("emitted")
    events = [SkObWidgetCreated(n=i, name=f"w-{i}") for i in range(120)]
    with correlation_scope("request-7"):
        await stage(async_sessions, events, relayed)
        await EventEmitter(redis_client, stream=emitted).emit(events)

    relay = OutboxRelay(relay_sessions, OutboxMessage, redis_client, batch_size=50)
    assert [await relay.run_once() for _ in range(4)] == [50, 50, 20, 0]
    assert await count_rows(async_sessions, OutboxMessage) == 0

    # Byte for byte the entries EventEmitter.emit appended, in the same order.
    sent = [fields for _, fields in await entries(redis_client, relayed)]
    assert sent == [fields for _, fields in await entries(redis_client, emitted)]

    # A consumer decodes them into the typed events, correlation id included.
    router = EventRouter(redis_client, stream=relayed, group=names("group"), block_ms=50)
    received: list[SkObWidgetCreated] = []

    @router.on(SkObWidgetCreated)
    async def collect(event: SkObWidgetCreated) -> None:
        received.append(event)

    async with running(router):
        await wait_for(lambda: len(received) == len(events))
    assert received == [e.model_copy(update={"correlation_id": "request-7"}) for e in events]


async def test_each_row_goes_to_its_stream_and_maxlen_trims(
    async_sessions: async_sessionmaker[AsyncSession],
    redis_client: redis.asyncio.Redis,
    names: Names,
) -> None:
    first, second = names("first"), names("second")
    async with async_sessions() as session, session.begin():
        for i in range(30):
            stage_event(session, OutboxMessage, SkObWidgetCreated(n=i), stream=first)
            stage_event(session, OutboxMessage, SkObWidgetCreated(n=i), stream=second)
    relay = OutboxRelay(
        async_sessions, OutboxMessage, redis_client, batch_size=100, maxlen=10, approximate=False
    )
    assert await relay.run_once() == 60
    for stream in (first, second):
        assert await redis_client.xlen(stream) == 10
        stored: Any = await redis_client.xrange(stream)
        assert [SkObWidgetCreated.model_validate_json(f[b"data"]).n for _, f in stored] == list(
            range(20, 30)
        )


async def test_a_schema_qualified_outbox(
    relay_sessions: async_sessionmaker[AsyncSession] | sessionmaker[Session],
    async_sessions: async_sessionmaker[AsyncSession],
    redis_client: redis.asyncio.Redis,
    names: Names,
) -> None:
    stream = names("sales")
    assert SalesOutboxMessage.__table__.schema == "sales"
    await stage(
        async_sessions, [SkObWidgetCreated(n=i) for i in range(5)], stream, SalesOutboxMessage
    )
    async with async_sessions() as session:
        assert await session.scalar(text("SELECT count(*) FROM sales.outbox")) == 5
        assert await session.scalar(text("SELECT count(*) FROM public.outbox")) == 0
    relay = OutboxRelay(relay_sessions, SalesOutboxMessage, redis_client)
    assert await relay.run_once() == 5
    assert await redis_client.xlen(stream) == 5
    assert await count_rows(async_sessions, SalesOutboxMessage) == 0


async def test_two_relays_never_send_a_row_twice(
    async_sessions: async_sessionmaker[AsyncSession],
    sync_sessions: sessionmaker[Session],
    redis_client: redis.asyncio.Redis,
    names: Names,
) -> None:
    stream = names("events")
    total = 3000
    await stage(async_sessions, [SkObWidgetCreated(n=i) for i in range(total)], stream)
    # One relay on each kind of session, polling fast, batches small enough to interleave.
    relays = [
        OutboxRelay(sessions, OutboxMessage, redis_client, batch_size=50, poll_interval=0.01)
        for sessions in (async_sessions, sync_sessions)
    ]
    async with relays[0], relays[1]:
        assert all(relay.running for relay in relays)

        async def all_sent() -> bool:
            return await count_rows(async_sessions, OutboxMessage) == 0

        await wait_for(all_sent, timeout=60)
    assert not any(relay.running for relay in relays)

    stored: Any = await redis_client.xrange(stream)
    numbers = [SkObWidgetCreated.model_validate_json(f[b"data"]).n for _, f in stored]
    assert len(numbers) == total
    assert sorted(numbers) == list(range(total))
    # Each batch went out whole and in id order, whichever relay sent it.
    runs = [numbers[i : i + 50] for i in range(0, total, 50)]
    assert all(run == sorted(run) for run in runs)


async def test_a_full_batch_is_followed_at_once_and_stop_finishes_it(
    async_sessions: async_sessionmaker[AsyncSession],
    redis_client: redis.asyncio.Redis,
    names: Names,
) -> None:
    stream = names("events")
    await stage(async_sessions, [SkObWidgetCreated(n=i) for i in range(1000)], stream)
    # An hour between polls: only the "full batch, go on" rule can drain the table.
    relay = OutboxRelay(
        async_sessions, OutboxMessage, redis_client, batch_size=100, poll_interval=3600
    )
    async with relay:

        async def all_sent() -> bool:
            return await count_rows(async_sessions, OutboxMessage) == 0

        await wait_for(all_sent)
        await asyncio.sleep(0.2)  # the relay found the table empty and went idle
        await stage(async_sessions, [SkObWidgetCreated(n=1000)], stream)
        # Now idle for an hour; stop() wakes it up and returns.
        await asyncio.wait_for(relay.stop(), timeout=5)
    assert await count_rows(async_sessions, OutboxMessage) == 1
    assert await redis_client.xlen(stream) == 1000


async def test_configuration_errors(async_sessions: async_sessionmaker[AsyncSession]) -> None:
    with pytest.raises(StreamsConfigurationError):
        OutboxRelay(async_sessions, OutboxMessage, batch_size=0)
    relay = OutboxRelay(async_sessions, OutboxMessage)
    with pytest.raises(StreamsConfigurationError, match="no Redis client"):
        await relay.run_once()
    with pytest.raises(StreamsConfigurationError, match="no Redis client"):
        relay.start()


async def test_sqlite_works_too(
    tmp_path: Path, redis_client: redis.asyncio.Redis, names: Names
) -> None:
    # No row locks there (FOR UPDATE is not SQLite's): fine for one relay, as in tests.
    stream = names("events")
    engine = create_engine(f"sqlite:///{tmp_path / 'outbox.db'}")
    OutboxTestBase.metadata.create_all(engine)
    sessions = sessionmaker(engine)
    try:
        with sessions() as session, session.begin():
            for i in range(30):
                stage_event(session, OutboxMessage, SkObWidgetCreated(n=i), stream=stream)
        relay = OutboxRelay(sessions, OutboxMessage, redis_client, batch_size=20)
        assert [await relay.run_once() for _ in range(3)] == [20, 10, 0]
        stored: Any = await redis_client.xrange(stream)
        assert [SkObWidgetCreated.model_validate_json(f[b"data"]).n for _, f in stored] == list(
            range(30)
        )
        with sessions() as session:
            assert session.scalars(select(OutboxMessage)).all() == []
    finally:
        engine.dispose()
