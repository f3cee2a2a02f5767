"""The relay test_crash.py SIGKILLs mid-run: ``python _victim.py DB_URL REDIS_URL BATCH``
(``REDIS_URL`` may name a cluster).

Its commits are slowed down, so most of its time is spent between a batch's XADD and
its commit: a kill then most likely lands where the batch must be sent again.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.orm import sessionmaker

from servicekit.outbox import OutboxRelay
from servicekit.redis_clients import connect
from tests.runtime.outbox.models import OutboxMessage


async def main(db_url: str, redis_url: str, batch_size: str) -> None:
    engine = create_engine(db_url)

    @event.listens_for(engine, "commit")
    def slow_commit(connection: Any) -> None:
        time.sleep(0.01)

    relay = OutboxRelay(
        sessionmaker(engine),
        OutboxMessage,
        await connect(redis_url),
        batch_size=int(batch_size),
        poll_interval=0.01,
    )
    await relay.run()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:]))
