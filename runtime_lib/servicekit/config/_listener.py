"""Keeping a config store's cache current: keyspace notifications, else polling.

Redis announces a change to a key on ``__keyspace@<db>__:<key>`` only when
``notify-keyspace-events`` asks for it. The listener checks the setting each time it
connects, adds the flags it needs when Redis lets it (keeping every flag already set, which
other clients may rely on), and subscribes. When Redis refuses ``CONFIG`` (managed Redis,
ACLs) it says which flags to set and polls instead. Either way, every (re)connection
reloads every document: nothing is announced to a client that is not connected.

A Redis Cluster announces a change only on the node that holds the key, so on a cluster
all of this is done on every primary (each with a connection of its own); losing any of
them ends the session, and the next one re-reads the slot map (a replica may have been
promoted) and starts over on the primaries it names.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from typing import TYPE_CHECKING, Any

from redis.asyncio.cluster import RedisCluster
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisClusterException, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from servicekit._text import as_text
from servicekit.errors import StoreConnectionError
from servicekit.redis_clients import mark_stale, node_clients

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from redis.asyncio import Redis
    from redis.asyncio.client import PubSub

    from servicekit.redis_clients import RedisClient

logger = logging.getLogger("servicekit.config")

# K: publish on keyspace channels (named after the key); h: hash commands (HSET, HDEL);
# g: generic commands (DEL, RENAME, EXPIRE). Documents are hashes changed by those.
REQUIRED_FLAGS = "Kgh"
# What the alias "A" stands for in notify-keyspace-events (Redis 6 and 7).
_ALIAS_A = "g$lshzxetd"
_SETTING = "notify-keyspace-events"

# Failures that mean the connection is gone: reconnect, then reload everything.
_DISCONNECTED = (
    RedisConnectionError,
    RedisTimeoutError,
    OSError,
    StoreConnectionError,
    RedisClusterException,  # no node of a cluster answers
)
# Delays between reconnection attempts: 0.1, 0.2, 0.4, ... seconds, at most 2.
_FIRST_DELAY = 0.1
_MAX_DELAY = 2.0
# How long one wait for a message lasts; bounds how late a periodic resync can be.
_WAIT = 1.0

_GLOB_SPECIAL = re.compile(r"([\\*?\[\]])")


def missing_flags(configured: str) -> str:
    """The :data:`REQUIRED_FLAGS` that ``configured`` lacks, in order."""
    have = set(configured.replace("A", _ALIAS_A))
    return "".join(flag for flag in REQUIRED_FLAGS if flag not in have)


async def enable_notifications(redis: Redis, *, configure: bool) -> str | None:
    """Make Redis announce document changes; ``None`` if it does, else why it does not."""
    try:
        reply: dict[Any, Any] = await redis.config_get(_SETTING)
    except ResponseError as exc:  # CONFIG renamed away, or not permitted to this user
        return f"CONFIG GET {_SETTING} was refused ({exc})"
    configured = next((as_text(v) for k, v in reply.items() if as_text(k) == _SETTING), "")
    missing = missing_flags(configured)
    if not missing:
        return None
    if not configure:
        return f"{_SETTING} is {configured!r} and configure_notifications is off"
    try:
        await redis.config_set(_SETTING, configured + missing)
    except ResponseError as exc:
        return f"CONFIG SET {_SETTING} was refused ({exc})"
    logger.info("added %r to %s (it was %r)", missing, _SETTING, configured)
    return None


class Listener:
    """The background task that tells a store which documents changed.

    ``changed(name)`` is awaited with the Redis key of a document Redis announced a change
    of; ``resync()`` reloads every document: after each (re)connection, every
    ``resync_interval`` seconds as a safety net, and every ``poll_interval`` seconds when
    Redis does not announce changes.
    """

    def __init__(
        self,
        redis: RedisClient,
        *,
        prefix: str,
        configure: bool,
        poll_interval: float,
        resync_interval: float,
        changed: Callable[[str], Awaitable[None]],
        resync: Callable[[], Awaitable[None]],
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        self._configure = configure
        self._poll_interval = poll_interval
        self._resync_interval = resync_interval
        self._changed = changed
        self._resync = resync
        self._task: asyncio.Task[None] | None = None
        self._ready: asyncio.Future[None] | None = None
        self._closing = False
        self.polling = False
        """True while Redis does not announce changes and documents are polled."""

    def _pattern(self, node: Redis) -> str:
        db = node.connection_pool.connection_kwargs.get("db", 0)
        prefix = _GLOB_SPECIAL.sub(r"\\\1", self._prefix)  # a "*" in it is no wildcard
        return f"__keyspace@{db}__:{prefix}:*"

    async def start(self) -> None:
        """Connect and subscribe (or start polling); raises if Redis cannot be reached."""
        loop = asyncio.get_running_loop()
        self._ready = loop.create_future()
        self._task = loop.create_task(self._run(), name=f"servicekit.config:{self._prefix}")
        try:
            await self._ready
        except BaseException:
            await self.aclose()
            raise

    async def aclose(self) -> None:
        """Stop listening."""
        # A read cancelled as its timeout expires comes back from redis-py as "no message",
        # the cancellation lost: every loop also checks the flag, and the task is cancelled
        # until it has ended.
        self._closing = True
        task, self._task = self._task, None
        while task is not None and not task.done():
            task.cancel()
            # RuntimeError: the task belongs to an event loop that is already closed.
            with contextlib.suppress(RuntimeError):
                await asyncio.wait([task], timeout=_WAIT)
        if task is not None and not task.cancelled():
            task.exception()  # retrieved: an error raised while closing is not logged as lost

    async def _run(self) -> None:
        delay = _FIRST_DELAY
        while not self._closing:
            try:
                await self._session()
                delay = _FIRST_DELAY  # a session that ended on its own: the next starts now
                continue
            except Exception as exc:
                if self._closing:
                    return
                if self._ready is not None and not self._ready.done():
                    self._ready.set_exception(exc)  # start() raises it; nothing runs on
                    return
                if isinstance(exc, _DISCONNECTED):
                    logger.warning(
                        "config store %r lost Redis (%s: %s); reconnecting in %.1f s, then "
                        "reloading every document (changes made meanwhile were not announced)",
                        self._prefix,
                        type(exc).__name__,
                        exc,
                        delay,
                    )
                else:
                    logger.exception(
                        "config store %r: listener failed; restarting in %.1f s",
                        self._prefix,
                        delay,
                    )
            await asyncio.sleep(delay)
            delay = min(delay * 2, _MAX_DELAY)

    def _started(self) -> None:
        if self._ready is not None and not self._ready.done():
            self._ready.set_result(None)

    async def _session(self) -> None:
        """One connection's worth of listening (or polling); returns to re-check the flags."""
        if not isinstance(self._redis, RedisCluster):
            await self._session_on([self._redis])
            return
        mark_stale(self._redis)  # a node may have failed over since the map was read
        await self._redis.initialize()
        nodes = node_clients(self._redis)
        try:
            await self._session_on(nodes)
        finally:
            for node in nodes:
                with contextlib.suppress(*_DISCONNECTED):
                    await node.aclose()

    async def _session_on(self, nodes: list[Redis]) -> None:
        """A session on the nodes that announce changes: the one Redis, or every primary."""
        for node in nodes:
            problem = await enable_notifications(node, configure=self._configure)
            if problem is not None:
                if len(nodes) > 1:
                    problem = f"{_address(node)}: {problem}"
                await self._poll(problem)
                return
        pubsubs = [node.pubsub() for node in nodes]
        try:
            for node, pubsub in zip(nodes, pubsubs, strict=True):
                await pubsub.psubscribe(self._pattern(node))
            # Subscribed before reloading: a change made in between is announced, not lost.
            await self._resync()
            if self.polling:
                logger.info(
                    "config store %r: Redis announces changes, polling stopped", self._prefix
                )
            self.polling = False
            self._started()
            await self._listen(pubsubs)
        finally:
            for pubsub in pubsubs:
                with contextlib.suppress(*_DISCONNECTED):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def _listen(self, pubsubs: list[PubSub]) -> None:
        """Reload each document announced on any of ``pubsubs``, until the resync is due;
        raises as soon as one of them fails."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._resync_interval
        announced: asyncio.Queue[str] = asyncio.Queue()
        stop = asyncio.Event()
        readers = [loop.create_task(self._read(pubsub, announced, stop)) for pubsub in pubsubs]
        try:
            while not self._closing and (remaining := deadline - loop.time()) > 0:
                next_name = loop.create_task(announced.get())
                done, _ = await asyncio.wait(
                    [next_name, *readers],
                    timeout=min(_WAIT, remaining),
                    return_when=asyncio.FIRST_COMPLETED,
                )
                if next_name not in done:
                    next_name.cancel()
                for reader in readers:
                    if reader.done():
                        reader.result()  # a reader ends only by failing: raise its error
                if next_name in done:
                    await self._changed(next_name.result())
        finally:
            stop.set()
            for reader in readers:
                reader.cancel()
            await asyncio.gather(*readers, return_exceptions=True)
        # Someone may have turned the flags off since: the next session checks them again.

    async def _read(
        self, pubsub: PubSub, announced: asyncio.Queue[str], stop: asyncio.Event
    ) -> None:
        # Reads in short waits and checks the flags in between: a read cancelled as its
        # timeout expires can come back from redis-py as "no message", the cancellation lost.
        while not stop.is_set() and not self._closing:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=_WAIT)
            if message is not None:
                announced.put_nowait(self._name(message))

    @staticmethod
    def _name(message: dict[str, Any]) -> str:
        # "__keyspace@0__:<key>": the key is everything after the first colon.
        return as_text(message["channel"]).split(":", 1)[1]

    async def _poll(self, problem: str) -> None:
        if not self.polling:
            logger.warning(
                "config store %r: Redis does not announce changes to documents: %s. Set "
                "notify-keyspace-events to include %r (e.g. `CONFIG SET notify-keyspace-events "
                "%s`, or in redis.conf or your provider's parameter group); until then "
                "documents are polled every %s s",
                self._prefix,
                problem,
                REQUIRED_FLAGS,
                REQUIRED_FLAGS,
                self._poll_interval,
            )
            self.polling = True
        await self._resync()
        self._started()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._resync_interval
        while not self._closing and loop.time() < deadline:
            await asyncio.sleep(self._poll_interval)
            await self._resync()


def _address(node: Redis) -> str:
    kwargs = node.connection_pool.connection_kwargs
    return f"{kwargs.get('host')}:{kwargs.get('port')}"
