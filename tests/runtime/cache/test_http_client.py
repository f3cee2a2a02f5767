"""The shared httpx client against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from fastapi import Depends, FastAPI

from servicekit import http_client
from servicekit.errors import ConfigurationError


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so connection reuse is observable

    def do_GET(self) -> None:
        if self.path == "/slow":
            time.sleep(1.0)
        # The client's source port identifies the TCP connection the request came on.
        body = str(self.client_address[1]).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
async def client(server_url: str) -> AsyncIterator[httpx.AsyncClient]:
    yield await http_client.init_client(base_url=server_url)
    await http_client.close_client()


async def test_requests_reuse_one_pooled_connection(client: httpx.AsyncClient) -> None:
    ports = [(await client.get("/")).text for _ in range(5)]
    assert len(set(ports)) == 1
    assert await http_client.get_client() is client


async def test_default_timeout_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, server_url: str
) -> None:
    monkeypatch.setenv("HTTP_CLIENT_TIMEOUT", "0.2")
    client = await http_client.init_client()
    try:
        assert client.timeout.read == 0.2
        with pytest.raises(httpx.ReadTimeout):
            await client.get(f"{server_url}/slow")
    finally:
        await http_client.close_client()


async def test_the_default_timeout_is_30_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HTTP_CLIENT_TIMEOUT", raising=False)
    client = await http_client.init_client()
    await http_client.close_client()
    assert client.timeout.read == 30.0


async def test_keyword_arguments_win_over_the_default(server_url: str) -> None:
    client = await http_client.init_client(timeout=5.0, headers={"x-service": "kit"})
    await http_client.close_client()
    assert client.timeout.read == 5.0
    assert client.headers["x-service"] == "kit"


async def test_lifecycle_errors_are_clear() -> None:
    with pytest.raises(http_client.HttpClientNotInitializedError, match="init_client"):
        await http_client.get_client()

    client = await http_client.init_client()
    with pytest.raises(ConfigurationError, match="already"):
        await http_client.init_client()
    await http_client.close_client()

    assert client.is_closed
    with pytest.raises(http_client.HttpClientNotInitializedError):
        await http_client.get_client()
    await http_client.close_client()  # closing twice is harmless


async def test_a_closed_client_raises_runtime_error(server_url: str) -> None:
    """Like its cache twin (serpens raised RuntimeError there), the error is a RuntimeError."""
    client = await http_client.init_client(base_url=server_url)
    assert (await client.get("/")).status_code == 200
    await http_client.close_client()
    with pytest.raises(RuntimeError, match="init_client"):
        await http_client.get_client()


def test_each_event_loop_gets_its_own_client() -> None:
    async def make() -> httpx.AsyncClient:
        client = await http_client.init_client()
        assert await http_client.get_client() is client
        await http_client.close_client()
        return client

    assert asyncio.run(make()) is not asyncio.run(make())


async def test_get_client_is_a_fastapi_dependency(client: httpx.AsyncClient) -> None:
    app = FastAPI()

    @app.get("/proxy")
    async def proxy(
        upstream: httpx.AsyncClient = Depends(http_client.get_client),  # noqa: B008
    ) -> dict[str, str]:
        return {"port": (await upstream.get("/")).text}

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as caller:
        first = (await caller.get("/proxy")).json()
        second = (await caller.get("/proxy")).json()
    assert first == second  # both requests went over the shared connection
