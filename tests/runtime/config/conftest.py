"""Config stores on the shared Redis and on the session's cluster (``target_url``), each
test under its own key prefix.

The store adds the ``notify-keyspace-events`` flags it needs to the shared server (to every
primary of the cluster), keeping the ones already set, as it does everywhere. Tests that
restart Redis or change its settings otherwise use a throwaway ``redis-server`` of their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from servicekit.config import RedisConfigStore
from servicekit.redis_clients import RedisClient


@pytest.fixture
async def open_store(
    target_url: str, key_prefix: str, raw_redis: RedisClient
) -> AsyncIterator[Callable[[], Awaitable[RedisConfigStore]]]:
    """Opens started stores on ``target_url`` under the test's prefix; closes them after."""
    async with contextlib.AsyncExitStack() as stack:

        async def open_one() -> RedisConfigStore:
            started = RedisConfigStore.from_url(target_url, prefix=key_prefix)
            return await stack.enter_async_context(started)

        yield open_one


@pytest.fixture
async def store(open_store: Callable[[], Awaitable[RedisConfigStore]]) -> RedisConfigStore:
    """A started store under the test's prefix."""
    return await open_store()


@pytest.fixture
async def other_store(open_store: Callable[[], Awaitable[RedisConfigStore]]) -> RedisConfigStore:
    """A second store on the same documents, as another process of the service has."""
    return await open_store()


async def eventually(check: Callable[[], object], timeout: float = 5.0) -> None:
    """Wait until ``check()`` (awaited if it returns an awaitable) is truthy; fail after
    ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        assert time.monotonic() < deadline, "timed out waiting for the store to catch up"
        await asyncio.sleep(0.005)
