"""Another process of the service: writes ``count`` versions of a document, ``pause`` apart.

Run as ``python _writer.py <redis url> <prefix> <key> <count> <pause>``; each version
carries the wall-clock time it was sent, for the reader to measure how late it arrived.
"""

from __future__ import annotations

import asyncio
import sys
import time

from servicekit.config import RedisConfigStore


async def main(url: str, prefix: str, key: str, count: int, pause: float) -> None:
    async with RedisConfigStore.from_url(url, prefix=prefix) as store:
        for n in range(count):
            await asyncio.sleep(pause)
            await store.update(key, {"n": n, "sent_at": time.time()})


if __name__ == "__main__":
    url, prefix, key, count, pause = sys.argv[1:]
    asyncio.run(main(url, prefix, key, int(count), float(pause)))
