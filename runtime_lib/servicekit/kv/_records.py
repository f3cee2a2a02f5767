"""The Redis record of one idempotency key, and each of its transitions as one Lua script.

The record is a hash at ``"{namespace}:{key}"``:

- ``state``: ``running`` while a holder runs the operation, ``done`` once it finished;
- ``token``: the holder's random token; only the holder that claimed the record may
  renew, complete or release it (a fencing token: a holder whose lease lapsed, and whose
  record another caller has claimed since, changes nothing);
- ``fingerprint``: the SHA-256 of the request's payload (empty without one);
- ``status`` and ``body`` once done: the status code and the JSON-encoded result.

While running, the record's expiry *is* the holder's lease: a holder that dies leaves a
record that expires by itself, and the next caller claims the key afresh. Once done, the
expiry is the replay window (``ttl``).

Every script names only the record in ``KEYS``, so all of them work on Redis Cluster.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from servicekit.kv._values import as_text

if TYPE_CHECKING:
    from servicekit.redis_clients import RedisClient

# Claim the key, or say why not, in one step: two callers can never both claim it, and
# a payload mismatch is reported whatever state the record is in. Before the record was
# a hash, servicekit stored a finished result as a plain string of
# {"status_code", "body"}: such a record (left by an older deploy, within its ttl) is
# replayed, not overwritten and not run again.
_CLAIM = """
if redis.call('TYPE', KEYS[1])['ok'] == 'string' then
    return {'legacy', redis.call('GET', KEYS[1])}
end
local state = redis.call('HGET', KEYS[1], 'state')
if not state then
    redis.call('HSET', KEYS[1], 'state', 'running', 'token', ARGV[1], 'fingerprint', ARGV[2])
    redis.call('PEXPIRE', KEYS[1], ARGV[3])
    return {'claimed'}
end
if redis.call('HGET', KEYS[1], 'fingerprint') ~= ARGV[2] then
    return {'reused'}
end
if state == 'done' then
    local stored = redis.call('HMGET', KEYS[1], 'status', 'body')
    return {'done', stored[1], stored[2]}
end
return {'running', redis.call('PTTL', KEYS[1])}
"""

# The three holder transitions compare the token first: after a lapsed lease the record
# may be someone else's, and must then be left alone.
_RENEW = """
local held = redis.call('HMGET', KEYS[1], 'state', 'token')
if held[1] == 'running' and held[2] == ARGV[1] then
    return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

_COMPLETE = """
local held = redis.call('HMGET', KEYS[1], 'state', 'token')
if held[1] ~= 'running' or held[2] ~= ARGV[1] then
    return 0
end
redis.call('HSET', KEYS[1], 'state', 'done', 'status', ARGV[2], 'body', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
"""

_RELEASE = """
local held = redis.call('HMGET', KEYS[1], 'state', 'token')
if held[1] == 'running' and held[2] == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""


@dataclass(frozen=True, slots=True)
class Claimed:
    """The caller holds the key now and must run the operation."""


@dataclass(frozen=True, slots=True)
class Running:
    """Another caller holds the key; its lease ends in ``retry_after`` seconds or fewer."""

    retry_after: int


@dataclass(frozen=True, slots=True)
class Finished:
    """The operation ran before: this is its result."""

    body: Any
    status_code: int


@dataclass(frozen=True, slots=True)
class Reused:
    """The key was claimed with a different payload fingerprint."""


@dataclass(frozen=True, slots=True)
class Record:
    """One idempotency key's record, as seen by one caller (its token and fingerprint)."""

    redis: RedisClient
    key: str
    token: str
    fingerprint: str

    async def claim(self, lease_ms: int) -> Claimed | Running | Finished | Reused:
        """Claim the key for ``lease_ms`` milliseconds, or report who has it."""
        reply = await self.redis.eval(_CLAIM, 1, self.key, self.token, self.fingerprint, lease_ms)
        verdict = as_text(reply[0])
        if verdict == "claimed":
            return Claimed()
        if verdict == "reused":
            return Reused()
        if verdict == "running":
            # PTTL is -1 only for a record someone stripped of its expiry: say 1 second.
            return Running(retry_after=max(1, math.ceil(int(reply[1]) / 1000)))
        if verdict == "legacy":
            stored = orjson.loads(reply[1])
            return Finished(body=stored["body"], status_code=int(stored["status_code"]))
        return Finished(body=orjson.loads(reply[2]), status_code=int(reply[1]))

    async def renew(self, lease_ms: int) -> bool:
        """Extend the lease; ``False`` when the record is no longer ours."""
        return bool(await self.redis.eval(_RENEW, 1, self.key, self.token, lease_ms))

    async def complete(self, status_code: int, body: bytes, ttl_ms: int) -> bool:
        """Store the result for replays; ``False`` when the record is no longer ours."""
        reply = await self.redis.eval(_COMPLETE, 1, self.key, self.token, status_code, body, ttl_ms)
        return bool(reply)

    async def release(self) -> None:
        """Delete the record while it is still ours and running, so a retry can run."""
        await self.redis.eval(_RELEASE, 1, self.key, self.token)
