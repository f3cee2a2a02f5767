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

from redis.exceptions import TimeoutError as RedisTimeoutError

if TYPE_CHECKING:
    from redis.asyncio import Redis


def bulk(value: bytes) -> bytes:
    """One RESP bulk string."""
    return b"$%d\r\n%b\r\n" % (len(value), value)


def command(*args: bytes) -> bytes:
    """A RESP command: an array of bulk strings."""
    return b"*%d\r\n" % len(args) + b"".join(bulk(arg) for arg in args)


async def round_trip(
    redis: Redis, packed: bytes, replies: int, *, timeout: float | None = None
) -> list[Any]:
    """Send ``packed`` and read ``replies`` raw replies (bytes, never decoded).

    ``timeout`` (seconds) replaces the client's socket timeout for the replies, which
    blocking reads need: a ``BLOCK`` longer than the socket timeout would otherwise fail.
    An error reply is raised (as redis-py's ``ResponseError``).
    """
    pool = redis.connection_pool
    connection: Any = await pool.get_connection()  # type: ignore[no-untyped-call]
    try:
        await connection.send_packed_command(packed)
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
