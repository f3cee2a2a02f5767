"""Work per request, counted rather than timed: the generated routes against the baseline.

Run: ``.venv/bin/python benchmarks/bench_request_work.py`` (Postgres as for the tests).

Renders the service ``bench_endpoints.py`` measures (``Product(name, price)``, async,
1,000 rows) and calls both apps in this process as ASGI callables, 16 requests at a time,
without a server: for each endpoint it prints the round trips to Postgres (socket writes
per request) and the Python function calls per request (``cProfile``'s count). Unlike
requests/s, neither number moves with the machine's load, so a change to the request
path shows what it saved even on a busy machine. ``bench_endpoints.py`` gives the rates.
"""

from __future__ import annotations

import asyncio
import cProfile
import importlib
import os
import pstats
import sys
import tempfile
from asyncio.selector_events import _SelectorSocketTransport  # type: ignore[attr-defined]
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _template_copy import render_manifest
from bench_endpoints import MANIFEST, migrate

from servicekit.testgres import DatabaseFactory, resolve_postgres

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Message, Receive, Send], Awaitable[None]]

REQUESTS = 800
CONCURRENCY = 16
BODY = b'{"name": "Benchmark product", "price": "12.50"}'
ENDPOINTS = [
    ("GET /products/{id}", "GET", "/products/500"),
    ("GET /products?size=50", "GET", "/products?size=50"),
    ("POST /products", "POST", "/products"),
]


class Writes:
    """Counts the event loop's socket writes: one per round trip to Postgres here."""

    count = 0

    def __init__(self) -> None:
        original = _SelectorSocketTransport.write

        def counted(transport: Any, data: Any) -> None:
            Writes.count += 1
            original(transport, data)

        _SelectorSocketTransport.write = counted


async def request(app: App, method: str, target: str) -> int:
    path, _, query = target.partition("?")
    body = BODY if method == "POST" else b""
    headers = [(b"host", b"bench"), (b"content-type", b"application/json")]
    scope: Message = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": query.encode(),
        "root_path": "", "headers": [*headers, (b"content-length", str(len(body)).encode())],
        "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80), "state": {},
    }  # fmt: skip
    messages = [{"type": "http.request", "body": body, "more_body": False}]
    statuses: list[int] = []

    async def receive() -> Message:
        if messages:
            return messages.pop()
        await asyncio.Event().wait()  # the client never disconnects
        raise AssertionError

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    await app(scope, receive, send)
    return statuses[0]


async def requests(app: App, method: str, target: str, count: int) -> None:
    async def client(share: int) -> None:
        for _ in range(share):
            status = await request(app, method, target)
            if status >= 300:
                raise RuntimeError(f"{method} {target} answered {status}")

    await asyncio.gather(*(client(count // CONCURRENCY) for _ in range(CONCURRENCY)))


async def measure(app: App) -> dict[str, tuple[float, float]]:
    """Round trips and Python calls per request of each endpoint, within the app's lifespan."""
    events: asyncio.Queue[Message] = asyncio.Queue()
    started = asyncio.Event()

    async def send(message: Message) -> None:
        if message["type"] == "lifespan.startup.failed":
            raise RuntimeError(message.get("message"))
        started.set()

    lifespan = asyncio.create_task(
        app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, events.get, send)
    )
    await events.put({"type": "lifespan.startup"})
    await started.wait()
    counts = {}
    for label, method, target in ENDPOINTS:
        await requests(app, method, target, 160)  # warm-up: pool, statement caches
        Writes.count = 0
        profile = cProfile.Profile()
        profile.enable()
        await requests(app, method, target, REQUESTS)
        profile.disable()
        calls = pstats.Stats(profile).total_calls  # type: ignore[attr-defined]
        counts[label] = (Writes.count / REQUESTS, calls / REQUESTS)
    await events.put({"type": "lifespan.shutdown"})
    await lifespan
    return counts


def main() -> None:
    Writes()
    with tempfile.TemporaryDirectory(prefix="bench-work-") as scratch:
        service = render_manifest(Path(scratch), MANIFEST)
        factory = DatabaseFactory(resolve_postgres().url)
        name = factory.create_empty()
        url = factory.url(name)
        plain_url = url.set(drivername="postgresql").render_as_string(False)
        try:
            migrate(service, plain_url)
            os.environ.update(
                DATABASE_URL=url.set(drivername="postgresql+asyncpg").render_as_string(False),
                BASELINE_DSN=plain_url,
                LOG_LEVEL="WARNING",
            )
            sys.path.insert(0, str(service))
            ours = asyncio.run(measure(importlib.import_module("bench_api.app").app))
            base = asyncio.run(measure(importlib.import_module("_endpoint_baseline").app))
        finally:
            factory.drop(name)
            factory.close()
    print(f"\nwork per request, {REQUESTS} requests {CONCURRENCY} at a time, in process")
    rows = [("endpoint", "round trips ours", "base", "Python calls ours", "base", "ratio")]
    for label, *_ in ENDPOINTS:
        (ours_trips, ours_calls), (base_trips, base_calls) = ours[label], base[label]
        rows.append((label, f"{ours_trips:.1f}", f"{base_trips:.1f}", f"{ours_calls:,.0f}",
                     f"{base_calls:,.0f}", f"{ours_calls / base_calls:.2f}x"))  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))


if __name__ == "__main__":
    main()
