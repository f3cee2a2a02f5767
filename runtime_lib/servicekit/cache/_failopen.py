"""A ``redis.asyncio.Redis`` whose plain cache commands fail open.

Only commands with an obvious "no cache" answer fail open (see ``_FALLBACKS``): reads
return a miss, writes and deletes do nothing, ``PING`` answers ``False``. Anything else
(``EVAL``, ``INCR``, a conditional ``SET ... NX``) coordinates work between processes and
stays strict, because inventing an answer for it would be wrong, not merely slower.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from servicekit.cache._breaker import Breaker

if TYPE_CHECKING:
    from collections.abc import Callable

# Errors that mean "Redis is not answering": they open the breaker. Other RedisErrors
# (e.g. WRONGTYPE on one key) still fail open but say nothing about availability.
UNAVAILABLE = (RedisConnectionError, RedisTimeoutError, OSError, asyncio.TimeoutError)

# SET options that turn a cache write into a coordination primitive.
_CONDITIONAL = frozenset({"NX", "XX", "GET", b"NX", b"XX", b"GET", "nx", "xx", "get"})


def _none(_args: tuple[Any, ...]) -> None:
    return None


def _zero(_args: tuple[Any, ...]) -> int:
    return 0


def _false(_args: tuple[Any, ...]) -> bool:
    return False


def _misses(args: tuple[Any, ...]) -> list[None]:
    return [None] * (len(args) - 1)


_FALLBACKS: dict[str, Callable[[tuple[Any, ...]], Any]] = {
    "PING": _false,  # health checks: "is Redis up?" fails open to "no"
    "GET": _none,
    "MGET": _misses,
    "SET": _none,
    "SETEX": _none,
    "PSETEX": _none,
    "DEL": _zero,
    "UNLINK": _zero,
    "EXISTS": _zero,
    "EXPIRE": _zero,
    "PEXPIRE": _zero,
}


def fallback_for(args: tuple[Any, ...]) -> Callable[[tuple[Any, ...]], Any] | None:
    fallback = _FALLBACKS.get(args[0])
    if fallback is _none and args[0] == "SET" and not _CONDITIONAL.isdisjoint(args[3:]):
        return None
    return fallback


def connection_pool(
    url: str, *, connect_timeout: float, socket_timeout: float, **kwargs: Any
) -> ConnectionPool:
    """A pool with bounded timeouts and no retries.

    redis-py's default retry policy turns one call to a closed port into ~4 s of backoff;
    a cache (and a store that reports errors promptly) wants one attempt with a short
    timeout instead.
    """
    kwargs.setdefault("retry", Retry(NoBackoff(), 0))
    return ConnectionPool.from_url(
        url, socket_connect_timeout=connect_timeout, socket_timeout=socket_timeout, **kwargs
    )


class FailOpenRedis(Redis):
    """``redis.asyncio.Redis`` with fail-open cache commands and a circuit breaker.

    Use it like any ``Redis`` client. When Redis fails, ``GET``/``MGET`` return misses,
    ``SET``/``DEL`` and friends return ``None``/``0`` and ``PING`` returns ``False``; while
    the breaker is open those calls do not touch the network at all. Pipelines and other
    commands behave as usual.
    """

    def __init__(
        self,
        connection_pool: ConnectionPool,
        *,
        probe_interval: float = 0.5,
        log_interval: float = 30.0,
        name: str = "servicekit.cache",
        **kwargs: Any,
    ) -> None:
        # Same keyword as Redis.__init__, so the inherited from_url()/from_pool() work too
        # (build the pool with connection_pool() to get bounded timeouts and no retries).
        super().__init__(connection_pool=connection_pool, **kwargs)
        self.auto_close_connection_pool = True
        self.breaker = Breaker(
            self._probe, probe_interval=probe_interval, log_interval=log_interval, name=name
        )

    async def _probe(self) -> None:
        # Connections that were idle when Redis went away are dead; drop them so the
        # first calls after recovery do not trip the breaker again on a stale socket.
        await self.connection_pool.disconnect(inuse_connections=False)
        await Redis.execute_command(self, "PING")  # type: ignore[no-untyped-call]

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        fallback = fallback_for(args)
        if fallback is None:
            return await super().execute_command(*args, **options)  # type: ignore[no-untyped-call]
        if self.breaker.is_open:
            return fallback(args)
        try:
            return await super().execute_command(*args, **options)  # type: ignore[no-untyped-call]
        except UNAVAILABLE as exc:
            self.breaker.record_failure(exc, trip=True)
        except RedisError as exc:
            self.breaker.record_failure(exc, trip=False)
        return fallback(args)

    def report(self, exc: BaseException) -> None:
        """Log a non-availability problem (e.g. an undecodable value) through the breaker."""
        self.breaker.record_failure(exc, trip=False)

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        await self.breaker.aclose()
        await super().aclose(close_connection_pool)
