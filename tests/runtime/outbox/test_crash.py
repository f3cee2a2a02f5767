"""A relay SIGKILLed mid-run loses nothing; de-duplicating consumers see each event once."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from servicekit.kv import already_processed
from servicekit.outbox import OutboxRelay, stage_event
from servicekit.streams import EventRouter

from ..streams.conftest import Names, running, wait_for
from .conftest import count_rows
from .models import OutboxMessage, SkObWidgetCreated

ROWS = 3000
BATCH = 20
REPO = Path(__file__).resolve().parents[3]
VICTIM = Path(__file__).with_name("_victim.py")


@pytest.mark.slow
async def test_a_killed_relay_loses_nothing(
    db_url: str,
    target_url: str,
    async_sessions: async_sessionmaker[AsyncSession],
    redis_client: redis.asyncio.Redis,
    names: Names,
) -> None:
    stream, namespace = names("events"), names("processed")
    events = [SkObWidgetCreated(n=i) for i in range(ROWS)]
    async with async_sessions() as session, session.begin():
        for event in events:
            stage_event(session, OutboxMessage, event, stream=stream)

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "runtime_lib")])}
    victim = subprocess.Popen(
        [sys.executable, str(VICTIM), db_url, target_url, str(BATCH)], env=env, cwd=REPO
    )
    try:

        async def a_third_sent() -> bool:
            return int(await redis_client.xlen(stream)) >= ROWS // 3

        await wait_for(a_third_sent, timeout=30)
    finally:
        victim.send_signal(signal.SIGKILL)
        victim.wait()
    assert victim.returncode == -signal.SIGKILL
    assert 0 < await count_rows(async_sessions, OutboxMessage) < ROWS  # killed mid-run

    # A new relay finishes; the rows the victim still had locked come back once Postgres
    # has noticed its connection is gone.
    relay = OutboxRelay(async_sessions, OutboxMessage, redis_client, batch_size=BATCH)
    async with asyncio.timeout(30):
        while await count_rows(async_sessions, OutboxMessage):
            if not await relay.run_once():
                await asyncio.sleep(0.05)

    stored: Any = await redis_client.xrange(stream)
    delivered = Counter(SkObWidgetCreated.model_validate_json(f[b"data"]).id for _, f in stored)
    assert set(delivered) == {event.id for event in events}  # at least once: none lost
    duplicates = len(stored) - ROWS
    print(f"{duplicates} event(s) sent twice")  # a batch the victim sent but did not commit

    # A consumer de-duplicating by event id handles each event exactly once.
    router = EventRouter(redis_client, stream=stream, group=names("group"), batch_size=100)
    handled: Counter[int] = Counter()
    deliveries = 0

    @router.on(SkObWidgetCreated)
    async def handle(event: SkObWidgetCreated) -> None:
        nonlocal deliveries
        deliveries += 1
        if not await already_processed(
            redis_client, event_id=str(event.id), ttl=60, namespace=namespace
        ):
            handled[event.n] += 1

    try:
        async with running(router):
            await wait_for(lambda: deliveries == len(stored), timeout=30)
        assert handled == Counter(range(ROWS))
    finally:
        keys = [key async for key in redis_client.scan_iter(match=f"{namespace}:*", count=1000)]
        for key in keys:  # one by one: on a cluster they live in different slots
            await redis_client.delete(key)
