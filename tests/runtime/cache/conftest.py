"""Real Redis servers for the cache, store and KV tests.

The shared Redis is used with a unique key prefix per test (``raw_redis`` cleans up with
SCAN, never KEYS/FLUSHDB). Outage tests get their own throwaway ``redis-server`` they may
kill (``throwaway_redis``, both in ``tests/runtime/conftest.py``), or a port where nothing
listens, or a TCP listener that never answers.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import AsyncIterator, Iterator

import pytest
import redis
import redis.asyncio

from servicekit import cache
from tests.runtime.conftest import free_port


@pytest.fixture
def closed_port_url() -> str:
    """A Redis URL where nothing listens (connections are refused)."""
    return f"redis://127.0.0.1:{free_port()}/0"


@pytest.fixture
def silent_server_url() -> Iterator[str]:
    """A Redis URL whose listener accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.05)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError, OSError):
                accepted.append(listener.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"redis://127.0.0.1:{listener.getsockname()[1]}/0"
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    listener.close()


@pytest.fixture
async def redis_cache(
    redis_url: str, key_prefix: str, raw_redis: redis.asyncio.Redis
) -> AsyncIterator[None]:
    """The module-level cache initialised on the shared Redis under the test's prefix."""
    await cache.redis_init(redis_url, prefix=key_prefix)
    yield
    await cache.redis_close()
