"""Choosing a cluster: ``redis+cluster://`` URLs, testgres' cluster and ``redis_mode``."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis
import redis.asyncio

from servicekit.errors import ConfigurationError
from servicekit.redis_clients import (
    ReadyCluster,
    cluster_nodes,
    connect,
    connect_sync,
    is_cluster_url,
)
from servicekit.testgres import Server, resolve_redis_cluster
from servicekit.testgres.servers import resolve_redis_mode
from tests.runtime.testgres._inner_suite import run_inner_suite


def test_the_scheme_decides() -> None:
    assert is_cluster_url("redis+cluster://127.0.0.1:7000")
    assert is_cluster_url("REDISS+CLUSTER://cache:6380")
    assert not is_cluster_url("redis://127.0.0.1:6379/0")
    assert not is_cluster_url("unix:///run/redis.sock")


def test_seeds_credentials_and_tls_come_from_the_url() -> None:
    assert cluster_nodes("rediss+cluster://svc:p%40ss@a:7000,b:7001,[::1]:7002/0") == (
        [("a", 7000), ("b", 7001), ("::1", 7002)],
        {"ssl": True, "username": "svc", "password": "p@ss"},
    )
    assert cluster_nodes("redis+cluster://a:7000") == ([("a", 7000)], {"ssl": False})


@pytest.mark.parametrize(
    "url",
    ["redis+cluster://a:7000/3", "redis+cluster://", "redis+cluster://a", "redis://a:1"],
)
def test_a_bad_cluster_url_is_a_configuration_error(url: str) -> None:
    with pytest.raises(ConfigurationError):
        cluster_nodes(url)


async def test_connect_gives_an_initialised_cluster_or_a_plain_client(
    cluster_url: str, redis_url: str
) -> None:
    cluster = await connect(cluster_url)
    single = await connect(redis_url)
    try:
        assert isinstance(cluster, ReadyCluster)
        assert len(cluster.get_primaries()) == 3  # the slot map was read by connect()
        assert isinstance(single, redis.asyncio.Redis)
        assert await cluster.ping() and await single.ping()
    finally:
        await cluster.aclose()
        await single.aclose()
    sync = connect_sync(cluster_url)
    try:
        assert isinstance(sync, redis.cluster.RedisCluster)
        assert sync.ping()
    finally:
        sync.close()


def test_testgres_cluster_has_three_primaries_with_a_replica_each(
    cluster_server: Server,
) -> None:
    if cluster_server.source != "local binaries":
        pytest.skip("$REDIS_CLUSTER_URL names a cluster testgres did not start")
    seeds, _options = cluster_nodes(cluster_server.url)
    roles: list[str] = []
    for host, port in seeds:
        assert host == "127.0.0.1"
        conn = redis.Redis(host=host, port=port)
        assert conn.config_get("save") == {"save": ""}
        assert conn.config_get("appendonly") == {"appendonly": "no"}
        roles.append(conn.info("replication")["role"])
        conn.close()
    assert sorted(roles) == ["master"] * 3 + ["slave"] * 3


def test_redis_cluster_url_wins_and_node_urls_are_rewritten(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REDIS_CLUSTER_URL", "redis://10.0.0.5:7000/0")
    server = resolve_redis_cluster()
    assert (server.url, server.source) == ("redis+cluster://10.0.0.5:7000", "explicit URL")
    assert resolve_redis_cluster("redis+cluster://a:1").url == "redis+cluster://a:1"


def test_redis_mode_accepts_true_false_or_cluster() -> None:
    assert resolve_redis_mode(False) is None
    with pytest.raises(ConfigurationError, match="'cluster'"):
        resolve_redis_mode("sentinel")  # type: ignore[arg-type]


CONFTEST = """
from sqlalchemy.orm import DeclarativeBase

from servicekit import testgres


class Base(DeclarativeBase):
    pass


testgres.setup(Base, async_mode=True, redis_mode="cluster")
"""

TESTS = """
import os

from servicekit import cache


async def test_the_service_cache_runs_on_the_cluster(redis_url):
    assert redis_url.startswith("redis+cluster://")
    assert os.environ["REDIS_URL"] == redis_url
    await cache.redis_init()
    try:
        assert isinstance(cache.redis_client(), cache.FailOpenRedisCluster)
        await cache.redis_set("k", {"v": 1})
        assert await cache.redis_get("k") == {"v": 1}
    finally:
        await cache.redis_delete("k")
        await cache.redis_close()
"""


@pytest.mark.slow
def test_setup_with_redis_mode_cluster(tmp_path: Path, cluster_url: str) -> None:
    # $REDIS_CLUSTER_URL: this session's cluster, so the suite starts no second one.
    result = run_inner_suite(
        tmp_path, CONFTEST, {"test_suite.py": TESTS}, REDIS_CLUSTER_URL=cluster_url
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
