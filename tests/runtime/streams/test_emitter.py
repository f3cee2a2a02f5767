"""EventEmitter against the real Redis: ids, batching, correlation, trimming, failures."""

from __future__ import annotations

import socket
import uuid
from typing import Any

import httpx
import pytest
import redis.asyncio
from asgi_correlation_id import CorrelationIdMiddleware
from fastapi import FastAPI
from redis.asyncio.connection import Connection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from servicekit.errors import ConfigurationError
from servicekit.streams import (
    BaseEvent,
    EmitError,
    EventEmitter,
    correlation_scope,
    get_correlation_id,
)
from servicekit.streams.serialization import decode_event

from .conftest import Names, entries


class SkEmOrderPlaced(BaseEvent):
    order_id: str


class SkEmOrderShipped(BaseEvent):
    order_id: str


async def read_all(client: redis.asyncio.Redis, stream: str) -> list[Any]:
    return [decode_event(fields) for _, fields in await entries(client, stream)]


async def test_emit_returns_the_message_id(redis_client: redis.asyncio.Redis, names: Names) -> None:
    stream = names("events")
    emitter = EventEmitter(redis_client, stream=stream)
    event = SkEmOrderPlaced(order_id="o-1")
    message_id = await emitter.emit(event)
    [(stored_id, fields)] = await entries(redis_client, stream)
    assert stored_id.decode() == message_id
    assert fields[b"event_type"] == b"sk_em_order.placed"
    assert fields[b"schema_version"] == b"1"
    assert decode_event(fields) == event


class CountingConnection(Connection):
    """A real connection that counts how many times it writes to the socket."""

    writes = 0

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        type(self).writes += 1
        await super().send_packed_command(command, check_health)


async def test_a_list_is_emitted_in_one_round_trip(redis_url: str, names: Names) -> None:
    stream = names("events")
    pool = redis.asyncio.ConnectionPool.from_url(redis_url, connection_class=CountingConnection)
    client = redis.asyncio.Redis(connection_pool=pool)
    try:
        emitter = EventEmitter(client, stream=stream)
        events = [SkEmOrderPlaced(order_id=f"o-{i}") for i in range(50)]
        await client.ping()  # connect first, so only the emit's own writes are counted
        CountingConnection.writes = 0
        ids = await emitter.emit(events)
        assert CountingConnection.writes == 1
        assert len(ids) == 50 and len(set(ids)) == 50
        assert ids == sorted(ids, key=lambda i: tuple(map(int, i.split("-"))))
        assert await read_all(client, stream) == events
        assert await emitter.emit([]) == []
    finally:
        await client.delete(stream)
        await client.aclose()


async def test_correlation_scope_and_causation(
    redis_client: redis.asyncio.Redis, names: Names
) -> None:
    stream = names("events")
    emitter = EventEmitter(redis_client, stream=stream)
    assert get_correlation_id() is None
    async with correlation_scope() as correlation_id:
        assert get_correlation_id() == correlation_id
        await emitter.emit(SkEmOrderPlaced(order_id="a"))
        with correlation_scope("inner"):
            await emitter.emit(SkEmOrderPlaced(order_id="b"))
        await emitter.emit([SkEmOrderPlaced(order_id="c"), SkEmOrderPlaced(order_id="d")])
        # An explicit id is kept.
        await emitter.emit(SkEmOrderPlaced(order_id="e", correlation_id="mine"))
    assert get_correlation_id() is None
    a, b, c, d, e = await read_all(redis_client, stream)
    assert a.correlation_id == c.correlation_id == d.correlation_id == correlation_id
    assert b.correlation_id == "inner"
    assert e.correlation_id == "mine"

    # caused_by: causation is the cause's id, correlation carried (or rooted at the cause).
    root = SkEmOrderPlaced(order_id="root")
    child_id = await emitter.emit(SkEmOrderShipped(order_id="root"), caused_by=root)
    child = decode_event((await entries(redis_client, stream, child_id, child_id))[0][1])
    assert child.causation_id == str(root.id)
    assert child.correlation_id == str(root.id)
    grandchild_id = await emitter.emit(SkEmOrderShipped(order_id="x"), caused_by=child)
    grandchild = decode_event(
        (await entries(redis_client, stream, grandchild_id, grandchild_id))[0][1]
    )
    assert grandchild.causation_id == str(child.id)
    assert grandchild.correlation_id == str(root.id)


