"""Idempotency keys: run an operation once per key, replay its result, refuse reuse.

The semantics are those of Stripe's idempotency keys and of the IETF ``Idempotency-Key``
header draft: the first request with a key runs; a concurrent one with the same key is
told the first is still in progress (a 409), never run a second time; a finished one is
replayed with its status; a failed one frees the key, so a retry can run; and a key sent
again with a different payload is refused (a 422).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import secrets
from typing import TYPE_CHECKING, Any

import orjson
from redis.exceptions import RedisError

from servicekit.errors import (
    IdempotencyError,
    IdempotencyInProgressError,
    IdempotencyKeyReusedError,
    IdempotencyLeaseLostError,
)
from servicekit.kv._lease import renewed
from servicekit.kv._records import Claimed, Finished, Record, Reused, Running
from servicekit.kv._values import ms

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from servicekit.redis_clients import RedisClient

__all__ = [
    "IdempotencyError",
    "IdempotencyInProgressError",
    "IdempotencyKeyReusedError",
    "IdempotencyLeaseLostError",
    "idempotent_execute",
]


async def idempotent_execute(
    redis: RedisClient,
    *,
    key: str,
    compute: Callable[[], Awaitable[Any]],
    fingerprint: bytes | str | None = None,
    status_code: int = 200,
    ttl: float = 86400,
    lease: float = 10.0,
    wait: float = 0.0,
    poll_interval: float = 0.05,
    namespace: str = "idempotency",
) -> tuple[Any, int, bool]:
    """Run ``compute`` exactly once per idempotency ``key`` and replay its result afterwards.

    Returns ``(body, status_code, is_replay)``. The body must be JSON-serialisable (it is
    stored with orjson); every caller, the first included, gets the decoded JSON, so e.g.
    a datetime comes back as its ISO string.

    The first caller claims the key for ``lease`` seconds and renews the lease every third
    of it while ``compute`` runs. Another caller with the same key gets, in this order:

    - :class:`IdempotencyKeyReusedError` if its ``fingerprint`` (the request's payload, or
      any bytes or text standing for it; compared by SHA-256) differs from the first's;
    - the first result, replayed with its ``status_code``, for ``ttl`` seconds after it
      finished;
    - :class:`IdempotencyInProgressError` (with ``retry_after``) while the holder runs,
      after polling every ``poll_interval`` seconds for up to ``wait`` seconds (none by
      default) in case it finishes; ``compute`` never runs a second time meanwhile.

    If ``compute`` raises (or is cancelled), the key is released and the error
    propagates: the next call with the key runs. If the holder dies, its lease lapses
    after ``lease`` seconds and one later caller runs. A holder whose lease lapsed before
    it finished cannot record its result over another holder's:
    :class:`IdempotencyLeaseLostError`.
    """
    record = Record(redis, f"{namespace}:{key}", secrets.token_hex(16), _digest(fingerprint))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    while True:
        match await record.claim(ms(lease)):
            case Claimed():
                break
            case Finished(body=body, status_code=stored_status):
                return body, stored_status, True
            case Reused():
                raise IdempotencyKeyReusedError(key)
            case Running(retry_after=retry_after):
                if loop.time() + poll_interval > deadline:
                    raise IdempotencyInProgressError(key, retry_after)
                await asyncio.sleep(poll_interval)

    try:
        async with renewed(record, ms(lease)):
            body = await compute()
        encoded = orjson.dumps(body, default=str)
    except BaseException:
        # An error, a body JSON cannot hold or a cancelled request: nothing finished, so
        # the key is freed for a retry. If Redis cannot be told, the lease lapses by
        # itself, and the caller should see compute's error rather than Redis'.
        with contextlib.suppress(RedisError):
            await record.release()
        raise
    if not await record.complete(status_code, encoded, ms(ttl)):
        raise IdempotencyLeaseLostError(key, body)
    return orjson.loads(encoded), status_code, False


def _digest(fingerprint: bytes | str | None) -> str:
    # A digest, not the payload: records stay small and hold no request data.
    if fingerprint is None:
        return ""
    data = fingerprint.encode() if isinstance(fingerprint, str) else fingerprint
    return hashlib.sha256(data).hexdigest()
