"""In-process TTL caches."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from servicekit.cache import acached, cached, clear_acache, clear_cache, memory


def test_cached_hits_until_the_ttl_expires() -> None:
    calls: list[int] = []

    @cached("sync-square", 0.05)
    def square(n: int) -> int:
        calls.append(n)
        return n * n

    assert [square(3), square(3), square(4)] == [9, 9, 16]
    assert calls == [3, 4]
    time.sleep(0.06)
    assert square(3) == 9
    assert calls == [3, 4, 3]


def test_clear_cache_drops_one_bucket() -> None:
    calls: list[str] = []

    @cached("bucket-a", 60)
    def a(x: str) -> str:
        calls.append(f"a{x}")
        return x

    @cached("bucket-b", 60)
    def b(x: str) -> str:
        calls.append(f"b{x}")
        return x

    a("1"), b("1")
    clear_cache("bucket-a")
    a("1"), b("1")
    assert calls == ["a1", "b1", "a1"]


def test_keyword_arguments_are_part_of_the_key() -> None:
    @cached("kw", 60)
    def join(a: str, sep: str = "-") -> str:
        return a + sep

    assert join("x", sep="+") == "x+"
    assert join("x", sep="*") == "x*"


class Repo:
    def __init__(self) -> None:
        self.calls = 0

    @acached("products", ttl=60, skip_first_arg=True)
    async def get(self, slug: str) -> str:
        self.calls += 1
        return slug.upper()


class SyncRepo:
    def __init__(self) -> None:
        self.calls = 0

    @cached("sync-products", ttl=60, skip_first_arg=True)
    def get(self, slug: str) -> str:
        self.calls += 1
        return slug.upper()


async def test_acached_skip_first_arg_lets_instances_share_entries() -> None:
    clear_acache("products")
    first, second = Repo(), Repo()

    assert await first.get("a") == "A"
    assert await second.get("a") == "A"
    assert await second.get("b") == "B"
    assert (first.calls, second.calls) == (1, 1)


def test_cached_skip_first_arg_lets_instances_share_entries() -> None:
    clear_cache("sync-products")
    first, second = SyncRepo(), SyncRepo()

    assert [first.get("a"), second.get("a"), second.get("b")] == ["A", "A", "B"]
    assert (first.calls, second.calls) == (1, 1)


async def test_both_keep_the_first_argument_by_default() -> None:
    # The twins used to differ here: @acached dropped it silently, @cached kept it.
    calls: list[str] = []

    @cached("first-sync", 60)
    def sync_label(tenant: str, n: int) -> str:
        calls.append(tenant)
        return f"{tenant}-{n}"

    @acached("first-async", 60)
    async def async_label(tenant: str, n: int) -> str:
        calls.append(tenant)
        return f"{tenant}-{n}"

    assert [sync_label("a", 1), sync_label("b", 1)] == ["a-1", "b-1"]
    assert [await async_label("a", 1), await async_label("b", 1)] == ["a-1", "b-1"]
    assert calls == ["a", "b", "a", "b"]


async def test_acached_expires_on_the_monotonic_clock() -> None:
    calls = 0

    @acached("short", ttl=0.05)
    async def value(_owner: object, n: int) -> int:
        nonlocal calls
        calls += 1
        return n

    assert await value(None, 1) == 1
    assert await value(None, 1) == 1
    await asyncio.sleep(0.06)
    assert await value(None, 1) == 1
    assert calls == 2


async def test_clear_acache_one_bucket_or_all() -> None:
    clear_acache()
    repo = Repo()
    calls = 0

    @acached("other", ttl=60)
    async def other(_owner: object) -> int:
        nonlocal calls
        calls += 1
        return 1

    await repo.get("a"), await other(None)
    clear_acache("products")
    await repo.get("a"), await other(None)
    assert (repo.calls, calls) == (2, 1)

    clear_acache()
    await repo.get("a"), await other(None)
    assert (repo.calls, calls) == (3, 2)


def test_clear_cache_one_bucket_or_all() -> None:
    calls: list[str] = []

    @cached("all-a", 60)
    def a() -> str:
        calls.append("a")
        return "a"

    @cached("all-b", 60)
    def b() -> str:
        calls.append("b")
        return "b"

    a(), b()
    clear_cache()
    a(), b()
    assert calls == ["a", "b", "a", "b"]


@pytest.mark.parametrize("clear", [clear_cache, clear_acache])
def test_clearing_an_unknown_bucket_is_harmless(clear: Callable[[str | None], None]) -> None:
    clear("never-used")


def test_expired_entries_are_swept_when_a_bucket_grows() -> None:
    @cached("sweep", ttl=0.001)
    def ident(n: int) -> int:
        return n

    for n in range(memory._SWEEP_MIN - 1):
        ident(n)
    bucket = memory._sync_buckets["sweep"]
    assert len(bucket._entries) == memory._SWEEP_MIN - 1
    time.sleep(0.01)  # every entry so far has expired, and none is read again
    ident(-1)  # reaching the threshold sweeps
    assert len(bucket._entries) == 1
