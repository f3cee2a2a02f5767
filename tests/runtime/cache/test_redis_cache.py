"""The Redis-backed cache on the shared Redis and on the cluster: round-trips, decorators,
lifecycle."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import Depends, FastAPI
from pydantic import BaseModel

from servicekit import cache
from servicekit.errors import ConfigurationError
from servicekit.redis_clients import RedisClient

pytestmark = pytest.mark.usefixtures("redis_cache")


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Priority(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Address(BaseModel):
    city: str
    zip_code: str


class User(BaseModel):
    id: uuid.UUID
    name: str
    joined: dt.datetime
    balance: Decimal
    colour: Colour
    addresses: list[Address]


USER = User(
    id=uuid.UUID("12345678-1234-5678-1234-567812345678"),
    name="Ana",
    joined=dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.UTC),
    balance=Decimal("10.10"),
    colour=Colour.BLUE,
    addresses=[Address(city="Porto", zip_code="4000")],
)

# (value, type to read it back as, what an untyped read returns)
ROUND_TRIPS: list[tuple[Any, Any, Any]] = [
    ("text", str, "text"),
    (42, int, 42),
    (1.5, float, 1.5),
    (True, bool, True),
    ({"a": [1, 2], "b": None}, dict[str, Any], {"a": [1, 2], "b": None}),
    ([1, "two", 3.0], list[Any], [1, "two", 3.0]),
    (dt.datetime(2024, 1, 2, 3, 4, 5), dt.datetime, "2024-01-02T03:04:05"),
    (
        dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
        dt.datetime,
        "2024-01-02T03:04:05+00:00",
    ),
    (dt.date(2024, 2, 29), dt.date, "2024-02-29"),
    (Decimal("3.14159265358979323846"), Decimal, "3.14159265358979323846"),
    (USER.id, uuid.UUID, "12345678-1234-5678-1234-567812345678"),
    (Colour.RED, Colour, "red"),
    (Priority.HIGH, Priority, 2),
    (USER, User, USER.model_dump(mode="json")),
    ([USER, USER], list[User], [USER.model_dump(mode="json")] * 2),
]


@pytest.mark.parametrize(("value", "type_", "plain"), ROUND_TRIPS)
async def test_every_supported_type_round_trips(value: Any, type_: Any, plain: Any) -> None:
    await cache.redis_set("value", value, ttl=30)

    typed = await cache.redis_get("value", type_)
    assert typed == value
    assert type(typed) is type(value)
    assert await cache.redis_get("value") == plain


async def test_get_of_a_missing_key_is_none() -> None:
    assert await cache.redis_get("nothing-here") is None


async def test_set_uses_the_prefix_and_the_ttl(raw_redis: RedisClient, key_prefix: str) -> None:
    await cache.redis_set("k", {"x": 1}, ttl=40)
    await cache.redis_set("default-ttl", 1)

    assert await raw_redis.get(f"{key_prefix}:k") == b'{"x":1}'
    assert 30 < await raw_redis.ttl(f"{key_prefix}:k") <= 40
    assert 290 < await raw_redis.ttl(f"{key_prefix}:default-ttl") <= 300


async def test_delete_removes_keys_and_counts_them() -> None:
    await cache.redis_set("a", 1)
    await cache.redis_set("b", 2)

    assert await cache.redis_delete("a", "b", "never-set") == 2
    assert await cache.redis_get("a") is None


async def test_a_value_that_cannot_be_encoded_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        await cache.redis_set("bad", object())


async def test_an_unreadable_value_is_a_miss(raw_redis: RedisClient, key_prefix: str) -> None:
    await raw_redis.set(f"{key_prefix}:corrupt", b"{not json")
    await raw_redis.set(f"{key_prefix}:old-schema", b'{"name": "no id"}')

    assert await cache.redis_get("corrupt") is None
    assert await cache.redis_get("old-schema", User) is None


async def test_redis_cached_misses_then_hits_per_argument() -> None:
    calls: list[tuple[str, int]] = []

    @cache.redis_cached("greeting", ttl=30)
    async def greet(name: str, times: int = 1) -> str:
        calls.append((name, times))
        return f"hello {name}" * times

    assert await greet("ana") == "hello ana"
    assert await greet("ana") == "hello ana"
    assert await greet("bob", times=2) == "hello bobhello bob"
    assert await greet("bob", times=2) == "hello bobhello bob"
    assert calls == [("ana", 1), ("bob", 2)]


async def test_redis_cached_restores_the_annotated_return_type() -> None:
    calls = 0

    @cache.redis_cached("users", ttl=30)
    async def load(user_id: str) -> list[User]:
        nonlocal calls
        calls += 1
        return [USER]

    first = await load("x")
    second = await load("x")

    assert first == second == [USER]
    assert isinstance(second[0], User)
    assert isinstance(second[0].balance, Decimal)
    assert calls == 1


async def test_redis_cached_caches_none_results() -> None:
    calls = 0

    @cache.redis_cached("maybe")
    async def find() -> User | None:
        nonlocal calls
        calls += 1
        return None

    assert await find() is None
    assert await find() is None
    assert calls == 1


async def test_redis_cached_can_leave_self_out_of_the_key() -> None:
    calls = 0

    class Repo:
        @cache.redis_cached("repo", skip_first_arg=True)
        async def get(self, slug: str) -> dict[str, str]:
            nonlocal calls
            calls += 1
            return {"slug": slug}

    assert await Repo().get("a") == {"slug": "a"}
    assert await Repo().get("a") == {"slug": "a"}
    assert calls == 1


async def test_long_arguments_are_hashed_into_a_bounded_key(
    raw_redis: RedisClient, key_prefix: str
) -> None:
    @cache.redis_cached("long")
    async def echo(text: str) -> str:
        return text

    assert await echo("x" * 5000) == "x" * 5000
    keys = [key async for key in raw_redis.scan_iter(match=f"{key_prefix}:long*")]
    assert len(keys) == 1
    assert len(keys[0]) < 100


async def test_get_or_set_computes_once_and_uses_the_factory_annotation() -> None:
    calls = 0

    async def make_token() -> dt.datetime:
        nonlocal calls
        calls += 1
        return dt.datetime(2030, 1, 1, tzinfo=dt.UTC)

    first = await cache.redis_cached_get_or_set("token", 60, make_token)
    second = await cache.redis_cached_get_or_set("token", 60, make_token)

    assert first == second == dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    assert isinstance(second, dt.datetime)
    assert calls == 1
    assert await cache.redis_cached_get_or_set("token", 60, make_token, type_=str) == (
        "2030-01-01T00:00:00+00:00"
    )


async def test_redis_client_exposes_the_fail_open_client(key_prefix: str) -> None:
    client = cache.redis_client()
    assert await client.ping() is True
    await client.set(f"{key_prefix}:raw", b"bytes")
    assert await client.get(f"{key_prefix}:raw") == b"bytes"


async def test_redis_pool_is_a_fastapi_dependency(target_url: str, key_prefix: str) -> None:
    pool = cache.redis_pool(target_url)
    app = FastAPI()

    @app.put("/items/{name}")
    async def put(
        name: str,
        client: cache.FailOpenClient = Depends(pool),  # noqa: B008 (FastAPI idiom)
    ) -> dict[str, bool]:
        await client.set(f"{key_prefix}:{name}", name)
        return {"ok": True}

    @app.get("/items/{name}")
    async def get(
        name: str,
        client: cache.FailOpenClient = Depends(pool),  # noqa: B008 (FastAPI idiom)
    ) -> dict[str, Any]:
        value = await client.get(f"{key_prefix}:{name}")
        text = value.decode() if isinstance(value, bytes) else value
        return {"value": text, "pool": id(client)}

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as http:
        assert (await http.put("/items/a")).json() == {"ok": True}
        first = (await http.get("/items/a")).json()
        second = (await http.get("/items/b")).json()
    await pool.aclose()

    assert first["value"] == "a"
    assert second["value"] is None
    assert first["pool"] == second["pool"]  # one client shared across requests


async def test_using_the_cache_before_init_raises() -> None:
    await cache.redis_close()

    with pytest.raises(cache.CacheNotInitializedError):
        await cache.redis_get("k")
    with pytest.raises(ConfigurationError):
        await cache.redis_set("k", 1)

    @cache.redis_cached("x")
    async def f() -> int:
        return 1

    with pytest.raises(ConfigurationError):
        await f()


async def test_a_closed_cache_raises_runtime_error_as_serpens_did() -> None:
    """serpens' cache raised RuntimeError when used before redis_init(); handlers written
    for it still catch the servicekit error."""
    await cache.redis_set("seed", {"n": 1})
    assert await cache.redis_get("seed") == {"n": 1}  # the shared Redis answers
    await cache.redis_close()

    @cache.redis_cached("seed-fn")
    async def f() -> int:
        return 1

    with pytest.raises(RuntimeError, match="redis_init"):
        await cache.redis_get("seed")
    with pytest.raises(RuntimeError):
        await cache.redis_set("seed", 2)
    with pytest.raises(RuntimeError):
        await cache.redis_cached_get_or_set("seed", 60, f)
    with pytest.raises(RuntimeError):
        await f()


async def test_init_without_a_url_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    with pytest.raises(ConfigurationError, match="REDIS_URL"):
        await cache.redis_init()


async def test_init_reads_prefix_and_ttl_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
    target_url: str,
    key_prefix: str,
    raw_redis: RedisClient,
) -> None:
    monkeypatch.setenv("REDIS_URL", target_url)
    monkeypatch.setenv("CACHE_PREFIX", f"{key_prefix}-env")
    monkeypatch.setenv("CACHE_TTL", "77")
    await cache.redis_init()

    await cache.redis_set("k", 1)

    assert 70 < await raw_redis.ttl(f"{key_prefix}-env:k") <= 77


async def test_the_default_prefix_is_the_service_name(
    monkeypatch: pytest.MonkeyPatch,
    target_url: str,
    key_prefix: str,
    raw_redis: RedisClient,
) -> None:
    for name in ("CACHE_PREFIX", "K_SERVICE", "AWS_LAMBDA_FUNCTION_NAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("APP_NAME", f"{key_prefix}-svc")
    await cache.redis_init(target_url)

    await cache.redis_set("k", "v")

    assert await raw_redis.get(f"{key_prefix}-svc:k") == b'"v"'


async def test_a_decorated_function_returning_an_unencodable_value_raises() -> None:
    @cache.redis_cached("bad")
    async def make() -> object:
        return object()

    with pytest.raises(TypeError, match="JSON seriali"):
        await make()
