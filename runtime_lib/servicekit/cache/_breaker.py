"""Circuit breaker and rate-limited logging for the fail-open Redis client.

While Redis is down, every call that still tried to reach it would pay a connect or read
timeout. The breaker opens on the first connection-level failure; while it is open callers
skip Redis entirely (a miss costs a clock read) and one background task probes with
``PING`` every ``probe_interval`` seconds. The first successful probe closes the breaker,
so no caller ever waits on a probe and caching resumes by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

logger = logging.getLogger("servicekit.cache")


class Breaker:
    """Open/closed state plus the probe task that closes it again."""

    def __init__(
        self,
        probe: Callable[[], Awaitable[object]],
        *,
        probe_interval: float,
        log_interval: float,
        name: str,
    ) -> None:
        self._probe = probe
        self._probe_interval = probe_interval
        self._log_interval = log_interval
        self._name = name
        self.is_open = False
        self._task: asyncio.Task[None] | None = None
        self._last_log = -float("inf")
        self._suppressed = 0

    def record_failure(self, exc: BaseException, *, trip: bool) -> None:
        """Log ``exc`` (rate-limited) and, for connection-level errors, open the breaker."""
        self._warn(exc)
        if trip and not self.is_open:
            self.is_open = True
            self._task = asyncio.get_running_loop().create_task(self._probe_until_up())

    def _warn(self, exc: BaseException) -> None:
        # One line per log_interval, not one per call: an outage under load would otherwise
        # flood the logs exactly when someone is trying to read them.
        now = time.monotonic()
        if now - self._last_log < self._log_interval:
            self._suppressed += 1
            return
        suppressed, self._suppressed, self._last_log = self._suppressed, 0, now
        logger.warning(
            "%s: Redis unavailable, failing open (%s: %s; %d similar failures suppressed)",
            self._name,
            type(exc).__name__,
            exc,
            suppressed,
        )

    async def _probe_until_up(self) -> None:
        while True:
            await asyncio.sleep(self._probe_interval)
            try:
                await self._probe()
            except Exception as exc:  # any failure means "still down": keep probing
                self._warn(exc)
                continue
            self.is_open = False
            self._task = None
            logger.info("%s: Redis reachable again, caching resumed", self._name)
            return

    async def aclose(self) -> None:
        """Stop probing (called when the client is closed)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            # RuntimeError: the task belongs to an event loop that is already closed.
            with contextlib.suppress(asyncio.CancelledError, RuntimeError):
                await task
