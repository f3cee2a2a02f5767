"""In-process TTL caches: ``@cached`` for sync functions, ``@acached`` for coroutines.

The two are twins: the same arguments, the same keys and the same buckets API, so moving
a function between sync and async never changes what is cached.

Entries live in module-level buckets keyed by the ``name`` given to the decorator, so
``clear_cache(name)`` / ``clear_acache(name)`` can drop one bucket (and, without a name,
every bucket). Both use ``time.monotonic``: a wall-clock jump (NTP, DST) neither expires
nor immortalises entries. Arguments must be hashable; they are the key. Expired entries
are dropped when read, and swept whenever a bucket has doubled in size since the last
sweep, so keys that are never read again do not pile up.
"""

from __future__ import annotations

import functools
import time
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Hashable

P = ParamSpec("P")
R = TypeVar("R")

# A bucket is never swept below this many entries.
_SWEEP_MIN = 1024


class _Bucket:
    """One bucket's entries: argument key -> (expires_at, value)."""

    __slots__ = ("_entries", "_sweep_at")

    def __init__(self) -> None:
        self._entries: dict[Hashable, tuple[float, Any]] = {}
        self._sweep_at = _SWEEP_MIN

    def get(self, key: Hashable) -> tuple[bool, Any]:
        entry = self._entries.get(key)
        if entry is None:
            return False, None
        if entry[0] <= time.monotonic():
            self._entries.pop(key, None)
            return False, None
        return True, entry[1]

    def put(self, key: Hashable, value: Any, ttl: float) -> None:
        self._entries[key] = (time.monotonic() + ttl, value)
        if len(self._entries) >= self._sweep_at:
            self._sweep()

    def clear(self) -> None:
        self._entries.clear()

    def _sweep(self) -> None:
        # Amortised O(1) per put: the next sweep waits until the bucket doubles again.
        now = time.monotonic()
        entries = self._entries
        for key, entry in list(entries.items()):
            if entry[0] <= now and entries.get(key) is entry:
                del entries[key]
        self._sweep_at = max(_SWEEP_MIN, 2 * len(entries))


_sync_buckets: dict[str, _Bucket] = {}
_async_buckets: dict[str, _Bucket] = {}


def _key(args: tuple[Any, ...], kwargs: dict[str, Any], skip_first_arg: bool) -> Hashable:
    if skip_first_arg:
        args = args[1:]
    return (args, tuple(sorted(kwargs.items()))) if kwargs else args


def _clear(buckets: dict[str, _Bucket], name: str | None) -> None:
    for bucket in buckets.values() if name is None else [buckets.get(name, _Bucket())]:
        bucket.clear()


def cached(
    name: str, ttl: float, *, skip_first_arg: bool = False
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Cache a sync function's results for ``ttl`` seconds in bucket ``name``.

    Every argument is part of the key. On methods, ``skip_first_arg=True`` leaves ``self``
    out, so all instances share entries (right when they point at the same data).
    """

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        bucket = _sync_buckets.setdefault(name, _Bucket())

        @functools.wraps(func)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            key = _key(args, kwargs, skip_first_arg)
            hit, value = bucket.get(key)
            if hit:
                return value  # type: ignore[no-any-return]
            result = func(*args, **kwargs)
            bucket.put(key, result, ttl)
            return result

        return wrapper

    return decorate


def clear_cache(name: str | None = None) -> None:
    """Drop the sync bucket ``name``, or every sync bucket when ``name`` is ``None``."""
    _clear(_sync_buckets, name)


def acached(
    name: str, ttl: float, *, skip_first_arg: bool = False
) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R]]]:
    """Cache a coroutine function's results for ``ttl`` seconds in bucket ``name``.

    The async twin of :func:`cached`: every argument is part of the key, and on methods
    ``skip_first_arg=True`` leaves ``self`` out. Concurrent misses on one key each call
    the function; the last result wins.
    """

    def decorate(func: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
        bucket = _async_buckets.setdefault(name, _Bucket())

        @functools.wraps(func)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            key = _key(args, kwargs, skip_first_arg)
            hit, value = bucket.get(key)
            if hit:
                return value  # type: ignore[no-any-return]
            result = await func(*args, **kwargs)
            bucket.put(key, result, ttl)
            return result

        return wrapper

    return decorate


def clear_acache(name: str | None = None) -> None:
    """Drop the async bucket ``name``, or every async bucket when ``name`` is ``None``."""
    _clear(_async_buckets, name)
