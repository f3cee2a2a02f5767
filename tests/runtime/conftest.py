"""Redis servers shared by the runtime's test folders (cache, store, KV, config, streams).

Every test that talks to the shared Redis runs twice: on the shared single node and on the
session's Redis Cluster (``redis_kind``, ``target_url``). ``cluster_server`` is that one
cluster, 3 + 3 nodes, started once per session (per xdist worker; see
``tests/runtime/cluster/conftest.py``). A test that cannot run on the cluster pins
``@pytest.mark.parametrize("redis_kind", ["single"])`` with a comment saying why.

``raw_redis`` is a client of ``target_url`` that deletes the test's keys afterwards (found
with SCAN over every primary, never KEYS/FLUSHDB); ``closed_port_url`` is a URL of the same
kind where nothing listens; ``throwaway_redis`` is a private ``redis-server`` a test may
kill and start again.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator

import pytest
import redis

from servicekit.redis_clients import RedisClient, connect
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


def url_of(redis_kind: str, port: int) -> str:
    """A URL of ``redis_kind``'s scheme for a server (or cluster seed) on ``port``."""
    if redis_kind == "cluster":
        return f"redis+cluster://127.0.0.1:{port}"
    return f"redis://127.0.0.1:{port}/0"


@pytest.fixture
def closed_port_url(redis_kind: str) -> str:
    """A URL where nothing listens (connections are refused): a single node, or a cluster
    whose only seed refuses."""
    return url_of(redis_kind, free_port())


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


@pytest.fixture(params=["single", "cluster"])
def redis_kind(request: pytest.FixtureRequest) -> str:
    """Which Redis the test talks to: the shared single node or the session's cluster."""
    kind: str = request.param
    return kind


@pytest.fixture
def target_url(redis_kind: str, request: pytest.FixtureRequest) -> str:
    """The URL of the Redis ``redis_kind`` names (the cluster is started on first use)."""
    if redis_kind == "single":
        url: str = request.getfixturevalue("redis_url")
        return url
    cluster: Server = request.getfixturevalue("cluster_server")
    return cluster.url


@pytest.fixture
async def raw_redis(target_url: str, key_prefix: str) -> AsyncIterator[RedisClient]:
    """A strict client of ``target_url``; deletes the test's keys afterwards."""
    client = await connect(target_url)
    yield client
    keys = [key async for key in client.scan_iter(match=f"{key_prefix}*", count=500)]
    for start in range(0, len(keys), 500):  # a cluster client splits a DEL by slot
        await client.delete(*keys[start : start + 500])
    await client.aclose()
