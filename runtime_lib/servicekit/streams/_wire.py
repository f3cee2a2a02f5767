"""Round trips on a pooled connection without the command layer of redis-py.

Appending and reading events are the hot paths. Going through ``execute_command`` costs
more per command than everything else the emitter and the router do (generic argument
encoding, response callbacks, instrumentation), so these paths pack their own RESP and
read raw replies on a connection taken from the client's own pool. The pool, its
connection settings, authentication and health checks stay redis-py's.

On a Redis Cluster the connection is one of the node serving the hash slot of the round
trip's ``key``: every command of a round trip must touch that slot only (callers group
their commands so). redis-py's redirection handling is bypassed with its command layer,
so a failure that says the slot map is stale (the node is gone, ``MOVED``,
``CLUSTERDOWN``) marks the client's map for a re-read and is raised as a transient error:
the caller's retry then goes to the slot's current owner.

A connection whose replies were not all read (an error reply, a timeout, a cancellation)
is disconnected before it goes back to the pool, so the next user never reads a stale reply.
"""

from __future__ import annotations

import asyncio
import math
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from redis.asyncio.cluster import RedisCluster
from redis.crc import key_slot
from redis.exceptions import AskError, ClusterDownError, MovedError, TryAgainError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from servicekit.redis_clients import mark_stale

if TYPE_CHECKING:
    from collections.abc import Sequence

    from redis.asyncio.cluster import ClusterNode

    from servicekit.redis_clients import RedisClient


# Failures worth retrying: of the connection, and a cluster's "ask the slot's new owner"
# (MOVED, ASK), "not now" (TRYAGAIN) and "no owner yet" (CLUSTERDOWN, during a failover).
# A command error (wrong key type, out of memory) comes back the same on every try.
TRANSIENT_ERRORS = (
    RedisConnectionError,
    RedisTimeoutError,
    OSError,
    AskError,  # and MovedError, a subclass
    ClusterDownError,
    TryAgainError,
)
_CONNECTION_ERRORS = (RedisConnectionError, RedisTimeoutError, OSError)


def bulk(value: bytes) -> bytes:
    """One RESP bulk string."""
    return b"$%d\r\n%b\r\n" % (len(value), value)


# What goes before a bulk string of n bytes that follows another one, for the n of
# message ids ("<ms>-<seq>", at most 41 bytes).
_SEPARATORS = [b"\r\n$%d\r\n" % n for n in range(64)]

_MULTI = b"*1\r\n$5\r\nMULTI\r\n"
_EXEC = b"*1\r\n$4\r\nEXEC\r\n"


def command(*args: bytes, more: Sequence[bytes] = ()) -> bytes:
    """A RESP command: an array of bulk strings, ``args`` then ``more``.

    ``more`` is for many short arguments, like the message ids of a batch: they are packed
    with one join and table lookups, about three times faster than with :func:`bulk`.
    """
    packed = b"*%d\r\n" % (len(args) + len(more)) + b"".join([bulk(arg) for arg in args])
    if not more:
        return packed
    try:
        separators = [_SEPARATORS[len(value)] for value in more]
    except IndexError:  # a long argument: not worth a table entry
        return packed + b"".join([bulk(arg) for arg in more])
    separators[0] = separators[0][2:]  # no bulk string before the first one
    parts: list[bytes] = separators + separators  # the right length, then interleaved
    parts[0::2] = separators
    parts[1::2] = more
    return packed + b"".join(parts) + b"\r\n"


def same_slot(key: str, other: str) -> bool:
    """Whether two keys hash to one Redis Cluster slot (so one command or MULTI may use
    both); computed locally, on a single node as on a cluster."""
    return key_slot(key.encode()) == key_slot(other.encode())


