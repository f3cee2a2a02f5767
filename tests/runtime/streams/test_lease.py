"""Handlers longer than claim_min_idle_ms: a live consumer keeps its entry, a dead one
loses it after about claim_min_idle_ms, and an entry another consumer took is not taken
back."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from time import monotonic
from typing import Any

import pytest
import redis.asyncio

from servicekit.streams import BaseEvent, EventEmitter, EventRouter

from .conftest import RUNTIME_LIB, Names, pending_count, running, wait_for

# The handlers below take several times this long.
IDLE_MS = 600


class SkLeaseJob(BaseEvent):
    n: int


def make_router(client: redis.asyncio.Redis, stream: str, group: str, consumer: str) -> EventRouter:
    return EventRouter(
        client,
        stream=stream,
        group=group,
        consumer=consumer,
        handler_timeout=60.0,  # a hundred times claim_min_idle_ms, and accepted
        claim_min_idle_ms=IDLE_MS,
    )


async def holds(client: redis.asyncio.Redis, stream: str, group: str, consumer: str) -> bool:
    """Whether ``consumer`` has an entry of ``stream`` pending."""
    consumers = await client.xinfo_consumers(stream, group)
    return any(c["name"] == consumer.encode() and c["pending"] > 0 for c in consumers)


async def pending_entry(client: redis.asyncio.Redis, stream: str, group: str) -> dict[str, Any]:
    """The one pending entry of the group: its ``consumer`` and ``times_delivered``."""
    (row,) = await client.xpending_range(stream, group, min="-", max="+", count=10)
    return dict(row)


async def test_a_handler_longer_than_claim_min_idle_runs_once(
    redis_client: redis.asyncio.Redis, names: Names
) -> None:
    stream, group = names("events"), names("group")
    first = make_router(redis_client, stream, group, "first")
    second = make_router(redis_client, stream, group, "second")
    runs: list[str] = []

    for router, name in ((first, "first"), (second, "second")):

        @router.on(SkLeaseJob)
        async def slow(event: SkLeaseJob, name: str = name) -> None:
            runs.append(name)
            await asyncio.sleep(5 * IDLE_MS / 1000)

    await first.ensure_group()
    await EventEmitter(redis_client, stream=stream).emit(SkLeaseJob(n=1))
    async with running(first):
        await wait_for(lambda: runs == ["first"])
        # The second consumer looks for idle entries every claim_interval (300 ms) for the
        # rest of the 3 s handler.
        async with running(second):
            await asyncio.sleep(2 * IDLE_MS / 1000)
            # Still the first consumer's entry, delivered once: refreshing is not delivering.
            entry = await pending_entry(redis_client, stream, group)
            assert (entry["consumer"], entry["times_delivered"]) == (b"first", 1)

            async def done() -> bool:
                return await pending_count(redis_client, stream, group) == 0

            await wait_for(done)
            await asyncio.sleep(2 * IDLE_MS / 1000)  # time to claim, were anything left
    assert runs == ["first"]


async def test_an_entry_another_consumer_claimed_is_not_taken_back(
    redis_client: redis.asyncio.Redis, names: Names, caplog: pytest.LogCaptureFixture
) -> None:
    # As if "first" had stalled past claim_min_idle_ms and "thief" had claimed its entry:
    # the thief is handling it now, and first's lease must leave it to the thief.
    stream, group = names("events"), names("group")
    first = make_router(redis_client, stream, group, "first")
    release = asyncio.Event()

    @first.on(SkLeaseJob)
    async def slow(event: SkLeaseJob) -> None:
        await release.wait()

    await first.ensure_group()
    (message_id,) = await EventEmitter(redis_client, stream=stream).emit([SkLeaseJob(n=1)])
    with caplog.at_level("WARNING", logger="servicekit.streams.router"):
        async with running(first):
            await wait_for(lambda: holds(redis_client, stream, group, "first"))
            await redis_client.xclaim(stream, group, "thief", 0, [message_id], justid=True)
            await asyncio.sleep(IDLE_MS / 1000)  # three refreshes of first's lease
            entry = await pending_entry(redis_client, stream, group)
            release.set()
    assert entry["consumer"] == b"thief"
    warnings = [r.getMessage() for r in caplog.records if "claimed by another" in r.getMessage()]
    assert len(warnings) == 1  # once, not at every refresh
    assert message_id in warnings[0]


async def test_a_failed_refresh_is_logged_and_the_handler_goes_on(
    redis_client: redis.asyncio.Redis, names: Names, caplog: pytest.LogCaptureFixture
) -> None:
    stream, group = names("events"), names("group")
    router = make_router(redis_client, stream, group, "first")
    gates = {1: asyncio.Event(), 2: asyncio.Event()}
    finished: list[int] = []

    @router.on(SkLeaseJob)
    async def slow(event: SkLeaseJob) -> None:
        await gates[event.n].wait()
        finished.append(event.n)

    def refresh_failed() -> bool:
        return any("refreshing" in record.getMessage() for record in caplog.records)

    await router.ensure_group()
    emitter = EventEmitter(redis_client, stream=stream)
    await emitter.emit(SkLeaseJob(n=1))
    with caplog.at_level("WARNING", logger="servicekit.streams.router"):
        async with running(router):
            await wait_for(lambda: holds(redis_client, stream, group, "first"))
            await redis_client.xgroup_destroy(stream, group)  # every refresh fails now
            await wait_for(refresh_failed)
            gates[1].set()
            await wait_for(lambda: 1 in finished)
            # The reader creates the group again; the lease goes on refreshing.
            await emitter.emit(SkLeaseJob(n=2))
            await wait_for(lambda: holds(redis_client, stream, group, "first"))
            await asyncio.sleep(2 * IDLE_MS / 1000)
            (entry,) = await redis_client.xpending_range(stream, group, "-", "+", 10)
            gates[2].set()
            await wait_for(lambda: 2 in finished)
    assert entry["time_since_delivered"] < IDLE_MS
    assert entry["times_delivered"] == 1


# A consumer in a process of its own, SIGKILLed in the middle of a handler of the seed's
# size: handler_timeout=60 with claim_min_idle_ms in milliseconds.
VICTIM = textwrap.dedent(
    """
    import asyncio, sys
    from servicekit.redis_clients import connect
    from servicekit.streams import BaseEvent, EventRouter

    class SkLeaseJob(BaseEvent):
        n: int

    async def main(url: str, stream: str, group: str, idle_ms: str) -> None:
        router = EventRouter(
            await connect(url), stream=stream, group=group, consumer="victim",
            block_ms=50, handler_timeout=60.0, claim_min_idle_ms=int(idle_ms),
        )

        @router.on(SkLeaseJob)
        async def slow(event: SkLeaseJob) -> None:
            await asyncio.sleep(60)

        await router.start()

    asyncio.run(main(*sys.argv[1:]))
    """
)


@pytest.mark.slow
async def test_a_killed_consumer_hands_its_entry_over_after_claim_min_idle(
    target_url: str, redis_client: redis.asyncio.Redis, names: Names
) -> None:
    stream, group = names("events"), names("group")
    rescuer = make_router(redis_client, stream, group, "rescuer")
    handled_at: list[float] = []

    @rescuer.on(SkLeaseJob)
    async def record(event: SkLeaseJob) -> None:
        handled_at.append(monotonic())

    await rescuer.ensure_group()
    await EventEmitter(redis_client, stream=stream).emit(SkLeaseJob(n=1))
    env = {**os.environ, "PYTHONPATH": str(RUNTIME_LIB)}
    argv = [sys.executable, "-c", VICTIM, target_url, stream, group, str(IDLE_MS)]
    victim = subprocess.Popen(argv, env=env)
    try:
        await wait_for(lambda: holds(redis_client, stream, group, "victim"), timeout=20)
        async with running(rescuer):
            # Alive, the victim keeps its entry from the rescuer's claim passes.
            await asyncio.sleep(3 * IDLE_MS / 1000)
            assert handled_at == []
            assert victim.poll() is None
            victim.send_signal(signal.SIGKILL)
            victim.wait()
            killed_at = monotonic()
            await wait_for(lambda: handled_at != [], timeout=20)

            async def done() -> bool:
                return await pending_count(redis_client, stream, group) == 0

            await wait_for(done)
    finally:
        if victim.poll() is None:
            victim.kill()
            victim.wait()
    handover = handled_at[0] - killed_at
    # Expected: at most claim_min_idle_ms after the victim's last refresh, plus one claim
    # interval (300 ms); the bound only leaves room for a busy machine.
    print(f"handover {handover * 1000:.0f} ms after SIGKILL (claim_min_idle_ms={IDLE_MS})")
    assert handover < 10 * IDLE_MS / 1000
    assert len(handled_at) == 1
