"""Fixtures for the streams tests: a client for the shared Redis and unique stream names.

``redis_client`` is a client of ``target_url``: the shared single Redis, then the
session's Redis Cluster (``redis_kind`` and ``target_url`` are in ``tests/runtime/conftest.py``).
A module whose tests cannot run on a cluster cheaply (they hand a URL to a child process)
pins ``pytest.mark.parametrize("redis_kind", ["single"])``.

Every stream a test names through ``names`` is deleted at teardown; the shared server is
never flushed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from servicekit.redis_clients import RedisClient, connect
from servicekit.streams import EventRouter

# On the PYTHONPATH of consumers a test runs in a process of its own (to SIGKILL them).
RUNTIME_LIB = Path(__file__).resolve().parents[3] / "runtime_lib"


class Names:
    """Unique key names for one test, remembered for cleanup."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.used: list[str] = []

    def __call__(self, suffix: str) -> str:
        name = f"{self.prefix}:{suffix}"
        self.used.append(name)
        return name


@pytest.fixture
def names(key_prefix: str) -> Names:
    return Names(key_prefix)


@pytest.fixture
async def redis_client(target_url: str, names: Names) -> AsyncIterator[RedisClient]:
    client = await connect(target_url)
    try:
        yield client
    finally:
        for name in names.used:  # one by one: on a cluster they live in different slots
            await client.delete(name)
        await client.aclose()


async def wait_for(predicate: Callable[[], Awaitable[bool] | bool], timeout: float = 10.0) -> None:
    """Poll until ``predicate`` is true; fail the test after ``timeout`` seconds."""
    async with asyncio.timeout(timeout):
        while True:
            result = predicate()
            if not isinstance(result, bool):
                result = await result
            if result:
                return
            await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def running(router: EventRouter) -> AsyncIterator[asyncio.Task[Any]]:
    """Run ``router`` in a task for the block; stop it gracefully afterwards."""
    task = asyncio.create_task(router.start())
    await wait_for(lambda: router.running)
    try:
        yield task
    finally:
        await router.stop()
        await task


async def pending_count(client: RedisClient, stream: str, group: str) -> int:
    summary = await client.xpending(stream, group)
    return int(summary["pending"])


async def entries(
    client: RedisClient, stream: str, start: Any = "-", end: Any = "+"
) -> list[tuple[bytes, dict[bytes, bytes]]]:
    """XRANGE, typed for a client that does not decode responses."""
    reply: Any = await client.xrange(stream, min=start, max=end)
    return [(message_id, fields) for message_id, fields in reply]
