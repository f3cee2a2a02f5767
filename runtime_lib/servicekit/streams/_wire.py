"""Round trips on a pooled connection without the command layer of redis-py.

Appending and reading events are the hot paths. Going through ``execute_command`` costs
more per command than everything else the emitter and the router do (generic argument
encoding, response callbacks, instrumentation), so these paths pack their own RESP and
read raw replies on a connection taken from the client's own pool. The pool, its
connection settings, authentication and health checks stay redis-py's.

On a Redis Cluster the connection is one of the node serving the hash slot of the round
trip's ``key``: every command of a round trip must touch that slot only (callers group
their commands so). redis-py's redirection handling is bypassed with its command layer,
so this module does its own: a command redirected by ``ASK`` or ``MOVED`` is sent again to
the node named, once (see :func:`_follow`). A failure that says the slot map is stale
(the node is gone, ``CLUSTERDOWN``, a redirect not followed) marks the client's map for a
re-read and is raised as a transient error: the caller's retry then goes to the slot's
current owner.

Every reply of a round trip is read, error replies included, before the first error is
raised. A connection whose replies were not all read (a timeout, a cancellation) is
disconnected before it goes back to the pool, so the next user never reads a stale reply.
"""

from __future__ import annotations

import asyncio
import math
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.cluster import PRIMARY
from redis.crc import key_slot
from redis.exceptions import (
    AskError,
    ClusterDownError,
    MovedError,
    ResponseError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from servicekit.redis_clients import mark_stale

if TYPE_CHECKING:
    from collections.abc import Sequence

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
_ASKING = b"*1\r\n$6\r\nASKING\r\n"
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
    commands: Sequence[bytes],
    *,
    key: str,
    timeout: float | None = None,
    sent: asyncio.Future[None] | None = None,
) -> list[Any]:
    """Send packed ``commands`` in one write and read their raw replies (bytes, never
    decoded), one a command.

    ``key`` names the slot every command touches (on a cluster, the round trip goes to
    its node). ``timeout`` (seconds) replaces the client's socket timeout for the replies,
    which blocking reads need: a ``BLOCK`` longer than the socket timeout would otherwise
    fail. ``sent`` gets its result once the commands are written, before any reply is
    read. Every reply is read; then the first error reply is raised (as redis-py's
    ``ResponseError``). On a cluster, a command redirected by ``ASK`` or ``MOVED`` is sent
    again to the node named, once (see :func:`_follow`).
    """
    if isinstance(redis, RedisCluster):
        return await _on_cluster(redis, commands, key, timeout, sent)
    pool = redis.connection_pool
    connection: Any = await pool.get_connection()  # type: ignore[no-untyped-call]
    try:
        replies = await _exchange(connection, b"".join(commands), len(commands), timeout, sent)
    except BaseException:
        await connection.disconnect()
        raise
    finally:
        await pool.release(connection)
    _raise_first_error(replies)
    return replies


async def transaction(redis: RedisClient, commands: Sequence[bytes], *, key: str) -> list[Any]:
    """Run packed ``commands`` in one ``MULTI``/``EXEC``, one round trip; the replies of
    ``EXEC``. Every command must touch the slot of ``key`` only.

    Packed here rather than with redis-py's pipeline: its cluster transaction runs each
    queued command in a new thread and event loop (redis-py 8.1), which may re-read the
    slot map from that loop with the client's connections.
    """
    replies = await round_trip(redis, [_MULTI, *commands, _EXEC], key=key)
    result: list[Any] = replies[-1]
    _raise_first_error(result)  # a command that failed inside EXEC is an error in its list
    return result


async def round_trips(redis: RedisClient, commands: Sequence[tuple[str, bytes]]) -> None:
    """Send packed ``(key, command)`` pairs, each touching its key's slot only, and wait
    for every reply: one round trip on a single node; on a cluster one per node, all at
    once, each node's commands in the order given. The first error is raised once every
    round trip has ended."""
    if not isinstance(redis, RedisCluster):
        if commands:
            await round_trip(redis, [c for _, c in commands], key=commands[0][0])
        return
    await redis.initialize()
    by_node: dict[str, list[tuple[str, bytes]]] = defaultdict(list)
    for key, packed in commands:
        by_node[_node_of(redis, key).name].append((key, packed))
    results = await asyncio.gather(
        *(round_trip(redis, [c for _, c in group], key=group[0][0]) for group in by_node.values()),
        return_exceptions=True,
    )
    for result in results:
        if isinstance(result, BaseException):
            raise result


def _node_of(redis: RedisCluster, key: str) -> ClusterNode:
    node = redis.get_node_from_key(key)
    assert node is not None  # only asked for a replica can it be None
    return node


def _raise_first_error(replies: Sequence[Any]) -> None:
    for reply in replies:
        if isinstance(reply, Exception):
            raise reply


