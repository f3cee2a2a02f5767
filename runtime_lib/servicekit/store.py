"""Typed key-value storage on Redis: :class:`RedisStore` (sync) and :class:`AsyncRedisStore`.

Both share one design (:class:`_StoreCodec`): values are written as JSON through the same
codec as :mod:`servicekit.cache` (strings and bytes verbatim), read back by validating the
bytes into the requested type, and every Redis or codec failure is mapped onto
:class:`~servicekit.errors.StoreError`. Only the I/O differs between the two classes, and
their APIs are twins (kept so by ``tests/runtime/test_twin_parity.py``) but for one name:
``close()`` is ``aclose()`` on the async store, as on redis-py's clients and for
``contextlib.closing`` / ``contextlib.aclosing``.

A store is **strict**: it raises where the cache fails open. Use it for data you cannot
silently lose or recompute; use :mod:`servicekit.cache` for data you can.

On a Redis Cluster (a ``redis+cluster://`` URL, or a cluster client passed in) the API is
the same: ``mget`` reads each hash slot with its own ``MGET`` and reports the keys of a
shard that failed as :class:`FailedValue` entries, and ``list_keys`` scans every primary.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import redis
import redis.asyncio
import redis.cluster
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import ClusterDownError, RedisClusterException, RedisError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from servicekit._text import as_text
from servicekit.cache import _codec
from servicekit.errors import (
    StoreConnectionError,
    StoreDeserialisationError,
    StoreDeserializationError,
    StoreError,
    StoreOperationError,
    StoreSerialisationError,
    StoreSerializationError,
)
from servicekit.redis_clients import RedisClient, SyncRedisClient, client_for, connect_sync

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Sequence

__all__ = [
    "AsyncRedisStore",
    "FailedValue",
    "RedisStore",
    "StoreConnectionError",
    "StoreDeserialisationError",  # old name of StoreDeserializationError
    "StoreDeserializationError",
    "StoreError",
    "StoreOperationError",
    "StoreSerialisationError",  # old name of StoreSerializationError
    "StoreSerializationError",
]

T = TypeVar("T")

_SCAN_COUNT = 500

# Errors that mean "this node (or shard) is not answering", as opposed to "it refused".
_UNAVAILABLE = (RedisConnectionError, RedisTimeoutError, ClusterDownError)
_UNREACHABLE = (RedisConnectionError, RedisTimeoutError, OSError)


@dataclass(frozen=True, slots=True)
class FailedValue:
    """One ``mget`` entry that could not be read; the rest of the batch still succeeds.

    ``error`` is a :class:`StoreDeserializationError` for a value that exists but does not
    validate, or (on a Redis Cluster) a :class:`StoreConnectionError` /
    :class:`StoreOperationError` for a key whose shard failed to answer.
    """

    key: str
    error: StoreError


@contextlib.contextmanager
def _mapped_errors(operation: str, key: object) -> Iterator[None]:
    # A plain (sync) context manager: it also wraps the awaits of the async store, which
    # is what lets both classes share the error mapping.
    try:
        yield
    except (RedisError, RedisClusterException) as exc:
        raise _store_error(operation, key, exc) from exc


def _store_error(operation: str, key: object, exc: Exception) -> StoreError:
    # RedisClusterException is not a RedisError; a slot nobody serves is an outage, and so
    # is a cluster none of whose nodes answers (redis-py chains the connection error).
    unavailable = (
        isinstance(exc, _UNAVAILABLE)
        or "not covered" in str(exc)
        or (isinstance(exc, RedisClusterException) and isinstance(exc.__cause__, _UNREACHABLE))
    )
    kind = StoreConnectionError if unavailable else StoreOperationError
    error = kind(f"{operation} {key!r}: {exc}")
    error.__cause__ = exc
    return error


def _bytes(raw: bytes | str) -> bytes:
    return raw.encode() if isinstance(raw, str) else raw


class _StoreCodec:
    """Encoding, decoding and result shaping shared by both stores (no I/O here)."""

    @staticmethod
    def _encode(key: str, value: object) -> bytes | str:
        if isinstance(value, str | bytes):
            return value
        try:
            return _codec.dumps(value)
        except TypeError as exc:
            raise StoreSerializationError(f"set {key!r}: {exc}") from exc

    @staticmethod
    def _reader(model: type[T]) -> Callable[[bytes | str], T]:
        """How to turn stored bytes into ``model``; resolved once per call, not per value."""
        if model is str:
            return as_text  # type: ignore[return-value]
        if model is bytes:
            return _bytes  # type: ignore[return-value]
        target: Any = model  # a type is hashable; the lru_cache signature says Hashable
        return _codec.validator(target).validate_json

    @staticmethod
    def _failure(key: str, model: type[object], exc: ValueError) -> StoreDeserializationError:
        name = getattr(model, "__name__", model)
        return StoreDeserializationError(f"value at {key!r} is not a valid {name}: {exc}")

    def _decode(self, key: str, raw: bytes | str, model: type[T]) -> T:
        try:
            return self._reader(model)(raw)
        except ValueError as exc:
            raise self._failure(key, model, exc) from exc

    def _decode_many(
        self,
        keys: Sequence[str],
        raws: Iterable[bytes | str | StoreError | None],
        model: type[T],
    ) -> list[T | FailedValue | None]:
        read = self._reader(model)
        results: list[T | FailedValue | None] = []
        append = results.append
        for key, raw in zip(keys, raws, strict=True):
            if raw is None:
                append(None)
                continue
            if isinstance(raw, StoreError):
                append(FailedValue(key, raw))
                continue
            try:
                append(read(raw))
            except ValueError as exc:
                append(FailedValue(key, self._failure(key, model, exc)))
        return results

    @staticmethod
    def _set_args(ttl: float | None) -> dict[str, Any]:
        return {} if ttl is None else {"px": max(1, round(ttl * 1000))}

    @staticmethod
    def _by_slot(client: Any, keys: Sequence[str]) -> dict[int, list[int]]:
        """Positions of ``keys`` grouped by hash slot: one ``MGET`` each on a cluster."""
        groups: dict[int, list[int]] = {}
        for position, key in enumerate(keys):
            groups.setdefault(client.keyslot(key), []).append(position)
        return groups

    @staticmethod
    def _scatter(
        keys: Sequence[str], groups: dict[int, list[int]], replies: Iterable[object]
    ) -> list[bytes | str | StoreError | None]:
        """Per-slot replies (value lists, or the slot's error) back in ``keys`` order."""
        raws: list[bytes | str | StoreError | None] = [None] * len(keys)
        for positions, reply in zip(groups.values(), replies, strict=True):
            if isinstance(reply, Exception):
                error = _store_error("mget", keys[positions[0]], reply)
                for position in positions:
                    raws[position] = error
                continue
            assert isinstance(reply, list)
            for position, raw in zip(positions, reply, strict=True):
                raws[position] = raw
        return raws


class RedisStore(_StoreCodec):
    """Synchronous typed store over a ``redis.Redis`` client; :meth:`close` it when done."""

    def __init__(self, client: SyncRedisClient) -> None:
        self.client = client

    @classmethod
    def from_url(
        cls, url: str, *, connect_timeout: float = 1.0, socket_timeout: float = 5.0
    ) -> RedisStore:
        """A store with its own pool: bounded timeouts, no retries (errors surface fast).

        A ``redis+cluster://`` URL gives a cluster client, which reads the slot map now
        (and raises :class:`StoreConnectionError` if no seed node answers).
        """
        with _mapped_errors("connect", url.partition("://")[0]):
            client = connect_sync(
                url, connect_timeout=connect_timeout, socket_timeout=socket_timeout
            )
        return cls(client)

    def close(self) -> None:
        """Close the client (and the pool :meth:`from_url` made)."""
        self.client.close()

    def is_alive(self) -> bool:
        """``True`` if Redis answers ``PING``; never raises."""
        try:
            return bool(self.client.ping())
        except (RedisError, RedisClusterException):
            return False

    def set(self, key: str, value: object, *, ttl: float | None = None) -> None:
        """Store a model, dict, list or primitive at ``key`` (optionally expiring)."""
        payload = self._encode(key, value)
        with _mapped_errors("set", key):
            self.client.set(key, payload, **self._set_args(ttl))

    def get(self, key: str, model: type[T]) -> T | None:
        """The value at ``key`` validated as ``model``, or ``None`` if it does not exist."""
        with _mapped_errors("get", key):
            raw: bytes | str | None = self.client.get(key)
        return None if raw is None else self._decode(key, raw, model)

    def get_raw(self, key: str) -> str | None:
        """The stored text at ``key`` without any decoding, or ``None``."""
        with _mapped_errors("get", key):
            raw: bytes | str | None = self.client.get(key)
        return None if raw is None else as_text(raw)

    def list_keys(self, pattern: str) -> list[str]:
        """Keys matching ``pattern``, found with ``SCAN`` (never the blocking ``KEYS``)."""
        with _mapped_errors("scan", pattern):
            return [as_text(k) for k in self.client.scan_iter(match=pattern, count=_SCAN_COUNT)]

    def mget(self, keys: Sequence[str], model: type[T]) -> list[T | FailedValue | None]:
        """Values at ``keys`` in order: a model, ``None`` (missing) or :class:`FailedValue`."""
        if not keys:
            return []
        if isinstance(self.client, redis.cluster.RedisCluster):
            return self._decode_many(keys, self._cluster_mget(self.client, keys), model)
        with _mapped_errors("mget", keys[0]):
            raws: list[bytes | str | None] = self.client.mget(keys)
        return self._decode_many(keys, raws, model)

    def _cluster_mget(
        self, client: redis.cluster.RedisCluster, keys: Sequence[str]
    ) -> list[bytes | str | StoreError | None]:
        groups = self._by_slot(client, keys)
        replies: list[object] = []
        failed: dict[str, Exception] = {}  # a node that failed once is not asked again
        for slot, positions in groups.items():
            try:
                node = client.nodes_manager.get_node_from_slot(slot).name
            except RedisClusterException as exc:
                replies.append(exc)
                continue
            if node in failed:
                replies.append(failed[node])
                continue
            try:
                reply = client.execute_command(  # type: ignore[no-untyped-call]
                    "MGET", *(keys[i] for i in positions)
                )
                replies.append(reply)
            except (RedisError, RedisClusterException) as exc:
                failed[node] = exc
                replies.append(exc)
        return self._scatter(keys, groups, replies)

    def delete(self, key: str) -> bool:
        """Delete ``key``; ``True`` if it existed."""
        with _mapped_errors("delete", key):
            return bool(self.client.delete(key))


class AsyncRedisStore(_StoreCodec):
    """Asynchronous typed store over a ``redis.asyncio.Redis`` client.

    The twin of :class:`RedisStore`: the same methods, awaited, except that ``close()`` is
    :meth:`aclose` here, the name Python (``contextlib.aclosing``) and redis-py give the
    closing coroutine.
    """

    def __init__(self, client: RedisClient) -> None:
        self.client = client

    @classmethod
    def from_url(
        cls, url: str, *, connect_timeout: float = 1.0, socket_timeout: float = 5.0
    ) -> AsyncRedisStore:
        """A store with its own pool: bounded timeouts, no retries (errors surface fast).

        A ``redis+cluster://`` URL gives a cluster client that reads the slot map before
        its first command.
        """
        return cls(client_for(url, connect_timeout=connect_timeout, socket_timeout=socket_timeout))

    async def aclose(self) -> None:
        """Close the client (and the pool :meth:`from_url` made)."""
        await self.client.aclose()

    async def is_alive(self) -> bool:
        """``True`` if Redis answers ``PING``; never raises."""
        try:
            return bool(await self.client.ping())
        except (RedisError, RedisClusterException):
            return False

    async def set(self, key: str, value: object, *, ttl: float | None = None) -> None:
        """Store a model, dict, list or primitive at ``key`` (optionally expiring)."""
        payload = self._encode(key, value)
        with _mapped_errors("set", key):
            await self.client.set(key, payload, **self._set_args(ttl))

    async def get(self, key: str, model: type[T]) -> T | None:
        """The value at ``key`` validated as ``model``, or ``None`` if it does not exist."""
        with _mapped_errors("get", key):
            raw: bytes | str | None = await self.client.get(key)
        return None if raw is None else self._decode(key, raw, model)

    async def get_raw(self, key: str) -> str | None:
        """The stored text at ``key`` without any decoding, or ``None``."""
        with _mapped_errors("get", key):
            raw: bytes | str | None = await self.client.get(key)
        return None if raw is None else as_text(raw)

    async def list_keys(self, pattern: str) -> list[str]:
        """Keys matching ``pattern``, found with ``SCAN`` (never the blocking ``KEYS``)."""
        with _mapped_errors("scan", pattern):
            return [
                as_text(k) async for k in self.client.scan_iter(match=pattern, count=_SCAN_COUNT)
            ]

    async def mget(self, keys: Sequence[str], model: type[T]) -> list[T | FailedValue | None]:
        """Values at ``keys`` in order: a model, ``None`` (missing) or :class:`FailedValue`."""
        if not keys:
            return []
        client = self.client
        if isinstance(client, RedisCluster):
            with _mapped_errors("mget", keys[0]):
                await client.initialize()  # the slot map, read once (a no-op afterwards)
            groups = self._by_slot(client, keys)
            replies = await asyncio.gather(
                *(client.execute_command("MGET", *(keys[i] for i in p)) for p in groups.values()),
                return_exceptions=True,
            )
            return self._decode_many(keys, self._scatter(keys, groups, replies), model)
        with _mapped_errors("mget", keys[0]):
            raws: list[bytes | str | None] = await client.mget(keys)
        return self._decode_many(keys, raws, model)

    async def delete(self, key: str) -> bool:
        """Delete ``key``; ``True`` if it existed."""
        with _mapped_errors("delete", key):
            return bool(await self.client.delete(key))
