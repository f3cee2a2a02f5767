"""The in-process token bucket."""

from __future__ import annotations

import asyncio
import time

import pytest

from servicekit.errors import ConfigurationError
from servicekit.rate_limit import RateLimiter, RateLimiterStoppedError


async def test_a_few_hundred_acquisitions_respect_the_rate() -> None:
    limiter = RateLimiter(rate=1000, per_seconds=1.0, burst=10)
    limiter.start()
    started = time.monotonic()
    await asyncio.gather(*(limiter.acquire() for _ in range(300)))
    elapsed = time.monotonic() - started
    await limiter.stop()

    # 10 tokens were in the full bucket, the other 290 arrive one per millisecond.
    assert elapsed >= 0.285  # (float rounding aside)


async def test_the_bucket_starts_full_and_holds_burst_tokens() -> None:
    limiter = RateLimiter(rate=1, per_seconds=60.0, burst=3)  # refills once a minute
    limiter.start()
    for _ in range(3):
        await asyncio.wait_for(limiter.acquire(), timeout=1)  # immediately available
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(limiter.acquire(), timeout=0.05)
    await limiter.stop()


async def test_waiters_are_served_first_come_first_served() -> None:
    limiter = RateLimiter(rate=200, burst=1)
    limiter.start()
    order: list[int] = []

    async def worker(n: int) -> None:
        await limiter.acquire()
        order.append(n)

    tasks = []
    for n in range(20):
        tasks.append(asyncio.create_task(worker(n)))
        await asyncio.sleep(0)  # make the call order explicit
    await asyncio.gather(*tasks)
    await limiter.stop()

    assert order == list(range(20))


async def test_stop_releases_waiters_with_an_error() -> None:
    limiter = RateLimiter(rate=1, per_seconds=60.0)
    limiter.start()
    await limiter.acquire()
    waiter = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(0.01)
    await limiter.stop()

    with pytest.raises(RateLimiterStoppedError):
        await waiter
    with pytest.raises(RateLimiterStoppedError):
        await limiter.acquire()


async def test_acquire_before_start_is_an_error() -> None:
    with pytest.raises(RateLimiterStoppedError, match="start"):
        await RateLimiter(rate=5).acquire()


def test_invalid_settings_are_rejected() -> None:
    with pytest.raises(ConfigurationError):
        RateLimiter(rate=0)
    with pytest.raises(ConfigurationError):
        RateLimiter(rate=1, burst=0)


async def test_auth_lock_lets_one_refresher_through() -> None:
    limiter = RateLimiter(rate=10)
    refreshes = 0
    token: str | None = None

    async def get_token() -> str:
        nonlocal refreshes, token
        async with limiter.auth_lock:
            if token is None:
                refreshes += 1
                await asyncio.sleep(0.02)
                token = "fresh"
            return token

    assert await asyncio.gather(*(get_token() for _ in range(10))) == ["fresh"] * 10
    assert refreshes == 1