async def _on_cluster(
    redis: RedisCluster,
    commands: Sequence[bytes],
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
    replies = await _on_node(redis, node, b"".join(commands), len(commands), timeout, sent)
    errors = [reply for reply in replies if isinstance(reply, Exception)]
    if not errors:
        return replies
    if any(isinstance(error, AskError) for error in errors):  # MovedError is one too
        replies = await _follow(redis, commands, replies, timeout)
    for reply in replies:
        if not isinstance(reply, Exception):
            continue
        if isinstance(reply, MovedError):
            await redis.nodes_manager.move_slot(reply)
        elif isinstance(reply, ClusterDownError | TryAgainError | AskError):
            mark_stale(redis)  # an ASK not followed: a transaction redirected in part
        raise reply
    return replies


async def _on_node(
    redis: RedisCluster,
    node: ClusterNode,
    packed: bytes,
    replies: int,
    timeout: float | None,
    sent: asyncio.Future[None] | None = None,
) -> list[Any]:
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
        raise
    finally:
        node.release(connection)


async def _follow(
    redis: RedisCluster, commands: Sequence[bytes], replies: list[Any], timeout: float | None
) -> list[Any]:
    """Send the commands a node redirected (``ASK``, ``MOVED``) to the node named, once;
    the replies with theirs in place.

    A redirected command was not run, so sending it again runs it once. ``ASK`` (a slot
    being migrated, the command's keys already on the importing node) is followed by
    ``ASKING`` and the command on one connection, in one write, as Redis Cluster asks of
    clients; ``MOVED`` by the command alone, and the slot map learns the new owner. The
    commands of a round trip that the source node did run stay run: a batch split by a
    key's migration appends its first entries on the source and the rest on the target,
    in order, once each. A ``MULTI``/``EXEC`` is followed as a whole, and only when the
    node redirected all of it (it then ran none of it); one redirected in part keeps its
    errors.
    """
    if commands[0] == _MULTI:
        queued = replies[1:-1]
        if all(isinstance(reply, AskError) for reply in queued):
            redirects = queued  # no command queued: EXEC ran none of them
        elif all(reply == b"QUEUED" for reply in queued) and isinstance(replies[-1], AskError):
            redirects = [replies[-1]]  # every command queued, EXEC itself redirected
        else:
            return replies  # redirected in part: keys split by a migration (TRYAGAIN)
        targets = {(redirect.host, redirect.port, type(redirect)) for redirect in redirects}
        if len(targets) != 1:
            return replies
        return await _resend(redis, redirects[0], [commands], timeout)
    by_target: dict[tuple[str, int, bool], list[int]] = defaultdict(list)
    for index, reply in enumerate(replies):
        if isinstance(reply, AskError):
            by_target[reply.host, reply.port, isinstance(reply, MovedError)].append(index)
    result = list(replies)
    for indexes in by_target.values():
        units = [[commands[index]] for index in indexes]
        followed = await _resend(redis, replies[indexes[0]], units, timeout)
        for index, reply in zip(indexes, followed, strict=True):
            result[index] = reply
    return result


async def _resend(
    redis: RedisCluster,
    redirect: AskError,
    units: Sequence[Sequence[bytes]],
    timeout: float | None,
) -> list[Any]:
    """Send ``units`` of commands to the node ``redirect`` names, in one write, each unit
    after an ``ASKING`` unless it is a ``MOVED``; their replies. (``ASKING`` lasts one
    command, or one ``MULTI``/``EXEC``.)"""
    moved = isinstance(redirect, MovedError)
    if moved:
        await redis.nodes_manager.move_slot(redirect)  # which adds a node it did not know
    node = redis.get_node(host=redirect.host, port=redirect.port) or _new_node(redis, redirect)
    prefix = [] if moved else [_ASKING]
    packed = b"".join([part for unit in units for part in (*prefix, *unit)])
    count = sum(len(prefix) + len(unit) for unit in units)
    replies = await _on_node(redis, node, packed, count, timeout)
    if moved:
        return replies
    kept: list[Any] = []  # without ASKING's +OK before each unit
    position = 0
    for unit in units:
        kept += replies[position + 1 : position + 1 + len(unit)]
        position += 1 + len(unit)
    return kept


def _new_node(redis: RedisCluster, redirect: AskError) -> ClusterNode:
    """A node for the target of an ``ASK`` that the slot map does not list: a primary
    that serves no slot yet (the first slot moving to a node added to the cluster). Kept
    with the others until the slot map is read again, as redis-py does on ``MOVED``."""
    manager = redis.nodes_manager
    node = ClusterNode(redirect.host, redirect.port, PRIMARY, **manager.connection_kwargs)
    manager.set_nodes(manager.nodes_cache, {node.name: node})
    return node


async def _exchange(
    connection: Any,
    packed: bytes,
    replies: int,
    timeout: float | None,
    sent: asyncio.Future[None] | None,
) -> list[Any]:
    """Write ``packed`` and read ``replies`` replies; an error reply is returned in its
    place (read in full, it leaves the connection usable)."""
    await connection.send_packed_command(packed)
    if sent is not None and not sent.done():
        sent.set_result(None)
    if timeout is None:
        return [await _reply(connection, None) for _ in range(replies)]
    try:
        async with asyncio.timeout(timeout):
            return [await _reply(connection, math.inf) for _ in range(replies)]
    except TimeoutError as exc:
        raise RedisTimeoutError(f"no reply within {timeout}s") from exc


async def _reply(connection: Any, timeout: float | None) -> Any:
    try:
        return await connection.read_response(disable_decoding=True, timeout=timeout)
    except ResponseError as exc:
        return exc