async def test_maxlen_trims_the_stream(redis_client: redis.asyncio.Redis, names: Names) -> None:
    exact, approximate, untrimmed = names("exact"), names("approx"), names("all")
    events = [SkEmOrderPlaced(order_id=str(i)) for i in range(300)]
    await EventEmitter(redis_client, stream=exact, maxlen=10, approximate=False).emit(events)
    assert await redis_client.xlen(exact) == 10
    # The newest entries are the ones kept.
    assert [e.order_id for e in await read_all(redis_client, exact)] == [
        str(i) for i in range(290, 300)
    ]
    # Approximate trimming removes whole internal nodes: at least maxlen, far fewer than all.
    await EventEmitter(redis_client, stream=approximate, maxlen=10).emit(events)
    assert 10 <= await redis_client.xlen(approximate) < 300
    await EventEmitter(redis_client, stream=untrimmed, maxlen=None).emit(events)
    assert await redis_client.xlen(untrimmed) == 300


async def test_emit_before_configure_is_a_configuration_error(
    redis_client: redis.asyncio.Redis, names: Names
) -> None:
    emitter = EventEmitter(stream=names("events"))
    with pytest.raises(ConfigurationError):
        await emitter.emit(SkEmOrderPlaced(order_id="o"))
    emitter.configure(redis_client)
    assert await emitter.emit(SkEmOrderPlaced(order_id="o"))


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port  # closed again when the block ends: nothing listens there


async def test_connection_failures_are_retried_then_raise_emit_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # redis-py's own retries are switched off so the emitter's are the only ones.
    client = redis.asyncio.Redis(
        port=closed_port(), socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0)
    )
    emitter = EventEmitter(client, stream="unused", max_retries=3, retry_delay=0.01)
    try:
        logs = caplog.at_level("WARNING", logger="servicekit.streams.emitter")
        with logs, pytest.raises(EmitError, match="after 4 attempts") as caught:
            await emitter.emit(SkEmOrderPlaced(order_id="o"))
        assert isinstance(caught.value.__cause__, redis.ConnectionError)
        # The delay starts at retry_delay and doubles with each retry.
        delays = [record.getMessage().rsplit(" in ", 1)[1] for record in caplog.records]
        assert delays == ["0.01s", "0.02s", "0.04s"]
        with pytest.raises(EmitError):
            await emitter.emit([SkEmOrderPlaced(order_id="a"), SkEmOrderPlaced(order_id="b")])
    finally:
        await client.aclose()


async def test_command_errors_are_not_retried(
    redis_client: redis.asyncio.Redis, names: Names
) -> None:
    key = names("not-a-stream")
    await redis_client.set(key, "plain string")
    emitter = EventEmitter(redis_client, stream=key, max_retries=5, retry_delay=10)
    with pytest.raises(EmitError, match="WRONGTYPE"):
        await emitter.emit(SkEmOrderPlaced(order_id="o"))


async def test_events_emitted_while_serving_a_request_carry_its_request_id(
    redis_client: redis.asyncio.Redis, names: Names
) -> None:
    stream = names("events")
    emitter = EventEmitter(redis_client, stream=stream)
    app = FastAPI()
    app.add_middleware(CorrelationIdMiddleware, header_name="X-Request-ID")

    @app.post("/orders")
    async def place() -> None:
        await emitter.emit(SkEmOrderPlaced(order_id="from-http"))
        async with correlation_scope("explicit"):  # a scope still wins
            await emitter.emit(SkEmOrderPlaced(order_id="scoped"))

    request_id = str(uuid.uuid4())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as http:
        response = await http.post("/orders", headers={"X-Request-ID": request_id})
    assert response.status_code == 200
    from_http, scoped = await read_all(redis_client, stream)
    assert from_http.correlation_id == request_id
    assert scoped.correlation_id == "explicit"
