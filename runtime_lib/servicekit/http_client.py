"""One shared ``httpx.AsyncClient`` per process and event loop.

A client per request pays a TCP (and TLS) handshake every call; a shared client keeps the
connections pooled. Wire :func:`init_client` / :func:`close_client` into the FastAPI
``lifespan`` and take the client with ``Depends(get_client)``.

``HTTP_CLIENT_TIMEOUT`` (seconds, default 30) sets the default timeout; every keyword given
to :func:`init_client` is passed to ``httpx.AsyncClient`` and wins over the default.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

import httpx

from servicekit._env import env_float
from servicekit.errors import (
    ConfigurationError,
    HttpClientNotInitialisedError,
    HttpClientNotInitializedError,
)

__all__ = [
    "HttpClientNotInitialisedError",  # old name of HttpClientNotInitializedError
    "HttpClientNotInitializedError",
    "close_client",
    "get_client",
    "init_client",
]

# Keyed by event loop: an AsyncClient's connections belong to the loop that opened them,
# so a second loop in the same process (tests, a worker thread) gets its own client. Weak
# keys let a finished loop's entry disappear with it.
_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = (
    weakref.WeakKeyDictionary()
)


async def init_client(**kwargs: Any) -> httpx.AsyncClient:
    """Create this event loop's shared client and return it.

    Calling it twice on one loop without :func:`close_client` in between is an error: the
    second call's settings would otherwise be silently ignored or the first client leaked.
    """
    loop = asyncio.get_running_loop()
    if loop in _clients:
        raise ConfigurationError("init_client() was already called on this event loop")
    kwargs.setdefault("timeout", env_float("HTTP_CLIENT_TIMEOUT", 30.0))
    client = httpx.AsyncClient(**kwargs)
    _clients[loop] = client
    return client


async def close_client() -> None:
    """Close this event loop's shared client; a no-op when there is none."""
    client = _clients.pop(asyncio.get_running_loop(), None)
    if client is not None:
        await client.aclose()


async def get_client() -> httpx.AsyncClient:
    """This event loop's shared client (a FastAPI dependency: ``Depends(get_client)``).

    It is a coroutine function so that FastAPI runs it on the event loop rather than in
    its thread pool, where there is no loop to look the client up by.
    """
    client = _clients.get(asyncio.get_running_loop())
    if client is None:
        raise HttpClientNotInitializedError(
            "servicekit.http_client is not initialized: await init_client() at startup"
        )
    return client
