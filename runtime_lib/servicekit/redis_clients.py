"""One place that turns a Redis URL into a client: a single node or a Redis Cluster.

A URL whose scheme is ``redis+cluster://`` (``rediss+cluster://`` with TLS) names a Redis
Cluster by one or more seed nodes, comma-separated::

    redis+cluster://127.0.0.1:7000,127.0.0.1:7001
    rediss+cluster://user:secret@cache.internal:6379

Any other URL (``redis://``, ``rediss://``, ``unix://``) is a single node, as before. The
scheme, not a separate switch, decides, so a service moves to a cluster by changing
``REDIS_URL`` alone. A cluster has only database 0: a path other than ``/`` or ``/0`` is
a :class:`~servicekit.errors.ConfigurationError`.

Every client made here makes one attempt per command (no retry back-off) with the given
timeouts; callers that coordinate (the store, :mod:`servicekit.kv`) see an error at once
and callers that cache fail open.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar
from urllib.parse import unquote

import redis
import redis.asyncio
import redis.cluster
from redis._parsers import AsyncCommandsParser
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from servicekit.errors import ConfigurationError

if TYPE_CHECKING:
    from redis.typing import EncodableT

__all__ = [
    "CLUSTER_SCHEMES",
    "ReadyCluster",
    "RedisClient",
    "SyncRedisClient",
    "client_for",
    "cluster_nodes",
    "connect",
    "connect_sync",
    "is_cluster_url",
    "mark_stale",
    "node_clients",
]

C = TypeVar("C", bound="ReadyCluster")

CLUSTER_SCHEMES = frozenset({"redis+cluster", "rediss+cluster"})

#: What the runtime accepts wherever it takes an async client.
RedisClient: TypeAlias = "redis.asyncio.Redis | RedisCluster"
#: What the runtime accepts wherever it takes a sync client.
SyncRedisClient: TypeAlias = "redis.Redis | redis.cluster.RedisCluster"


def is_cluster_url(url: str) -> bool:
    """True when ``url`` names a Redis Cluster (``redis+cluster://``, ``rediss+cluster://``)."""
    return url.partition("://")[0].lower() in CLUSTER_SCHEMES


def cluster_nodes(url: str) -> tuple[list[tuple[str, int]], dict[str, Any]]:
    """The seed nodes of a cluster URL, and the client options it implies (auth, TLS)."""
    scheme, _, rest = url.partition("://")
    if scheme.lower() not in CLUSTER_SCHEMES:
        raise ConfigurationError(f"not a Redis Cluster URL: {scheme}://...")
    netloc, _, path = rest.partition("/")
    path = path.partition("?")[0]
    if path not in ("", "0"):
        raise ConfigurationError(f"a Redis Cluster has only database 0, not {path!r}")
    options: dict[str, Any] = {"ssl": scheme.lower() == "rediss+cluster"}
    credentials, _, hosts = netloc.rpartition("@")
    if credentials:
        username, _, password = credentials.partition(":")
        options["username"] = unquote(username) or None
        options["password"] = unquote(password) or None
    nodes: list[tuple[str, int]] = []
    for address in filter(None, hosts.split(",")):
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit():
            raise ConfigurationError(f"Redis Cluster seed {address!r} is not host:port")
        nodes.append((host.strip("[]"), int(port)))
    if not nodes:
        raise ConfigurationError("a Redis Cluster URL needs at least one host:port")
    return nodes, options


class _CommandTable(AsyncCommandsParser):
    """redis-py's command table, read from the first node that answers.

    redis-py reads it from the cluster's "default node" (the first primary it lists) each
    time it re-reads the slot map; while that primary is dead every re-read failed, and
    with it every command on the whole cluster, not just on the dead node's slots.
    """

    __slots__ = ("_client",)

    def __init__(self, client: RedisCluster) -> None:
        super().__init__()
        self._client = client

    async def initialize(self, node: ClusterNode | None = None) -> None:
        candidates = [node] if node is not None else []
        candidates += [n for n in self._client.get_nodes() if n is not node]
        error: Exception | None = None
        for candidate in candidates:
            try:
                await super().initialize(candidate)
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                error = exc
                continue
            return
        if error is None:
            await super().initialize()
            return
        raise error


class ReadyCluster(RedisCluster):
    """A ``redis.asyncio.cluster.RedisCluster`` that initialises itself before any command.

    A fresh ``RedisCluster`` used by several coroutines at once before its first command
    completes can fail inside redis-py (``'NoneType' object has no attribute
    'writelines'``); ``initialize()`` is serialised by a lock, so running it first makes
    that load safe. It is also re-run here after the client dropped its topology (a node
    failed): one caller re-reads the slot map and the others wait for it. Re-reading it
    works while any node answers (see ``_CommandTable``).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.commands_parser = _CommandTable(self)

    async def execute_command(self, *args: EncodableT, **kwargs: Any) -> Any:
        if self._initialize:
            await self.initialize()
        return await super().execute_command(*args, **kwargs)


def cluster_client(
    url: str,
    *,
    connect_timeout: float,
    socket_timeout: float,
    cls: type[C],
    **kwargs: Any,
) -> C:
    """An async cluster client for ``url`` (no I/O yet); ``kwargs`` go to ``cls``."""
    seeds, options = cluster_nodes(url)
    return cls(
        startup_nodes=[ClusterNode(host, port) for host, port in seeds],
        socket_connect_timeout=connect_timeout,
        socket_timeout=socket_timeout,
        retry=AsyncRetry(NoBackoff(), 0),
        **options,
        **kwargs,
    )


def client_for(
    url: str, *, connect_timeout: float = 1.0, socket_timeout: float = 5.0, **kwargs: Any
) -> RedisClient:
    """An async client for ``url`` that does no I/O yet: a :class:`ReadyCluster` (which
    reads the slot map before its first command) or a ``Redis``. For code that cannot
    await where it makes its client; elsewhere prefer :func:`connect`."""
    if is_cluster_url(url):
        return cluster_client(
            url,
            connect_timeout=connect_timeout,
            socket_timeout=socket_timeout,
            cls=ReadyCluster,
            **kwargs,
        )
    pool = redis.asyncio.ConnectionPool.from_url(
        url,
        socket_connect_timeout=connect_timeout,
        socket_timeout=socket_timeout,
        retry=AsyncRetry(NoBackoff(), 0),
        **kwargs,
    )
    return redis.asyncio.Redis.from_pool(pool)


async def connect(
    url: str, *, connect_timeout: float = 1.0, socket_timeout: float = 5.0, **kwargs: Any
) -> RedisClient:
    """An async client for ``url``: a :class:`ReadyCluster`, initialised, or a ``Redis``.

    A cluster's topology is read here (so a cluster that cannot be reached raises now); a
    single-node client connects lazily, as redis-py's always does.
    """
    client = client_for(
        url, connect_timeout=connect_timeout, socket_timeout=socket_timeout, **kwargs
    )
    if isinstance(client, ReadyCluster):
        await client.initialize()
    return client


def connect_sync(
    url: str, *, connect_timeout: float = 1.0, socket_timeout: float = 5.0, **kwargs: Any
) -> SyncRedisClient:
    """A sync client for ``url``: a ``redis.cluster.RedisCluster`` (which reads the
    topology when it is created) or a ``redis.Redis``."""
    if is_cluster_url(url):
        seeds, options = cluster_nodes(url)
        return redis.cluster.RedisCluster(
            startup_nodes=[
                redis.cluster.ClusterNode(host, port)  # type: ignore[no-untyped-call]
                for host, port in seeds
            ],
            socket_connect_timeout=connect_timeout,
            socket_timeout=socket_timeout,
            retry=Retry(NoBackoff(), 0),
            **options,
            **kwargs,
        )
    pool = redis.ConnectionPool.from_url(
        url,
        socket_connect_timeout=connect_timeout,
        socket_timeout=socket_timeout,
        retry=Retry(NoBackoff(), 0),
        **kwargs,
    )
    return redis.Redis.from_pool(pool)


def mark_stale(client: RedisCluster) -> None:
    """Make ``client`` re-read the slot map before its next command (a node failed).

    This is redis-py's own flag for it: its commands, and a :class:`ReadyCluster`'s
    ``initialize()``, read the map again first.
    """
    client._initialize = True


def node_clients(client: RedisCluster) -> list[redis.asyncio.Redis]:
    """One plain client per primary of ``client``'s slot map, with the same connection
    options (auth, TLS, timeouts): for what a cluster does per node, such as keyspace
    notifications, which each node sends for its own keys only. The caller closes them."""
    clients: list[redis.asyncio.Redis] = []
    for node in client.get_primaries():
        pool = redis.asyncio.ConnectionPool(
            connection_class=node.connection_class, **node.connection_kwargs
        )
        clients.append(redis.asyncio.Redis.from_pool(pool))
    return clients
