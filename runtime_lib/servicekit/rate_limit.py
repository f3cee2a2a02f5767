"""An in-process token bucket for outbound calls, plus a lock for token refresh.

``RateLimiter(rate=20, per_seconds=1.0, burst=5)`` lets through ``rate`` calls per
``per_seconds`` on average and at most ``burst`` back to back. The bucket **starts full**:
right after :meth:`RateLimiter.start` the first ``burst`` calls pass at once. The default
``burst=1`` spaces calls evenly, which is what strict upstream quotas want.

Waiters are served first come, first served: ``acquire`` queues on a FIFO ``asyncio.Lock``
and the head of the queue sleeps exactly until the next token is due, so nothing polls and
no background task is needed. For limits shared between processes use
:func:`servicekit.kv.rate_limit` instead.
"""

from __future__ import annotations

import asyncio
import time

from servicekit.errors import ConfigurationError, RateLimiterStoppedError

__all__ = ["RateLimiter", "RateLimiterStoppedError"]


class RateLimiter:
    """Token bucket with FIFO ``acquire`` and an ``auth_lock`` for one-at-a-time refresh."""

    def __init__(self, rate: float, per_seconds: float = 1.0, burst: int = 1) -> None:
        if rate <= 0 or per_seconds <= 0 or burst < 1:
            raise ConfigurationError("RateLimiter needs rate > 0, per_seconds > 0, burst >= 1")
        self.rate = rate
        self.per_seconds = per_seconds
        self.burst = burst
        self._interval = per_seconds / rate  # seconds per token
        self._tokens = float(burst)
        self._updated = 0.0
        self._queue = asyncio.Lock()
        self._stopped = asyncio.Event()
        self._running = False
        #: Hold this while refreshing a shared credential so that only one coroutine
        #: refreshes it and the others reuse the result.
        self.auth_lock = asyncio.Lock()

    def start(self) -> None:
        """Begin handing out tokens, with a full bucket."""
        self._tokens = float(self.burst)
        self._updated = time.monotonic()
        # Fresh primitives: asyncio objects bind to the first loop that waits on them, and
        # a limiter may be restarted under a new loop (tests, a re-created app).
        self._queue = asyncio.Lock()
        self._stopped = asyncio.Event()
        self._running = True

    async def stop(self) -> None:
        """Stop: every pending and future ``acquire`` raises :class:`RateLimiterStoppedError`."""
        self._running = False
        self._stopped.set()

    def _refill(self) -> None:
        now = time.monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._updated) / self._interval)
        self._updated = now

    async def acquire(self) -> None:
        """Wait for a token. Callers get tokens in the order they called."""
        if not self._running:
            raise RateLimiterStoppedError("RateLimiter.acquire() before start() or after stop()")
        async with self._queue:
            self._refill()
            while self._tokens < 1:
                delay = (1 - self._tokens) * self._interval
                # Sleep on the stop event so that stop() wakes the head of the queue.
                try:
                    await asyncio.wait_for(self._stopped.wait(), timeout=delay)
                except TimeoutError:
                    self._refill()
                    continue
                raise RateLimiterStoppedError("RateLimiter was stopped while waiting")
            if not self._running:
                raise RateLimiterStoppedError("RateLimiter was stopped while waiting")
            self._tokens -= 1
