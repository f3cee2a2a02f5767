"""Recovery: a consumer is SIGKILLed while it holds pending entries; nothing is lost."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest
import redis.asyncio

from servicekit.streams import BaseEvent, EventEmitter, EventRouter

from .conftest import RUNTIME_LIB, Names, pending_count, running, wait_for

N = 40

# The doomed consumer: reads everything in one batch and handles it slowly, so when it is
# killed it holds every entry it read in the group's pending list.
VICTIM = textwrap.dedent(
    """
    import asyncio, sys
    from servicekit.redis_clients import connect
    from servicekit.streams import BaseEvent, EventRouter

    class SkCrashJob(BaseEvent):
        n: int

    async def main(url: str, stream: str, group: str) -> None:
        router = EventRouter(
            await connect(url), stream=stream, group=group, consumer="victim",
            batch_size=1000, handler_timeout=1.0, claim_min_idle_ms=10_000,
        )

        @router.on(SkCrashJob)
        async def slow(event: SkCrashJob) -> None:
            await asyncio.sleep(0.9)

        await router.start()

    asyncio.run(main(*sys.argv[1:]))
    """
)


class SkCrashJob(BaseEvent):
    n: int


@pytest.mark.slow
async def test_killed_consumer_loses_nothing(
    target_url: str, redis_client: redis.asyncio.Redis, names: Names
) -> None:
    stream, group = names("events"), names("group")
    emitter = EventEmitter(redis_client, stream=stream)
    rescuer = EventRouter(
        redis_client,
        stream=stream,
        group=group,
        consumer="rescuer",
        block_ms=50,
        handler_timeout=0.2,
        claim_min_idle_ms=300,
    )
    handled: dict[int, int] = {}

    @rescuer.on(SkCrashJob)
    async def record(event: SkCrashJob) -> None:
        handled[event.n] = handled.get(event.n, 0) + 1

    await rescuer.ensure_group()
    await emitter.emit([SkCrashJob(n=i) for i in range(N)])

    env = {**os.environ, "PYTHONPATH": str(RUNTIME_LIB)}
    victim = subprocess.Popen([sys.executable, "-c", VICTIM, target_url, stream, group], env=env)
    try:
        # Wait until the victim has read every entry (they are pending under its name).
        async def victim_holds_all() -> bool:
            consumers = await redis_client.xinfo_consumers(stream, group)
            return any(c["name"] == b"victim" and c["pending"] == N for c in consumers)

        await wait_for(victim_holds_all, timeout=20)
    finally:
        victim.send_signal(signal.SIGKILL)
        victim.wait()
    assert victim.returncode == -signal.SIGKILL

    # The rescuer claims the dead consumer's entries once they are idle long enough, and
    # meanwhile keeps reading new entries.
    async with running(rescuer):
        await emitter.emit([SkCrashJob(n=i) for i in range(N, 2 * N)])
        await wait_for(lambda: len(handled) == 2 * N, timeout=20)

        async def nothing_pending() -> bool:
            return await pending_count(redis_client, stream, group) == 0

        await wait_for(nothing_pending)
    assert sorted(handled) == list(range(2 * N))
    consumers = {c["name"]: c["pending"] for c in await redis_client.xinfo_consumers(stream, group)}
    assert consumers[b"victim"] == 0
