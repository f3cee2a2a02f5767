"""Moving an entry between a stream and its dead-letter stream, atomically where it can.

Dead-lettering appends the dead letter and acknowledges the source entry; a replay
appends the entry again and deletes the dead letter. Each is one ``MULTI``/``EXEC`` when
both keys share a Redis Cluster slot (always on a single node, and on a cluster with the
dead-letter stream named by :func:`~servicekit.streams.keys.dead_letter_stream`), so the
entry is never lost nor duplicated by a crash in between. Two keys on different slots of a
cluster cannot be in one transaction: there the write comes first and the removal second,
so a crash in between duplicates the entry (dead-lettered or replayed twice), never loses it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from redis.asyncio.cluster import RedisCluster

from servicekit.streams._wire import command, round_trip, same_slot, transaction

if TYPE_CHECKING:
    from collections.abc import Mapping

    from servicekit.redis_clients import RedisClient


def atomic(redis: RedisClient, stream: str, dlq_stream: str) -> bool:
    """Whether moves between these two streams are one transaction on ``redis``."""
    return not isinstance(redis, RedisCluster) or same_slot(stream, dlq_stream)


async def dead_letter(
    redis: RedisClient,
    *,
    stream: str,
    group: str,
    message_id: Any,
    dlq_stream: str,
    dlq_maxlen: int,
    letter: Mapping[str, str | bytes],
) -> None:
    """Append ``letter`` to ``dlq_stream`` (``MAXLEN ~ dlq_maxlen``) and acknowledge
    ``message_id`` of ``stream`` for ``group``."""
    append = _xadd(dlq_stream, letter, maxlen=dlq_maxlen)
    ack = command(b"XACK", stream.encode(), group.encode(), _bytes(message_id))
    if atomic(redis, stream, dlq_stream):
        await transaction(redis, [append, ack], key=stream)
        return
    await round_trip(redis, [append], key=dlq_stream)
    await round_trip(redis, [ack], key=stream)


async def put_back(
    redis: RedisClient,
    *,
    stream: str,
    entry: Mapping[str, str | bytes],
    dlq_stream: str,
    letter_id: str | None,
) -> str:
    """Append ``entry`` to ``stream`` and delete dead letter ``letter_id`` (None: keep
    it); the new entry's id."""
    append = _xadd(stream, entry)
    if letter_id is None:
        (new_id,) = await round_trip(redis, [append], key=stream)
        return str(new_id.decode())
    delete = command(b"XDEL", dlq_stream.encode(), letter_id.encode())
    if atomic(redis, stream, dlq_stream):
        new_id, _ = await transaction(redis, [append, delete], key=stream)
    else:
        (new_id,) = await round_trip(redis, [append], key=stream)
        await round_trip(redis, [delete], key=dlq_stream)
    return str(new_id.decode())


def _xadd(stream: str, fields: Mapping[str, str | bytes], *, maxlen: int | None = None) -> bytes:
    trim = () if maxlen is None else (b"MAXLEN", b"~", b"%d" % maxlen)
    pairs = [_bytes(part) for name, value in fields.items() for part in (name, value)]
    return command(b"XADD", stream.encode(), *trim, b"*", *pairs)


def _bytes(value: Any) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()
