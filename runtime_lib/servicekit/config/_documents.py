"""How configuration documents are laid out in Redis, and the commands that read them.

One hash per document, at ``"{prefix}:{key}"``: field ``current`` holds the current
version number, and one field per kept version (``"1"``, ``"2"``, ...) holds that
version's JSON. Everything about a document is in one key, so one keyspace notification
(``hset``/``del``) announces any change to it, and one ``DEL`` removes it with its history.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from servicekit._text import as_text

if TYPE_CHECKING:
    from servicekit.redis_clients import RedisClient

CURRENT = "current"

# Read the current version and its JSON in one round trip, atomically: two commands could
# pair the pointer of one update with the document of the next.
_READ = """
local version = redis.call('HGET', KEYS[1], 'current')
if not version then
    return {}
end
return {version, redis.call('HGET', KEYS[1], version)}
"""

# Write the next version, move the pointer, and drop versions beyond the history limit, as
# one script: concurrent writers each get their own version number, none is lost, and an
# expected_version check cannot race the write it guards. Returns {written, version}: the
# new version, or {0, current} when the expected version is not the stored one.
_WRITE = """
local current = tonumber(redis.call('HGET', KEYS[1], 'current') or '0')
if ARGV[2] ~= '' and tonumber(ARGV[2]) ~= current then
    return {0, current}
end
local version = current + 1
redis.call('HSET', KEYS[1], version, ARGV[1], 'current', version)
local keep = tonumber(ARGV[3])
if keep > 0 then
    local old = version - keep
    while old > 0 and redis.call('HDEL', KEYS[1], old) == 1 do
        old = old - 1
    end
end
return {1, version}
"""


@dataclass(frozen=True, slots=True)
class Stored:
    """What Redis holds for one document: ``version`` 0 and ``raw`` None when nothing.

    ``raw`` is also None when the pointer names a version whose field is gone (a document
    edited by hand): the caller reports that as an invalid document.
    """

    version: int
    raw: bytes | None


ABSENT = Stored(0, None)


def _bytes(value: bytes | str) -> bytes:
    # Works with clients created with or without decode_responses=True.
    return value.encode() if isinstance(value, str) else value


async def read_current(redis: RedisClient, name: str) -> Stored:
    """The current version of the document at ``name`` and its JSON."""
    reply = await redis.eval(_READ, 1, name)
    if not reply:
        return ABSENT
    version, raw = reply
    return Stored(int(as_text(version)), None if raw is None else _bytes(raw))


async def read_version(redis: RedisClient, name: str, version: int) -> bytes | None:
    """The JSON of one kept ``version``, or None if it was never written or was dropped."""
    raw: bytes | str | None = await redis.hget(name, str(version))
    return None if raw is None else _bytes(raw)


async def write(
    redis: RedisClient, name: str, payload: bytes, *, expected_version: int | None, keep: int
) -> tuple[bool, int]:
    """Store ``payload`` as the next version: ``(True, new)``, or ``(False, current)``."""
    expected = "" if expected_version is None else str(expected_version)
    reply = await redis.eval(_WRITE, 1, name, payload, expected, keep)
    return bool(int(reply[0])), int(reply[1])


async def versions(redis: RedisClient, name: str) -> list[int]:
    """The kept version numbers of the document at ``name``, oldest first."""
    fields: list[bytes | str] = await redis.hkeys(name)
    return sorted(int(text) for text in map(as_text, fields) if text.isdigit())
