"""The holder's lease, renewed in the background for as long as its operation runs."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from redis.exceptions import RedisError

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from servicekit.kv._records import Record


@asynccontextmanager
async def renewed(record: Record, lease_ms: int) -> AsyncIterator[None]:
    """Renew ``record``'s lease every third of ``lease_ms`` until the block exits."""
    renewer = asyncio.create_task(_renew(record, lease_ms), name=f"lease:{record.key}")
    try:
        yield
    finally:
        renewer.cancel()
        await asyncio.wait([renewer])


async def _renew(record: Record, lease_ms: int) -> None:
    # A third of the lease: one renewal can fail (a Redis blip, a busy event loop) and the
    # next still lands before the lease lapses.
    while True:
        await asyncio.sleep(lease_ms / 3000)
        try:
            if not await record.renew(lease_ms):
                # The lease lapsed and the record may be another holder's now. The
                # operation goes on (stopping it half-way would be worse); completing
                # compares the token again and reports the loss.
                return
        except RedisError:
            continue  # the next renewal may still make it; completing is the judge
