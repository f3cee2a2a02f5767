"""Caching: a fail-open Redis cache shared across processes, and in-process TTL caches.

- :mod:`servicekit.cache.distributed`: ``redis_init``/``redis_close``, ``redis_get``,
  ``redis_set``, ``redis_delete``, ``@redis_cached``, ``redis_cached_get_or_set`` and
  ``redis_pool`` (FastAPI ``Depends``). A Redis outage degrades to "no cache"; on a
  Redis Cluster (``redis+cluster://``) a failed shard degrades only its own keys.
- :mod:`servicekit.cache.memory`: ``@cached``/``clear_cache`` (sync) and
  ``@acached``/``clear_acache`` (async), per process.

For strict, typed storage use :mod:`servicekit.store`; for locks, idempotency and rate
limits use :mod:`servicekit.kv`.
"""

from servicekit.cache._failopen import FailOpenRedis
from servicekit.cache._failopen_cluster import FailOpenRedisCluster
from servicekit.cache.distributed import (
    CacheNotInitialisedError,
    FailOpenClient,
    RedisPool,
    redis_cached,
    redis_cached_get_or_set,
    redis_client,
    redis_close,
    redis_delete,
    redis_get,
    redis_init,
    redis_pool,
    redis_set,
)
from servicekit.cache.memory import acached, cached, clear_acache, clear_cache
from servicekit.errors import CacheNotInitializedError

__all__ = [
    "CacheNotInitialisedError",  # old name of CacheNotInitializedError
    "CacheNotInitializedError",
    "FailOpenClient",
    "FailOpenRedis",
    "FailOpenRedisCluster",
    "RedisPool",
    "acached",
    "cached",
    "clear_acache",
    "clear_cache",
    "redis_cached",
    "redis_cached_get_or_set",
    "redis_client",
    "redis_close",
    "redis_delete",
    "redis_get",
    "redis_init",
    "redis_pool",
    "redis_set",
]
