"""Round trips on a pooled connection without the command layer of redis-py.

Appending and reading events are the hot paths. Going through ``execute_command`` costs
more per command than everything else the emitter and the router do (generic argument
encoding, response callbacks, instrumentation), so these paths pack their own RESP and
read raw replies on a connection taken from the client's own pool. The pool, its
connection settings, authentication and health checks stay redis-py's.

A connection whose replies were not all read (an error reply, a timeout, a cancellation)
is disconnected before it goes back to the pool, so the next user never reads a stale reply.
"""

from __future__ import annotations

import asyncio
import math
from typing import TYPE_CHECKING, Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from redis.asyncio import Redis


# Failures of the connection, worth retrying; a command error (wrong key type, out of
# memory) comes back the same on every try.
TRANSIENT_ERRORS = (RedisConnectionError, RedisTimeoutError, OSError)


def bulk(value: bytes) -> bytes:
    """One RESP bulk string."""
    return b"$%d\r\n%b\r\n" % (len(value), value)


# What goes before a bulk string of n bytes that follows another one, for the n of
# message ids ("<ms>-<seq>", at most 41 bytes).
_SEPARATORS = [b"\r\n$%d\r\n" % n for n in range(64)]


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


async def round_trip(
    redis: Redis,
    packed: bytes,
    replies: int,
    *,
    timeout: float | None = None,
    sent: asyncio.Future[None] | None = None,
) -> list[Any]:
    """Send ``packed`` and read ``replies`` raw replies (bytes, never decoded).

    ``timeout`` (seconds) replaces the client's socket timeout for the replies, which
    blocking reads need: a ``BLOCK`` longer than the socket timeout would otherwise fail.
    ``sent`` gets its result once the command is written, before any reply is read.
    An error reply is raised (as redis-py's ``ResponseError``).
    """
    pool = redis.connection_pool
    connection: Any = await pool.get_connection()  # type: ignore[no-untyped-call]
    try:
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
    except BaseException:
        await connection.disconnect()
        raise
    finally:
        await pool.release(connection)
