"""A generated cached lookup (``get_by_slug``) against the two ways of doing without it.

Run: ``.venv/bin/python benchmarks/bench_lookups.py`` (Postgres and Redis as for the tests).

Renders a service from this working tree with ``Product(slug: str unique, name: str,
price: decimal)`` and ``repository: {cached: [by_slug]}``, loads 1,000 rows, and times,
per call, in interleaved rounds on one event loop:

* the generated ``ProductRepository.get_by_slug`` on a cache hit, against the same lookup
  uncached (``get_by(slug=...)`` on Postgres + ``ProductRead.model_validate``): target
  <= 0.25x;
* the same hit against a hand-written redis-py ``GET`` + ``orjson.loads`` +
  ``ProductRead.model_validate``: target <= 1.10x.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import redis.asyncio

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import Report, interleaved
from _template_copy import render_manifest

from servicekit import cache, database
from servicekit.testgres import DatabaseFactory, resolve_postgres

ROWS = 1_000
CALLS_PER_ROUND = 2_000
MANIFEST = """\
manifest_version: 1
service: bench-svc
package: bench_svc
database: {schema: null, async: true}
entities:
  - name: Product
    fields:
      - {name: slug, type: str, max_length: 80, unique: true}
      - {name: name, type: str}
      - {name: price, type: decimal}
    repository: {cached: [by_slug]}
"""


def timed(
    loop: asyncio.AbstractEventLoop, call: Callable[[str], Awaitable[Any]]
) -> Callable[[], float]:
    slugs = [f"product-{random.randrange(ROWS)}" for _ in range(CALLS_PER_ROUND)]

    async def run() -> float:
        started = time.perf_counter()
        for slug in slugs:
            await call(slug)
        return (time.perf_counter() - started) / CALLS_PER_ROUND

    return lambda: loop.run_until_complete(run())


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-lookups-") as scratch:
        service = render_manifest(Path(scratch), MANIFEST)
        sys.path.append(str(service))  # after runtime_lib: the vendored servicekit is a copy
        models = importlib.import_module("bench_svc.models")
        repositories = importlib.import_module("bench_svc.repositories.product")
        schemas = importlib.import_module("bench_svc.schemas.product")
        product, read = models.Product, schemas.ProductRead

        factory = DatabaseFactory(resolve_postgres().url)
        factory.create_template(models.Base.metadata)
        name = factory.clone()
        url = factory.url(name).render_as_string(hide_password=False)
        loop = asyncio.new_event_loop()
        prefix = f"bench-lookups-{uuid.uuid4().hex[:8]}"
        redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
        raw = redis.asyncio.Redis.from_url(redis_url)
        try:
            database.async_bind(url)

            async def load() -> Any:
                await cache.redis_init(redis_url, prefix=prefix, ttl=600)
                session = database.AsyncSessionLocal()
                session.add_all(
                    product(slug=f"product-{n}", name=f"Product {n}", price=Decimal("9.99"))
                    for n in range(ROWS)
                )
                await session.commit()
                repository = repositories.ProductRepository(session)
                for n in range(ROWS):  # fill the cache, and the raw side's copy of it
                    found = await repository.get_by_slug(f"product-{n}")
                    await raw.set(f"raw:{prefix}:{n}", orjson.dumps(found.model_dump(mode="json")))
                return session, repository

            session, repository = loop.run_until_complete(load())

            async def uncached(slug: str) -> Any:
                return read.model_validate(await repository.get_by(slug=slug))

            async def by_hand(slug: str) -> Any:
                value = await raw.get(f"raw:{prefix}:{slug.rsplit('-', 1)[1]}")
                return read.model_validate(orjson.loads(value))

            hit = timed(loop, repository.get_by_slug)
            report = Report("generated cached lookup (get_by_slug), per call")
            ours, base = interleaved(hit, timed(loop, uncached), rounds=7)
            report.ratio(
                "cache hit vs the same lookup on Postgres", ours * 1e6, base * 1e6, 0.25, "us"
            )
            ours, base = interleaved(hit, timed(loop, by_hand), rounds=7)
            report.ratio(
                "cache hit vs redis GET + orjson + validate", ours * 1e6, base * 1e6, 1.10, "us"
            )
            report.print()
            loop.run_until_complete(session.close())
        finally:
            loop.run_until_complete(_cleanup(raw, prefix))
            loop.run_until_complete(database.async_dispose())
            loop.close()
            factory.release(name)
            factory.close()


async def _cleanup(raw: redis.asyncio.Redis, prefix: str) -> None:
    for pattern in (f"{prefix}:*", f"raw:{prefix}:*"):
        keys = [key async for key in raw.scan_iter(pattern)]
        if keys:
            await raw.delete(*keys)
    await cache.redis_close()
    await raw.aclose()


if __name__ == "__main__":
    main()
