"""Redis servers shared by the runtime's test folders (cache, store, KV, config, streams).

``raw_redis`` is a plain client on the shared Redis that deletes the test's keys (found with
SCAN, never KEYS/FLUSHDB); ``throwaway_redis`` is a private ``redis-server`` a test may kill
and start again. ``cluster_server`` is one Redis Cluster for the whole session (see
``tests/runtime/cluster/conftest.py``), shared by every folder whose tests also run on a
cluster.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator

import pytest
import redis
import redis.asyncio

from servicekit.testgres import Server, resolve_redis_cluster


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ThrowawayRedis:
    """A private ``redis-server`` that a test may kill and start again on the same port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server is not installed")
        self._proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
        client.close()

    def kill(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            self._proc = None


@pytest.fixture(scope="session")
def cluster_server() -> Iterator[Server]:
    """A Redis Cluster for the session: ``$REDIS_CLUSTER_URL`` or 3 + 3 local nodes."""
    server = resolve_redis_cluster()
    yield server
    server.close()


@pytest.fixture
def throwaway_redis() -> Iterator[ThrowawayRedis]:
    server = ThrowawayRedis()
    server.start()
    yield server
    server.kill()


@pytest.fixture
async def raw_redis(redis_url: str, key_prefix: str) -> AsyncIterator[redis.asyncio.Redis]:
    """A plain client on the shared Redis; deletes the test's keys afterwards."""
    client = redis.asyncio.Redis.from_url(redis_url)
    yield client
    keys = [key async for key in client.scan_iter(match=f"{key_prefix}*", count=500)]
    if keys:
        await client.delete(*keys)
    await client.aclose()
