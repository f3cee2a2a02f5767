"""The fail-open Redis cache: module-level lifecycle, get/set/delete and decorators.

Call :func:`redis_init` once at startup and :func:`redis_close` at shutdown (FastAPI
``lifespan``). Every function here fails open: when Redis is unreachable, slow or returns
an error, reads are misses, writes and deletes do nothing and decorated functions are
simply called. Using them before :func:`redis_init` is a programming error and raises
:class:`~servicekit.errors.CacheNotInitializedError`.

Settings (read by :func:`redis_init`, overridable by its arguments):

- ``REDIS_URL``: where Redis is (required); ``redis+cluster://host:port[,host:port]``
  names a Redis Cluster (see :mod:`servicekit.redis_clients`).
- ``CACHE_PREFIX``: prepended to every key as ``"{prefix}:"``; defaults to the service name
  (``K_SERVICE``, ``AWS_LAMBDA_FUNCTION_NAME``, ``APP_NAME``) and then to ``"servicekit"``.
- ``CACHE_TTL``: default expiry in seconds (300).
- ``CACHE_CONNECT_TIMEOUT`` / ``CACHE_SOCKET_TIMEOUT``: seconds (0.1 / 0.25).
- ``CACHE_PROBE_INTERVAL``: seconds between reconnection probes while Redis is down (0.5).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
from typing import TYPE_CHECKING, Any, ParamSpec, TypeAlias, TypeVar

from redis.exceptions import RedisClusterException, RedisError

from servicekit._env import env_float, env_int, env_str
from servicekit.cache import _codec
from servicekit.cache._failopen import UNAVAILABLE, FailOpenRedis, connection_pool
from servicekit.cache._failopen_cluster import FailOpenRedisCluster
from servicekit.errors import CacheNotInitializedError, ConfigurationError
from servicekit.redis_clients import cluster_client, is_cluster_url

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable

    from pydantic import TypeAdapter

P = ParamSpec("P")
R = TypeVar("R")

# The old name (British spelling), kept for services that import it from here.
CacheNotInitialisedError = CacheNotInitializedError

#: The fail-open client for a single node or for a Redis Cluster.
FailOpenClient: TypeAlias = FailOpenRedis | FailOpenRedisCluster

# Longest argument encoding used verbatim in a key; longer ones are hashed.
_MAX_PLAIN_KEY = 120


class _State:
    # One mutable holder instead of several globals: the hot path reads one attribute.
    client: FailOpenClient | None = None
    prefix: str = "servicekit:"
    ttl: int = 300


_state = _State()

# Returned by _decode for a value that is present but unreadable (treated as a miss).
_MISS: Any = object()


def _client() -> FailOpenClient:
    client = _state.client
    if client is None:
        raise CacheNotInitializedError(
            "servicekit.cache is not initialized: await redis_init() at startup first"
        )
    return client


async def _open(url: str | None) -> FailOpenClient:
    url = url or env_str("REDIS_URL", "")
    if not url:
        raise ConfigurationError("REDIS_URL is not set and no url was passed")
    timeouts = {
        "connect_timeout": env_float("CACHE_CONNECT_TIMEOUT", 0.1),
        "socket_timeout": env_float("CACHE_SOCKET_TIMEOUT", 0.25),
    }
    probe_interval = env_float("CACHE_PROBE_INTERVAL", 0.5)
    if not is_cluster_url(url):
        pool = connection_pool(url, **timeouts)
        return FailOpenRedis(connection_pool=pool, probe_interval=probe_interval)
    client = cluster_client(
        url, cls=FailOpenRedisCluster, probe_interval=probe_interval, **timeouts
    )
    # Read the slot map before the client is handed out. A cluster that cannot be
    # reached now is an outage like any other: the client retries on its first commands.
    with contextlib.suppress(*UNAVAILABLE, RedisError, RedisClusterException):
        await client.initialize()
    return client


def _default_prefix() -> str:
    # Per service by default: the same service name servicekit.database reports to Postgres
    # (the platform's workload name first), so two services sharing a Redis never collide.
    names = ("CACHE_PREFIX", "K_SERVICE", "AWS_LAMBDA_FUNCTION_NAME", "APP_NAME")
    return next((value for name in names if (value := env_str(name, "").strip())), "servicekit")


async def redis_init(
    url: str | None = None, *, prefix: str | None = None, ttl: int | None = None
) -> None:
    """Create the process-wide client (closing a previous one).

    It does not connect: a Redis that is down at startup is an outage like any other, not
    a reason for the service to refuse to start.
    """
    await redis_close()
    prefix = prefix or _default_prefix()
    _state.prefix = f"{prefix}:"
    _state.ttl = ttl if ttl is not None else env_int("CACHE_TTL", 300)
    _state.client = await _open(url)


async def redis_close() -> None:
    """Close the process-wide client; a no-op when there is none."""
    client, _state.client = _state.client, None
    if client is not None:
        await client.aclose()


def redis_client() -> FailOpenClient:
    """The process-wide fail-open client, for commands this module does not wrap
    (a :class:`FailOpenRedis`, or a ``FailOpenRedisCluster`` for a cluster URL)."""
    return _client()


def _adapter(type_: Any) -> TypeAdapter[Any] | None:
    return None if type_ is None else _codec.adapter_for(type_)


def _decode(client: FailOpenClient, raw: bytes, adapter: TypeAdapter[Any] | None) -> Any:
    try:
        return _codec.decode(raw, adapter)
    except ValueError as exc:
        # A value written by an older schema (or by hand) is a miss, not a crash: the
        # caller recomputes and overwrites it.
        client.report(exc)
        return _MISS


async def redis_get(key: str, type_: Any = None) -> Any:
    """The cached value at ``key``, or ``None`` on a miss (or while Redis is failing).

    Without ``type_`` the decoded JSON is returned (a datetime comes back as its ISO
    string, a model as a dict); with ``type_`` (a model class, ``datetime``, ``list[X]``,
    ...) the JSON is validated straight into that type.
    """
    value = await _cached_value(_client(), _state.prefix + key, _adapter(type_))
    return None if value is _MISS else value


async def redis_set(key: str, value: object, ttl: int | None = None) -> None:
    """Store ``value`` as JSON at ``key`` for ``ttl`` seconds (default ``CACHE_TTL``).

    A value that cannot be encoded raises :class:`TypeError` (a bug, not an outage).
    """
    client = _client()
    await client.execute_command(
        "SET", _state.prefix + key, _codec.dumps(value), "EX", ttl or _state.ttl
    )


async def redis_delete(*keys: str) -> int:
    """Delete ``keys``; returns how many existed (0 while Redis is failing)."""
    if not keys:
        return 0
    client = _client()
    prefix = _state.prefix
    deleted: int = await client.execute_command("DEL", *(prefix + key for key in keys))
    return deleted


def _arg_key(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    if not args and not kwargs:
        return ""
    encoded = _codec.dumps([args, kwargs] if kwargs else args)
    if len(encoded) > _MAX_PLAIN_KEY:
        return ":#" + hashlib.blake2b(encoded, digest_size=16).hexdigest()
    return ":" + encoded.decode()


async def _cached_value(client: FailOpenClient, key: str, adapter: Any) -> Any:
    """The decoded value at ``key``, or ``_MISS`` (absent, unreadable or Redis failing)."""
    raw = await client.execute_command("GET", key)
    return _MISS if raw is None else _decode(client, raw, adapter)


async def _fill(client: FailOpenClient, key: str, value: object, ttl: int | None) -> None:
    # Encode even while the breaker is open: a value that cannot be cached is a bug that
    # must surface the same way whether Redis is up or not.
    await client.execute_command("SET", key, _codec.dumps(value), "EX", ttl or _state.ttl)


def redis_cached(
    name: str, ttl: int | None = None, *, skip_first_arg: bool = False
) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R]]]:
    """Cache a coroutine function's results in Redis under ``{prefix}:{name}:{args}``.

    Arguments become part of the key as JSON (hashed when long), so they must be
    JSON-encodable; pass ``skip_first_arg=True`` on methods to leave ``self`` out. The
    return annotation decides how a hit is decoded, so ``-> Model``, ``-> datetime`` or
    ``-> list[Model]`` come back as those types. ``None`` results are cached too.
    """

    def decorate(func: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
        adapter = _codec.return_adapter(func)

        @functools.wraps(func)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            client = _client()
            key = _state.prefix + name + _arg_key(args[1:] if skip_first_arg else args, kwargs)
            value = await _cached_value(client, key, adapter)
            if value is not _MISS:
                return value  # type: ignore[no-any-return]
            result = await func(*args, **kwargs)
            await _fill(client, key, result, ttl)
            return result

        return wrapper

    return decorate


async def redis_cached_get_or_set(
    key: str, ttl: int | None, factory: Callable[[], Awaitable[R]], *, type_: Any = None
) -> R:
    """Return the cached value at ``key`` or await ``factory()`` and cache its result.

    A hit is decoded into ``type_`` if given, else into ``factory``'s return annotation.
    """
    adapter = _adapter(type_) if type_ is not None else _codec.return_adapter(factory)
    client = _client()
    full_key = _state.prefix + key
    value = await _cached_value(client, full_key, adapter)
    if value is not _MISS:
        return value  # type: ignore[no-any-return]
    result = await factory()
    await _fill(client, full_key, result, ttl)
    return result


class RedisPool:
    """A FastAPI dependency yielding a shared fail-open client for ``url``.

    ``Depends(redis_pool(url))`` gives handlers a normal ``redis.asyncio.Redis`` API whose
    cache commands fail open. One client (one connection pool) is created lazily per event
    loop and reused for every request; call :meth:`aclose` at shutdown.
    """

    def __init__(self, url: str) -> None:
        self._url = url
        self._client: FailOpenClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def __call__(self) -> AsyncIterator[FailOpenClient]:
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            # Connections belong to the loop that opened them; a new loop (tests) needs
            # a new pool.
            self._client, self._loop = await _open(self._url), loop
        yield self._client

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()


def redis_pool(url: str) -> RedisPool:
    """``Depends``-ready factory of fail-open clients; see :class:`RedisPool`."""
    return RedisPool(url)
