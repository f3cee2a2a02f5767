"""One Redis Cluster for the whole test session, and clients on it.

The cluster is ``$REDIS_CLUSTER_URL`` or 3 primaries + 3 replicas started from the local
``redis-server`` binaries (about 7 s, once per session, or once per xdist worker). Tests
share it through a unique key prefix and delete their keys afterwards with a SCAN over
every primary; tests that crash nodes use a cluster of their own (see ``crashable``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from servicekit import cache
from servicekit.redis_clients import ReadyCluster, connect
from servicekit.testgres import Server
from servicekit.testgres._cluster import LocalCluster, start_redis_cluster


@pytest.fixture(scope="module")
def crashable() -> Iterator[LocalCluster]:
    """A cluster of the module's own, for tests that kill nodes: started for the module
    (about 7 s) and thrown away after it, so the shared one stays healthy."""
    cluster = start_redis_cluster()
    yield cluster
    cluster.stop()


@pytest.fixture
async def crashable_client(crashable: LocalCluster) -> AsyncIterator[ReadyCluster]:
    """A strict client of ``crashable``."""
    client = await connect(crashable.url)
    assert isinstance(client, ReadyCluster)
    yield client
    await client.aclose()


@pytest.fixture
def cluster_url(cluster_server: Server) -> str:
    return cluster_server.url


@pytest.fixture
async def cluster_client(cluster_url: str, key_prefix: str) -> AsyncIterator[ReadyCluster]:
    """A strict cluster client; deletes the test's keys (on every primary) afterwards."""
    client = await connect(cluster_url)
    assert isinstance(client, ReadyCluster)
    yield client
    keys = [key async for key in client.scan_iter(match=f"{key_prefix}*", count=500)]
    for key in keys:  # one DEL per key: they live in different slots
        await client.delete(key)
    await client.aclose()


@pytest.fixture
async def cluster_cache(
    cluster_url: str, key_prefix: str, cluster_client: ReadyCluster
) -> AsyncIterator[None]:
    """The module-level cache on the cluster under the test's prefix."""
    await cache.redis_init(cluster_url, prefix=key_prefix)
    yield
    await cache.redis_close()


def keys_on_every_primary(client: ReadyCluster, prefix: str, per_node: int = 3) -> list[str]:
    """Keys under ``prefix``, ``per_node`` of them served by each primary."""
    wanted = {node.name: per_node for node in client.get_primaries()}
    keys: list[str] = []
    for i in range(10_000):
        key = f"{prefix}:k{i}"
        owner = node_of(client, key)
        if wanted.get(owner, 0) > 0:
            wanted[owner] -= 1
            keys.append(key)
        if not any(wanted.values()):
            return keys
    raise AssertionError(f"could not spread keys over {wanted}")


def node_of(client: ReadyCluster, key: str) -> str:
    """``host:port`` of the primary serving ``key`` (per the client's slot map)."""
    name: str = client.nodes_manager.get_node_from_slot(client.keyslot(key)).name
    return name
