"""Typed configuration documents in Redis, with a local cache that Redis keeps current.

:class:`RedisConfigStore` writes Pydantic models (or any JSON value) as numbered versions of
a document, and reads them back validated into a model. Every document fetched or watched
is cached in the process; Redis's keyspace notifications (or polling, where Redis may not
announce changes) reload it when any process changes it, and watchers are called with the
new value. A stored document that does not validate never replaces a good one: it is
logged as a :class:`~servicekit.errors.ConfigDocumentInvalidError` and the cache keeps the
last good value.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from servicekit.cache import _codec
from servicekit.config import _documents
from servicekit.config._documents import ABSENT, Stored
from servicekit.config._listener import Listener
from servicekit.errors import (
    ConfigDocumentInvalidError,
    ConfigurationError,
    ConfigVersionConflictError,
    StoreConnectionError,
    StoreError,
    StoreSerializationError,
)
from servicekit.redis_clients import client_for
from servicekit.store import _mapped_errors

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import TracebackType
    from typing import Self

    from servicekit.redis_clients import RedisClient

__all__ = ["RedisConfigStore"]

T = TypeVar("T")

logger = logging.getLogger("servicekit.config")


@dataclass(eq=False, slots=True)
class _Entry(Generic[T]):
    """One cached document: the last good value, and what Redis held when last read."""

    model: type[T]
    value: T | None = None
    version: int = 0
    """The version of ``value``; 0 when there is no document."""
    seen: Stored = ABSENT
    """The last state read, good or not: reading the same state again changes nothing."""
    problem: ConfigDocumentInvalidError | None = None
    """Why ``seen`` was not taken; raised by reads while there is no good value."""
    watchers: list[Callable[[T | None], object]] = field(default_factory=list)
    loaded: bool = False
    """False until the first read succeeded (a reader that finds it so waits on ``lock``)."""
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    """Held from reading Redis to updating the entry, so an older read never lands last."""


class RedisConfigStore:
    """Versioned, typed configuration documents at ``"{prefix}:{key}"`` on ``redis`` (a
    single node or a Redis Cluster).

    The store is async only. It never closes a client it was given; :meth:`from_url` makes
    one it owns. :meth:`start` (or ``async with``) connects and starts listening; the
    first :meth:`fetch` or :meth:`watch` does so too. :meth:`aclose` stops listening.

    ``history`` versions of each document are kept (0 keeps all). Redis is asked for the
    ``notify-keyspace-events`` flags the cache needs unless ``configure_notifications`` is
    false; without them documents are polled every ``poll_interval`` seconds. Every
    ``resync_interval`` seconds all cached documents are reloaded anyway.
    """

    def __init__(
        self,
        redis: RedisClient,
        *,
        prefix: str,
        history: int = 100,
        configure_notifications: bool = True,
        poll_interval: float = 1.0,
        resync_interval: float = 60.0,
    ) -> None:
        if history < 0:
            raise ConfigurationError(f"history must be 0 (keep all) or more, got {history}")
        self.redis = redis
        self.prefix = prefix
        self.history = history
        self._entries: dict[str, _Entry[Any]] = {}
        self._owns_client = False
        self._starting = asyncio.Lock()
        self._listener: Listener | None = None
        self._configure_notifications = configure_notifications
        self._poll_interval = poll_interval
        self._resync_interval = resync_interval

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        prefix: str,
        connect_timeout: float = 1.0,
        socket_timeout: float = 5.0,
        **options: Any,
    ) -> RedisConfigStore:
        """A store with its own client (bounded timeouts, no retries), closed by
        :meth:`aclose`; a ``redis+cluster://`` URL gives a cluster client."""
        client = client_for(url, connect_timeout=connect_timeout, socket_timeout=socket_timeout)
        store = cls(client, prefix=prefix, **options)
        store._owns_client = True
        return store

    # --- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect and listen for changes; :class:`StoreConnectionError` if Redis is down."""
        async with self._starting:
            if self._listener is not None:
                return
            listener = Listener(
                self.redis,
                prefix=self.prefix,
                configure=self._configure_notifications,
                poll_interval=self._poll_interval,
                resync_interval=self._resync_interval,
                changed=self._changed,
                resync=self._resync,
            )
            with _mapped_errors("listen", self.prefix):
                await listener.start()
            self._listener = listener

    async def aclose(self) -> None:
        """Stop listening and forget the cache (and close the client :meth:`from_url` made)."""
        listener, self._listener = self._listener, None
        if listener is not None:
            await listener.aclose()
        self._entries.clear()
        if self._owns_client:
            await self.redis.aclose()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    @property
    def polling(self) -> bool:
        """True while Redis does not announce changes and documents are polled instead."""
        return self._listener is not None and self._listener.polling

    # --- reads ------------------------------------------------------------------------------

    async def fetch(self, key: str, model: type[T], *, version: int | None = None) -> T | None:
        """The document at ``key`` as ``model``, or ``None`` if there is none.

        Without ``version``: the current document, from the cache after the first read (the
        cache follows every change made by any process). A document that does not validate
        raises :class:`ConfigDocumentInvalidError` only while no good version was ever read;
        after that the last good value is returned and the problem is logged.

        With ``version``: that kept version, read from Redis (``None`` if it is not kept).
        """
        if version is not None:
            with _mapped_errors("fetch", key):
                raw = await _documents.read_version(self.redis, self._name(key), version)
            return None if raw is None else self._decode(key, model, Stored(version, raw))
        entry = await self._track(key, model)
        if entry.value is None and entry.problem is not None:
            raise entry.problem
        value: T | None = entry.value
        return value

    def cached_version(self, key: str) -> int | None:
        """The version :meth:`fetch` returns for ``key`` now, or ``None`` (not cached, or
        no document)."""
        entry = self._entries.get(key)
        return entry.version or None if entry is not None else None

    async def versions(self, key: str) -> list[int]:
        """The kept versions of ``key``, oldest first (empty if there is no document)."""
        with _mapped_errors("versions", key):
            return await _documents.versions(self.redis, self._name(key))

    # --- writes -----------------------------------------------------------------------------

    async def update(self, key: str, value: object, *, expected_version: int | None = None) -> int:
        """Store ``value`` as the next version of ``key`` and return that version number.

        With ``expected_version``, the write happens only if the current version is that one
        (0: only if there is no document); otherwise :class:`ConfigVersionConflictError`.
        Concurrent updates each get their own version: none is lost.
        """
        try:
            payload = _codec.dumps(value)
        except TypeError as exc:
            raise StoreSerializationError(f"update {key!r}: {exc}") from exc
        entry = self._entries.get(key)
        if entry is None:
            return await self._write(key, payload, expected_version)
        async with entry.lock:
            version = await self._write(key, payload, expected_version)
            # Read-your-writes: this process sees its update before Redis announces it.
            changed = self._take(key, entry, Stored(version, payload))
        if changed:
            await self._notify(key, entry)
        return version

    async def delete(self, key: str) -> bool:
        """Delete ``key`` with its history; ``True`` if it existed. Versions restart at 1."""
        entry = self._entries.get(key)
        with _mapped_errors("delete", key):
            if entry is None:
                return bool(await self.redis.delete(self._name(key)))
            async with entry.lock:
                existed = bool(await self.redis.delete(self._name(key)))
                changed = self._take(key, entry, ABSENT)
        if changed:
            await self._notify(key, entry)
        return existed

    async def watch(self, key: str, model: type[T], callback: Callable[[T | None], object]) -> None:
        """Call ``callback`` with the new value of ``key`` (``None``: deleted) after each
        change, from any process. A coroutine function is awaited. The document is read (and
        cached) now, as by :meth:`fetch`; the callback is not called for the current value."""
        entry = await self._track(key, model)
        entry.watchers.append(callback)

    # --- the cache --------------------------------------------------------------------------

    def _name(self, key: str) -> str:
        return f"{self.prefix}:{key}"

    async def _write(self, key: str, payload: bytes, expected_version: int | None) -> int:
        with _mapped_errors("update", key):
            written, version = await _documents.write(
                self.redis,
                self._name(key),
                payload,
                expected_version=expected_version,
                keep=self.history,
            )
        if not written:
            raise ConfigVersionConflictError(key, expected_version or 0, version)
        return version

    async def _track(self, key: str, model: type[T]) -> _Entry[T]:
        await self.start()  # subscribed before the first read: no change can slip between
        entry = self._entries.get(key)
        if entry is not None and not entry.loaded:
            async with entry.lock:  # another reader is loading it: wait for its outcome
                pass
            return await self._track(key, model)  # loaded now, or dropped by a failure
        if entry is not None:
            if entry.model is not model:
                raise ConfigurationError(
                    f"config {key!r} is cached as {_label(entry.model)}; read it as that, "
                    f"or read a version (fetch(..., version=n)) as {_label(model)}"
                )
            return entry
        entry = self._entries[key] = _Entry(model)
        try:
            await self._reload(key, entry)
        except StoreError:
            # Not loaded: an entry left behind would read as "no document".
            del self._entries[key]
            raise
        entry.loaded = True
        return entry

    async def _reload(self, key: str, entry: _Entry[Any]) -> bool:
        """Read ``key`` into ``entry``; ``True`` if its value changed."""
        async with entry.lock:
            with _mapped_errors("fetch", key):
                stored = await _documents.read_current(self.redis, self._name(key))
            return self._take(key, entry, stored)

    def _take(self, key: str, entry: _Entry[Any], stored: Stored) -> bool:
        """Make ``stored`` the entry's value if it is valid; ``True`` if the value changed."""
        if stored == entry.seen:
            return False
        entry.seen = stored
        try:
            value = None if stored.version == 0 else self._decode(key, entry.model, stored)
        except ConfigDocumentInvalidError as exc:
            entry.problem = exc
            if entry.version:
                logger.error("%s; still serving version %d", exc, entry.version)
            else:
                logger.error("%s; there is no good version to serve", exc)
            return False
        entry.value, entry.version, entry.problem = value, stored.version, None
        return True

    @staticmethod
    def _decode(key: str, model: type[T], stored: Stored) -> T:
        if stored.raw is None:
            raise ConfigDocumentInvalidError(key, stored.version, "its JSON is missing")
        target: Any = model  # a type is hashable; the lru_cache signature says Hashable
        try:
            value: T = _codec.validator(target).validate_json(stored.raw)
        except ValueError as exc:
            raise ConfigDocumentInvalidError(key, stored.version, str(exc)) from exc
        return value

    async def _notify(self, key: str, entry: _Entry[Any]) -> None:
        # Called outside the entry's lock: a watcher may update the document itself.
        value = entry.value
        for watcher in list(entry.watchers):
            try:
                result = watcher(value)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                logger.exception("config %r: watcher %r failed", key, watcher)

    async def _refresh(self, key: str, entry: _Entry[Any]) -> None:
        try:
            changed = await self._reload(key, entry)
        except StoreConnectionError:
            raise  # the listener reconnects and reloads everything
        except StoreError as exc:  # e.g. a key of another type: a problem of this document
            logger.error("config %r could not be read: %s", key, exc)
            return
        if changed:
            await self._notify(key, entry)

    async def _changed(self, name: str) -> None:
        key = name.removeprefix(f"{self.prefix}:")
        entry = self._entries.get(key)
        if entry is not None:
            await self._refresh(key, entry)

    async def _resync(self) -> None:
        for key, entry in list(self._entries.items()):
            await self._refresh(key, entry)


def _label(model: object) -> str:
    return str(getattr(model, "__name__", model))
