"""A client process of test_idempotency.py: ``python _idempotency_client.py URL NAMESPACE MODE``
(``URL``: a single Redis or a ``redis+cluster://`` one).

``finish``: runs the operation for key ``pay``, prints what it returned as JSON and
exits. ``hang``: claims ``pay`` with a 3-second lease, counts its start in
``NAMESPACE:started`` and then computes forever, until the test SIGKILLs it.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime

import orjson

from servicekit import kv
from servicekit.redis_clients import connect


async def main(url: str, namespace: str, mode: str) -> None:
    client = await connect(url)  # a single node or a cluster

    async def charge() -> dict[str, object]:
        await client.incr(f"{namespace}:started")
        if mode == "hang":
            await asyncio.Event().wait()
        return {"charge": "ch_1", "at": datetime(2024, 5, 1, tzinfo=UTC)}

    outcome = await kv.idempotent_execute(
        client, key="pay", compute=charge, status_code=201, lease=3.0, namespace=namespace
    )
    print(orjson.dumps(outcome).decode())
    await client.aclose()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:]))
