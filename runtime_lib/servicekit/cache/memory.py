"""In-process TTL caches: ``@cached`` for sync functions, ``@acached`` for coroutines.

Entries live in module-level buckets keyed by the ``name`` given to the decorator, so
``clear_cache(name)`` / ``clear_acache(name)`` can drop one bucket. Both use
``time.monotonic``: a wall-clock jump (NTP, DST) neither expires nor immortalises entries.
Arguments must be hashable; they are the key.
"""

from __future__ import annotations

import functools
import time
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Hashable

P = ParamSpec("P")
R = TypeVar("R")

# bucket name -> argument key -> (expires_at, value)
_Bucket = dict["Hashable", tuple[float, Any]]
_sync_buckets: dict[str, _Bucket] = {}
_async_buckets: dict[str, _Bucket] = {}


def _key(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Hashable:
    return (args, tuple(sorted(kwargs.items()))) if kwargs else args


def _lookup(bucket: _Bucket, key: Hashable) -> tuple[bool, Any]:
    entry = bucket.get(key)
    if entry is None:
        return False, None
    if entry[0] <= time.monotonic():
        bucket.pop(key, None)
        return False, None
    return True, entry[1]


def cached(name: str, ttl: float) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Cache a sync function's results for ``ttl`` seconds in bucket ``name``."""

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        bucket = _sync_buckets.setdefault(name, {})

        @functools.wraps(func)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            key = _key(args, kwargs)
            hit, value = _lookup(bucket, key)
            if hit:
                return value  # type: ignore[no-any-return]
            result = func(*args, **kwargs)
            bucket[key] = (time.monotonic() + ttl, result)
            return result

        return wrapper

    return decorate


def clear_cache(name: str) -> None:
    """Drop every entry of the sync bucket ``name``."""
    _sync_buckets.get(name, {}).clear()


def acached(
    name: str, ttl_seconds: float
) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R]]]:
    """Cache a coroutine function's results for ``ttl_seconds`` in bucket ``name``.

    The first positional argument is left out of the key: it is assumed to be ``self``
    (a repository or service pointing at the same data), so all instances share entries.
    Decorate methods, or functions whose first argument does not affect the result.
    Concurrent misses on one key each call the function; the last result wins.
    """

    def decorate(func: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
        bucket = _async_buckets.setdefault(name, {})

        @functools.wraps(func)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            key = _key(args[1:], kwargs)
            hit, value = _lookup(bucket, key)
            if hit:
                return value  # type: ignore[no-any-return]
            result = await func(*args, **kwargs)
            bucket[key] = (time.monotonic() + ttl_seconds, result)
            return result

        return wrapper

    return decorate


def clear_acache(name: str | None = None) -> None:
    """Drop the async bucket ``name``, or every async bucket when ``name`` is ``None``."""
    buckets = _async_buckets.values() if name is None else [_async_buckets.get(name, {})]
    for bucket in buckets:
        bucket.clear()
