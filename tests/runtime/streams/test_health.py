"""group_health: a consumer group's backlog as Redis reports it."""

from __future__ import annotations

import asyncio

import redis.asyncio

from servicekit.streams import BaseEvent, EventRouter, group_health

from .conftest import Names, running, wait_for


class HealthProbed(BaseEvent):
    n: int


async def test_a_group_never_read_owes_nothing(
    redis_client: redis.asyncio.Redis, names: Names
) -> None:
    router = EventRouter(redis_client, stream=names("s"), group="g", dlq_stream=names("dead"))
    health = await group_health(redis_client, router)
    assert (health.pending, health.oldest_pending_seconds, health.dead_letters) == (0, None, 0)


async def test_pending_oldest_age_and_dead_letters(
    redis_client: redis.asyncio.Redis, names: Names
) -> None:
    stream, dead = names("s"), names("dead")
    release = asyncio.Event()
    router = EventRouter(redis_client, stream=stream, group="g", dlq_stream=dead, handler_timeout=5)

    @router.on(HealthProbed)
    async def slow(event: HealthProbed) -> None:
        await release.wait()

    await redis_client.xadd(stream, {"garbage": "not an event"})  # dead-lettered at once
    async with running(router):
        await redis_client.xadd(stream, {"event_type": "health.probed", "data": '{"n": 1}'})
        await wait_for(lambda: _dead_letters(redis_client, dead, 1))
        await asyncio.sleep(0.3)
        held = await group_health(redis_client, router)
        release.set()
        await wait_for(lambda: _pending(redis_client, router, 0))
    assert held.pending == 1
    assert held.oldest_pending_seconds is not None and held.oldest_pending_seconds >= 0.3
    assert held.dead_letters == 1
    done = await group_health(redis_client, router)
    assert (done.pending, done.oldest_pending_seconds) == (0, None)


async def test_no_dead_letter_stream_no_count(
    redis_client: redis.asyncio.Redis, names: Names
) -> None:
    router = EventRouter(redis_client, stream=names("s"), group="g")
    assert (await group_health(redis_client, router)).dead_letters is None


async def _dead_letters(client: redis.asyncio.Redis, stream: str, count: int) -> bool:
    return int(await client.xlen(stream)) == count


async def _pending(client: redis.asyncio.Redis, router: EventRouter, count: int) -> bool:
    return (await group_health(client, router)).pending == count
