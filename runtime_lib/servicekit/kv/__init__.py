"""Key-value primitives over Redis: stampede guard, idempotency, de-duplication, rate limit.

- :mod:`servicekit.kv.guard`: ``guarded_get``, one computation per cache miss.
- :mod:`servicekit.kv.idempotency`: ``idempotent_execute``, exactly once per
  idempotency key, and the errors it raises.
- :mod:`servicekit.kv.dedupe`: ``already_processed``/``forget_processed`` for handlers.
- :mod:`servicekit.kv.quota`: ``rate_limit``, a fixed-window counter.

Every function takes a ``redis.asyncio.Redis`` client as its first positional argument, so
the caller decides which connection pool (and which ``decode_responses`` setting) is used;
results are the same either way. Keys are written as ``f"{namespace}:{key}"``.

A Redis Cluster client (``servicekit.redis_clients.connect("redis+cluster://...")``) works
unchanged: every command and Lua script here touches exactly one key, so none can fail
with ``CROSSSLOT`` (the key layout is documented in docs/runtime/redis-keys.md).

Unlike :mod:`servicekit.cache`, these functions are **strict**: a Redis error propagates.
They coordinate work between processes (who computes, who replays, who is throttled), and
silently pretending Redis answered would break that contract.
"""

from servicekit.kv.dedupe import already_processed, forget_processed
from servicekit.kv.guard import guarded_get
from servicekit.kv.idempotency import (
    IdempotencyError,
    IdempotencyInProgressError,
    IdempotencyKeyReusedError,
    IdempotencyLeaseLostError,
    idempotent_execute,
)
from servicekit.kv.quota import RateLimitResult, rate_limit

__all__ = [
    "IdempotencyError",
    "IdempotencyInProgressError",
    "IdempotencyKeyReusedError",
    "IdempotencyLeaseLostError",
    "RateLimitResult",
    "already_processed",
    "forget_processed",
    "guarded_get",
    "idempotent_execute",
    "rate_limit",
]
