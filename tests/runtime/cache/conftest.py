"""Real Redis servers for the cache, store and KV tests.

The shared Redis is used with a unique key prefix per test (``raw_redis`` cleans up with
SCAN, never KEYS/FLUSHDB); a test taking ``raw_redis`` or ``target_url`` runs on the single
node and on the session's cluster (see ``tests/runtime/conftest.py``). Outage tests get
their own throwaway ``redis-server`` they may kill (``throwaway_redis``), or a port where
nothing listens, or a TCP listener that never answers.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import AsyncIterator, Iterator

import pytest

from servicekit import cache
from servicekit.redis_clients import RedisClient
from tests.runtime.conftest import url_of


@pytest.fixture
def silent_server_url(redis_kind: str) -> Iterator[str]:
    """A URL (single node or cluster seed) whose listener accepts connections and never
    answers."""
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
    yield url_of(redis_kind, listener.getsockname()[1])
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    listener.close()


@pytest.fixture
async def redis_cache(
    target_url: str, key_prefix: str, raw_redis: RedisClient
) -> AsyncIterator[None]:
    """The module-level cache initialised on ``target_url`` under the test's prefix."""
    await cache.redis_init(target_url, prefix=key_prefix)
    yield
    await cache.redis_close()
