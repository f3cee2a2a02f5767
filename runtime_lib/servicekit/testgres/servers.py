"""Finding a Postgres and a Redis for a test session, in a fixed order.

1. an explicit URL (argument, ``$DATABASE_URL`` / ``$REDIS_URL``);
2. a server answering on 127.0.0.1's default port (a plain socket probe);
3. a throwaway server started from the installed binaries;
4. a testcontainers container, when a Docker engine answers.

A Redis Cluster (``redis_mode="cluster"``) comes from ``$REDIS_CLUSTER_URL`` or is
started from the installed binaries: 3 primaries with a replica each, on loopback.

With ``DB_POOLER=pgbouncer`` the tests reach their databases through a PgBouncer in
transaction pooling mode: ``$PGBOUNCER_URL``, or one started from the installed binaries
in front of the Postgres found above.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol, TypeAlias

from sqlalchemy.engine import make_url

from servicekit.database.settings import EngineSettings
from servicekit.errors import ConfigurationError
from servicekit.testgres._cluster import start_redis_cluster
from servicekit.testgres._pgbouncer import start_pgbouncer
from servicekit.testgres._processes import (
    LocalServer,
    docker_answers,
    port_answers,
    start_postgres,
    start_redis,
)
from servicekit.testgres.errors import TestgresError

#: ``setup(redis_mode=...)``: no Redis, one node, or a Redis Cluster.
RedisMode: TypeAlias = bool | Literal["cluster"]


@dataclass
class Server:
    """A reachable server: its URL, how it was found, and how to stop it if we own it."""

    url: str
    source: str
    stop: Callable[[], None] | None = None

    def close(self) -> None:
        if self.stop is not None:
            self.stop()
            self.stop = None


def resolve_postgres(
    uri: str | None = None,
    *,
    probe_host: str = "127.0.0.1",
    probe_port: int = 5432,
    allow_start: bool = True,
    allow_docker: bool = True,
) -> Server:
    """The Postgres a test session should use (see the module docstring for the order)."""
    explicit = uri or os.environ.get("DATABASE_URL")
    if explicit:
        return Server(explicit, "explicit URL")
    attempts = ["explicit URL: neither uri= nor $DATABASE_URL was set"]
    if port_answers(probe_host, probe_port):
        return Server(f"postgresql://postgres@{probe_host}:{probe_port}/postgres", "running server")
    attempts.append(f"running server: nothing answered on {probe_host}:{probe_port}")
    return _start_or_container(
        "a PostgreSQL server",
        start_postgres,
        _postgres_container,
        attempts,
        allow_start,
        allow_docker,
    )


def resolve_redis(
    url: str | None = None,
    *,
    probe_host: str = "127.0.0.1",
    probe_port: int = 6379,
    allow_start: bool = True,
    allow_docker: bool = True,
) -> Server:
    """The Redis a test session should use (same order as :func:`resolve_postgres`)."""
    explicit = url or os.environ.get("REDIS_URL")
    if explicit:
        return Server(explicit, "explicit URL")
    attempts = ["explicit URL: neither url= nor $REDIS_URL was set"]
    if port_answers(probe_host, probe_port):
        return Server(f"redis://{probe_host}:{probe_port}/0", "running server")
    attempts.append(f"running server: nothing answered on {probe_host}:{probe_port}")
    return _start_or_container(
        "a Redis server", start_redis, _redis_container, attempts, allow_start, allow_docker
    )


def resolve_redis_cluster(url: str | None = None, *, allow_start: bool = True) -> Server:
    """The Redis Cluster a test session should use: ``url``, ``$REDIS_CLUSTER_URL``, or
    3 primaries + 3 replicas started from the local ``redis-server`` binaries.

    The URL is a ``redis+cluster://`` one; a ``redis://host:port`` naming one of the
    cluster's nodes is accepted and rewritten.
    """
    explicit = url or os.environ.get("REDIS_CLUSTER_URL")
    if explicit:
        scheme, sep, rest = explicit.partition("://")
        if scheme in ("redis", "rediss"):
            explicit = f"{scheme}+cluster{sep}{rest.removesuffix('/0')}"
        return Server(explicit, "explicit URL")
    attempts = ["explicit URL: neither url= nor $REDIS_CLUSTER_URL was set"]
    started = _start_local(start_redis_cluster, attempts, allow_start)
    if started is not None:
        return started
    raise TestgresError("a Redis Cluster", attempts)


def resolve_redis_mode(mode: RedisMode) -> Server | None:
    """The Redis ``setup(redis_mode=mode)`` asks for, or ``None`` for ``False``."""
    if mode == "cluster":
        return resolve_redis_cluster()
    if mode is True:
        return resolve_redis()
    if mode is False:
        return None
    raise ConfigurationError(f"redis_mode must be True, False or 'cluster', not {mode!r}")


def resolve_pgbouncer(postgres_url: str, *, allow_start: bool = True) -> Server | None:
    """The PgBouncer tests reach ``postgres_url``'s server through, or ``None`` without one.

    Only when ``DB_POOLER=pgbouncer``, the setting that also tells servicekit's engines
    they are behind one: ``$PGBOUNCER_URL`` (a PgBouncer in front of that same server
    that passes every database name through: testgres makes a database per test), else
    one started from the installed ``pgbouncer`` (:func:`start_pgbouncer`). Databases are
    still created, cloned and dropped on the server itself.
    """
    explicit = os.environ.get("PGBOUNCER_URL", "").strip()
    if not EngineSettings.from_env().behind_pgbouncer:
        if explicit:
            raise ConfigurationError(
                "PGBOUNCER_URL is set but DB_POOLER is not 'pgbouncer': set DB_POOLER=pgbouncer"
                " too, so that the engines under test send what PgBouncer accepts"
            )
        return None
    if explicit:
        pooler, server = make_url(explicit), make_url(postgres_url)
        if (pooler.host, pooler.port or 5432) == (server.host, server.port or 5432):
            raise ConfigurationError(
                "PGBOUNCER_URL names the test server itself: point $DATABASE_URL (or setup's"
                " uri=) at the Postgres server, where testgres creates and drops databases,"
                " and $PGBOUNCER_URL at the PgBouncer in front of it"
            )
        return Server(explicit, "explicit URL")
    attempts = ["explicit URL: DB_POOLER=pgbouncer, but $PGBOUNCER_URL was not set"]
    started = _start_local(lambda: start_pgbouncer(postgres_url), attempts, allow_start)
    if started is not None:
        return started
    raise TestgresError("a PgBouncer", attempts)


class _Started(Protocol):
    """What a local start returns: a server (or a cluster of them) and how to stop it."""

    @property
    def url(self) -> str: ...

    def stop(self) -> None: ...


def _start_local(
    start: Callable[[], _Started], attempts: list[str], allow_start: bool
) -> Server | None:
    """A server started from the installed binaries, or ``None`` with the reason noted."""
    if not allow_start:
        attempts.append("local binaries: disabled")
        return None
    try:
        local = start()
    except (OSError, RuntimeError) as exc:
        attempts.append(f"local binaries: {exc}")
        return None
    return Server(local.url, "local binaries", local.stop)


def _start_or_container(
    what: str,
    start: Callable[[], LocalServer],
    container: Callable[[], Server],
    attempts: list[str],
    allow_start: bool,
    allow_docker: bool,
) -> Server:
    started = _start_local(start, attempts, allow_start)
    if started is not None:
        return started
    if allow_docker:
        host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
        if not docker_answers():
            attempts.append(f"testcontainers: no Docker engine answered at {host}")
        else:
            try:
                return container()
            except ImportError as exc:
                attempts.append(
                    f"testcontainers: a Docker engine answers at {host}, but {exc.name} is not"
                    " installed (pip install 'testcontainers[postgres,redis]>=4.15')"
                )
            except Exception as exc:
                attempts.append(
                    f"testcontainers: the Docker engine at {host} failed:"
                    f" {type(exc).__name__}: {exc}"
                )
    else:
        attempts.append("testcontainers: disabled")
    raise TestgresError(what, attempts)


def _postgres_container() -> Server:
    from testcontainers.community.postgres import PostgresContainer

    container = PostgresContainer("postgres:16-alpine", driver=None)
    container.start()
    return Server(container.get_connection_url(), "testcontainers", container.stop)


def _redis_container() -> Server:
    from testcontainers.community.redis import RedisContainer

    container = RedisContainer("redis:7-alpine")
    container.start()
    host, port = container.get_container_host_ip(), container.get_exposed_port(6379)
    return Server(f"redis://{host}:{port}/0", "testcontainers", container.stop)