async def round_trip(
    redis: RedisClient,
    packed: bytes,
    replies: int,
    *,
    key: str,
    timeout: float | None = None,
    sent: asyncio.Future[None] | None = None,
) -> list[Any]:
    """Send ``packed`` and read ``replies`` raw replies (bytes, never decoded).

    ``key`` names the slot every command in ``packed`` touches (on a cluster, the round
    trip goes to its node). ``timeout`` (seconds) replaces the client's socket timeout for
    the replies, which blocking reads need: a ``BLOCK`` longer than the socket timeout
    would otherwise fail. ``sent`` gets its result once the command is written, before any
    reply is read. An error reply is raised (as redis-py's ``ResponseError``).
    """
    if isinstance(redis, RedisCluster):
        return await _on_cluster(redis, packed, replies, key, timeout, sent)
    pool = redis.connection_pool
    connection: Any = await pool.get_connection()  # type: ignore[no-untyped-call]
    try:
        return await _exchange(connection, packed, replies, timeout, sent)
    except BaseException:
        await connection.disconnect()
        raise
    finally:
        await pool.release(connection)


async def transaction(redis: RedisClient, commands: Sequence[bytes], *, key: str) -> list[Any]:
    """Run packed ``commands`` in one ``MULTI``/``EXEC``, one round trip; the replies of
    ``EXEC``. Every command must touch the slot of ``key`` only.

    Packed here rather than with redis-py's pipeline: its cluster transaction runs each
    queued command in a new thread and event loop (redis-py 8.1), which may re-read the
    slot map from that loop with the client's connections.
    """
    packed = b"".join([_MULTI, *commands, _EXEC])
    replies = await round_trip(redis, packed, len(commands) + 2, key=key)
    result: list[Any] = replies[-1]
    for reply in result:  # a command that failed inside EXEC is an error in its list
        if isinstance(reply, Exception):
            raise reply
    return result


async def round_trips(redis: RedisClient, commands: Sequence[tuple[str, bytes]]) -> None:
    """Send packed ``(key, command)`` pairs, each touching its key's slot only, and wait
    for every reply: one round trip on a single node; on a cluster one per node, all at
    once, each node's commands in the order given. The first error is raised once every
    round trip has ended."""
    if not isinstance(redis, RedisCluster):
        if commands:
            await round_trip(
                redis, b"".join([c for _, c in commands]), len(commands), key=commands[0][0]
            )
        return
    await redis.initialize()
    by_node: dict[str, list[tuple[str, bytes]]] = defaultdict(list)
    for key, packed in commands:
        by_node[_node_of(redis, key).name].append((key, packed))
    results = await asyncio.gather(
        *(
            round_trip(redis, b"".join([c for _, c in group]), len(group), key=group[0][0])
            for group in by_node.values()
        ),
        return_exceptions=True,
    )
    for result in results:
        if isinstance(result, BaseException):
            raise result


def _node_of(redis: RedisCluster, key: str) -> ClusterNode:
    node = redis.get_node_from_key(key)
    assert node is not None  # only asked for a replica can it be None
    return node


async def _on_cluster(
    redis: RedisCluster,
    packed: bytes,
    replies: int,
    key: str,
    timeout: float | None,
    sent: asyncio.Future[None] | None,
) -> list[Any]:
    await redis.initialize()  # a no-op unless the slot map was marked stale
    try:
        node = _node_of(redis, key)
    except ClusterDownError:
        mark_stale(redis)
        raise
    connection: Any = node.acquire_connection()
    try:
        await node.disconnect_if_needed(connection)
        return await _exchange(connection, packed, replies, timeout, sent)
    except BaseException as exc:
        await connection.disconnect()
        if isinstance(exc, _CONNECTION_ERRORS):
            # As redis-py does itself: the node is tried last when the map is re-read.
            redis.nodes_manager.move_node_to_end_of_cached_nodes(node.name)
            mark_stale(redis)
        elif isinstance(exc, MovedError):
            await redis.nodes_manager.move_slot(exc)
        elif isinstance(exc, ClusterDownError | TryAgainError):
            mark_stale(redis)
        raise
    finally:
        node.release(connection)


async def _exchange(
    connection: Any,
    packed: bytes,
    replies: int,
    timeout: float | None,
    sent: asyncio.Future[None] | None,
) -> list[Any]:
    await connection.send_packed_command(packed)
    if sent is not None and not sent.done():
        sent.set_result(None)
    if timeout is None:
        return [await connection.read_response(disable_decoding=True) for _ in range(replies)]
    try:
        async with asyncio.timeout(timeout):
            return [
                await connection.read_response(disable_decoding=True, timeout=math.inf)
                for _ in range(replies)
            ]
    except TimeoutError as exc:
        raise RedisTimeoutError(f"no reply within {timeout}s") from exc
