"""Living with database outages: retry what is safe to retry, wait for the server at start.

The engines :func:`~servicekit.database.bind` and :func:`~servicekit.database.async_bind`
make raise :class:`DatabaseUnavailableError`, :class:`DatabaseTimeoutError` and
:class:`RetryableConflictError` in place of the driver's errors; this module acts on them.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import random
import time
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar, cast

from sqlalchemy import text

from servicekit.database.engine import get_async_engine, get_engine
from servicekit.errors import DatabaseTimeoutError, DatabaseUnavailableError, RetryableConflictError

__all__ = ["async_wait_for_database", "is_retryable", "retrying", "wait_for_database"]

P = ParamSpec("P")
R = TypeVar("R")

logger = logging.getLogger("servicekit.database")


def is_retryable(error: BaseException) -> bool:
    """Whether running the failed unit of work again is safe and may succeed.

    True for a serialization failure or deadlock (the server rolled everything back) and
    for a lost or refused connection before any ``COMMIT`` was sent. False for a link
    lost during a commit (``ambiguous``: the change may be stored), and for timeouts,
    which a retry would only repeat under the same load.
    """
    if isinstance(error, RetryableConflictError):
        return True
    return isinstance(error, DatabaseUnavailableError) and not error.ambiguous


def retrying(
    *,
    attempts: int = 3,
    timeout: float = 10.0,
    initial_delay: float = 0.05,
    max_delay: float = 1.0,
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Run the decorated unit of work again when it fails in a way :func:`is_retryable`
    allows, at most ``attempts`` times in all and never past ``timeout`` seconds.

    Decorate the whole unit of work, session included, so a retry starts a new
    transaction: a function that opens ``db_session()``/``async_db_session()`` and
    commits. Waits between attempts grow exponentially from ``initial_delay`` up to
    ``max_delay``, with full jitter (a random share of it) so that many callers hit by
    the same failover do not come back in step. Works on plain and ``async`` functions;
    each retry logs one warning, and the last error is raised as it was.
    """
    if attempts < 1 or timeout <= 0 or initial_delay < 0 or max_delay < initial_delay:
        raise ValueError(
            "retrying needs attempts >= 1, timeout > 0 and 0 <= initial_delay <= max_delay"
        )
    backoff = _Backoff(attempts, timeout, initial_delay, max_delay)

    def decorate(function: Callable[P, R]) -> Callable[P, R]:
        if inspect.iscoroutinefunction(function):

            @functools.wraps(function)
            async def run_async(*args: P.args, **kwargs: P.kwargs) -> Any:
                started, attempt = time.monotonic(), 1
                while True:
                    try:
                        return await function(*args, **kwargs)
                    except Exception as error:
                        delay = backoff.delay(error, attempt, started, function)
                    await asyncio.sleep(delay)
                    attempt += 1

            return cast("Callable[P, R]", run_async)

        @functools.wraps(function)
        def run(*args: P.args, **kwargs: P.kwargs) -> R:
            started, attempt = time.monotonic(), 1
            while True:
                try:
                    return function(*args, **kwargs)
                except Exception as error:
                    delay = backoff.delay(error, attempt, started, function)
                time.sleep(delay)
                attempt += 1

        return run

    return decorate


class _Backoff:
    __slots__ = ("attempts", "initial_delay", "max_delay", "timeout")

    def __init__(self, attempts: int, timeout: float, initial_delay: float, max_delay: float):
        self.attempts = attempts
        self.timeout = timeout
        self.initial_delay = initial_delay
        self.max_delay = max_delay

    def delay(self, error: Exception, attempt: int, started: float, function: Any) -> float:
        """Seconds to wait before the next attempt; re-raises ``error`` when there is none."""
        if not is_retryable(error) or attempt >= self.attempts:
            raise error
        delay = random.uniform(0, min(self.max_delay, self.initial_delay * 2 ** (attempt - 1)))
        if time.monotonic() - started + delay > self.timeout:
            raise error
        logger.warning(
            "%s failed (%s), attempt %d of %d; retrying in %.2fs",
            getattr(function, "__qualname__", function),
            error,
            attempt,
            self.attempts,
            delay,
        )
        return delay


def wait_for_database(timeout: float, *, interval: float = 1.0) -> None:
    """Block until the bound engine's database answers ``SELECT 1``, for up to ``timeout``
    seconds, logging one line per failed attempt; then raise the last error.

    For start-up: a service whose database is still booting (or failing over) starts once
    it answers, instead of failing its first requests or exiting at once.
    """
    deadline = time.monotonic() + timeout
    attempt = 1
    while True:
        try:
            with get_engine().connect() as connection:
                connection.execute(text("SELECT 1"))
            return
        except (DatabaseUnavailableError, DatabaseTimeoutError) as error:
            pause = _pause(error, attempt, deadline, interval)
        time.sleep(pause)
        attempt += 1


async def async_wait_for_database(timeout: float, *, interval: float = 1.0) -> None:
    """The async twin of :func:`wait_for_database`, on the engine ``async_bind()`` made."""
    deadline = time.monotonic() + timeout
    attempt = 1
    while True:
        try:
            async with get_async_engine().connect() as connection:
                await connection.execute(text("SELECT 1"))
            return
        except (DatabaseUnavailableError, DatabaseTimeoutError) as error:
            pause = _pause(error, attempt, deadline, interval)
        await asyncio.sleep(pause)
        attempt += 1


def _pause(error: Exception, attempt: int, deadline: float, interval: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise error
    logger.warning("database not reachable yet (attempt %d, %.0fs left): %s", attempt, left, error)
    return min(interval, left)
