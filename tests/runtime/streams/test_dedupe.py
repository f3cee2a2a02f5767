"""The router's ``dedupe_ttl``: a redelivered event id is skipped, a failed run is not."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.asyncio

from servicekit.errors import StreamsConfigurationError
from servicekit.streams import BaseEvent, EventEmitter, EventRouter, constant

from .conftest import Names, pending_count, running, wait_for


class SkDdOrderPlaced(BaseEvent):
    order_id: str


@pytest.fixture
async def router(redis_client: redis.asyncio.Redis, names: Names) -> AsyncIterator[EventRouter]:
    router = EventRouter(
        redis_client, stream=names("events"), group=names("group"), block_ms=50, dedupe_ttl=60
    )
    yield router
    async for key in redis_client.scan_iter(match=f"{router.stream}:processed:*"):
        await redis_client.delete(key)


async def _no_pending(client: redis.asyncio.Redis, router: EventRouter) -> bool:
    return await pending_count(client, router.stream, router.group) == 0


async def test_the_same_event_delivered_twice_is_handled_once(
    redis_client: redis.asyncio.Redis, router: EventRouter
) -> None:
    handled: list[str] = []

    @router.on(SkDdOrderPlaced)
    async def handle(event: SkDdOrderPlaced) -> None:
        handled.append(event.order_id)

    event = SkDdOrderPlaced(order_id="o-1")
    emitter = EventEmitter(redis_client, stream=router.stream)
    await emitter.emit(event)
    await emitter.emit(event)  # e.g. an outbox relay re-sending its batch after a crash
    await emitter.emit(SkDdOrderPlaced(order_id="o-2"))
    async with running(router):
        await wait_for(lambda: handled == ["o-1", "o-2"])
        await wait_for(lambda: _no_pending(redis_client, router))
    assert handled == ["o-1", "o-2"]  # the duplicate was acknowledged without a second run


async def test_a_failed_run_is_retried_not_skipped(
    redis_client: redis.asyncio.Redis, router: EventRouter
) -> None:
    attempts: list[str] = []

    @router.on(SkDdOrderPlaced, retries=2, backoff=constant(0.01), timeout=1.0)
    async def flaky(event: SkDdOrderPlaced) -> None:
        attempts.append(event.order_id)
        if len(attempts) == 1:
            raise ConnectionError("downstream unavailable")

    event = SkDdOrderPlaced(order_id="o-1")
    await EventEmitter(redis_client, stream=router.stream).emit(event)
    async with running(router):
        await wait_for(lambda: len(attempts) == 2)
        await wait_for(lambda: _no_pending(redis_client, router))
        await EventEmitter(redis_client, stream=router.stream).emit(event)
        await wait_for(lambda: _no_pending(redis_client, router))
    assert attempts == ["o-1", "o-1"]  # the failure, its retry; the later copy skipped


async def test_each_handler_of_an_event_keeps_its_own_record(
    redis_client: redis.asyncio.Redis, router: EventRouter
) -> None:
    calls: list[str] = []

    @router.on(SkDdOrderPlaced)
    async def bills(event: SkDdOrderPlaced) -> None:
        calls.append("bills")

    @router.on(SkDdOrderPlaced, retries=1, backoff=constant(0.01), timeout=1.0)
    async def ships(event: SkDdOrderPlaced) -> None:
        calls.append("ships")
        if calls.count("ships") == 1:
            raise ConnectionError("carrier down")

    await EventEmitter(redis_client, stream=router.stream).emit(SkDdOrderPlaced(order_id="o"))
    async with running(router):
        await wait_for(lambda: _no_pending(redis_client, router))
    assert sorted(calls) == ["bills", "ships", "ships"]


def test_dedupe_ttl_must_be_positive(redis_client: redis.asyncio.Redis) -> None:
    with pytest.raises(StreamsConfigurationError, match="dedupe_ttl must be positive"):
        EventRouter(redis_client, dedupe_ttl=0)
