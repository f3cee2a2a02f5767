"""Handler registrations: what a handler matches and how one run is retried."""

from __future__ import annotations

import asyncio
import fnmatch
import inspect
import logging
import math
import time
import types
import typing
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from servicekit.streams._settings import LOGGER_NAME
from servicekit.streams.errors import (
    HandlerTimeoutError,
    MaxRetriesExceededError,
    NonRetryableError,
    StreamsConfigurationError,
    StreamsError,
)
from servicekit.streams.events import BaseEvent

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from servicekit.streams.backoff import Backoff

logger = logging.getLogger(LOGGER_NAME)


def event_classes(target: object) -> tuple[type[BaseEvent], ...] | None:
    """The classes a target names, or None when it is a glob pattern."""
    if isinstance(target, str):
        return None
    if isinstance(target, type) and issubclass(target, BaseEvent):
        return (target,)
    if isinstance(target, types.UnionType) or typing.get_origin(target) is typing.Union:
        members = typing.get_args(target)
        if members and all(isinstance(m, type) and issubclass(m, BaseEvent) for m in members):
            return members
    raise StreamsConfigurationError(
        f"handler target must be an event class, a union of them or a glob string: {target!r}"
    )


@dataclass(frozen=True, slots=True)
class Handler:
    func: Callable[[Any], Awaitable[Any]]
    name: str
    classes: tuple[type[BaseEvent], ...] | None
    pattern: str | None
    timeout: float
    retries: int
    backoff: Backoff
    retryable: tuple[type[BaseException], ...]

    @classmethod
    def build(
        cls,
        func: Callable[[Any], Awaitable[Any]],
        target: object,
        *,
        timeout: float,
        retries: int,
        backoff: Backoff,
        retryable: tuple[type[BaseException], ...],
    ) -> Handler:
        if not inspect.iscoroutinefunction(func):
            raise StreamsConfigurationError(f"handler {func!r} must be an async function")
        if timeout <= 0 or retries < 0:
            raise StreamsConfigurationError("timeout must be positive and retries >= 0")
        classes = event_classes(target)
        return cls(
            func=func,
            name=getattr(func, "__qualname__", repr(func)),
            classes=classes,
            pattern=target if classes is None else None,  # type: ignore[arg-type]
            timeout=timeout,
            retries=retries,
            backoff=backoff,
            retryable=retryable,
        )

    def worst_case(self) -> float:
        """Longest a message can spend in this handler: every attempt times out."""
        delays = sum(self.backoff.upper_bound(attempt) for attempt in range(1, self.retries + 1))
        return self.timeout * (self.retries + 1) + delays

    def matches(self, event: BaseEvent) -> bool:
        if self.classes is not None:
            return isinstance(event, self.classes)
        assert self.pattern is not None
        return fnmatch.fnmatchcase(event.routing_key, self.pattern)

    async def run(self, event: BaseEvent, deadline: Deadline) -> StreamsError | None:
        """Run with timeout and quick retries; None on success, else the final error.

        The error is a :class:`NonRetryableError` (dead-letter the message) or a
        :class:`MaxRetriesExceededError` (leave it pending for redelivery). ``deadline``
        is the :class:`Deadline` of the task awaiting this.
        """
        error = await deadline.run(self, event)
        return None if error is None else await self.retry(event, error, deadline)

    async def retry(
        self, event: BaseEvent, error: BaseException, deadline: Deadline
    ) -> StreamsError | None:
        """Continue after a failed first attempt (``deadline``: as for :meth:`run`)."""
        attempt = 0
        while True:
            failure: StreamsError
            if isinstance(error, NonRetryableError):
                return error
            if not isinstance(error, HandlerTimeoutError) and not isinstance(error, self.retryable):
                failure = NonRetryableError(f"{self.name}: {error!r}")
                failure.__cause__ = error
                return failure
            if attempt >= self.retries:
                failure = MaxRetriesExceededError(
                    f"{self.name} failed {attempt + 1} time(s), last error: {error!r}"
                )
                failure.__cause__ = error
                return failure
            attempt += 1
            delay = self.backoff(attempt)
            logger.info("%s failed (%r); retry %d in %.3fs", self.name, error, attempt, delay)
            await asyncio.sleep(delay)
            outcome = await deadline.run(self, event)
            if outcome is None:
                return None
            error = outcome

    def timeout_error(self) -> HandlerTimeoutError:
        """The error of an attempt that ran out of time."""
        return HandlerTimeoutError(f"{self.name} exceeded {self.timeout}s")


class Deadline:
    """Handler timeouts for the handlers one task runs one after the other.

    ``asyncio.timeout`` schedules and cancels a timer per call, which costs more than a
    no-op handler itself. Here consecutive deadlines share one timer: it is only moved
    when a deadline comes earlier than the scheduled one, and when it fires early it is
    re-armed for the current deadline. The cancellation bookkeeping mirrors
    ``asyncio.timeout``: a cancellation from elsewhere is never turned into a timeout, and
    a ``TimeoutError`` raised by the handler's own code is an ordinary error.

    Create it in the task that runs the handlers, and close it (or use it as a context
    manager) when that task is done with it.
    """

    __slots__ = ("_clock", "_deadline", "_expired", "_loop", "_task", "_timer", "_timer_at")

    def __init__(self) -> None:
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("Deadline must be created inside a task")
        self._loop = loop = asyncio.get_running_loop()
        # The loop's clock (timers use it); asyncio's own loops read time.monotonic, which
        # is cheaper to call directly than through the loop's method.
        self._clock: Callable[[], float] = (
            time.monotonic if type(loop).time is asyncio.BaseEventLoop.time else loop.time
        )
        self._task = task
        self._deadline = math.inf
        self._expired = False
        self._timer: asyncio.TimerHandle | None = None
        # When the timer fires (inf: no timer); kept here to spare a call per attempt.
        self._timer_at = math.inf

    def __enter__(self) -> Deadline:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    async def run(self, handler: Handler, event: BaseEvent) -> BaseException | None:
        """One attempt of ``handler``: None on success, else its error (a
        :class:`HandlerTimeoutError` when it ran out of time). Must be awaited by the task
        that created this."""
        cancelling = self._arm(handler.timeout)
        try:
            await handler.func(event)
        except asyncio.CancelledError:
            if self._timed_out(cancelling):
                return handler.timeout_error()
            raise
        except Exception as exc:
            self._disarm()
            return exc
        self._disarm()
        return None

    def _arm(self, timeout: float) -> int:
        """Start a deadline ``timeout`` seconds from now for an attempt the owning task
        is about to make; returns what :meth:`_timed_out` needs."""
        self._deadline = deadline = self._clock() + timeout
        if self._timer_at > deadline:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = self._loop.call_at(deadline, self._fire)
            self._timer_at = deadline
        return self._task.cancelling()

    def _timed_out(self, cancelling: int) -> bool:
        """After the attempt raised ``CancelledError``: True when the deadline caused it
        (the cancellation is then consumed), False when it must propagate."""
        self._deadline = math.inf
        if self._expired:
            self._expired = False
            return self._task.uncancel() <= cancelling
        return False

    def _disarm(self) -> None:
        """After the attempt returned or raised anything but ``CancelledError``."""
        self._deadline = math.inf
        if self._expired:
            # The handler swallowed our cancellation and finished anyway (the same as
            # leaving ``asyncio.timeout`` without CancelledError).
            self._expired = False
            self._task.uncancel()

    def _fire(self) -> None:
        self._timer, self._timer_at = None, math.inf
        if self._deadline == math.inf:
            return
        if self._loop.time() >= self._deadline:
            self._deadline = math.inf
            self._expired = True
            self._task.cancel()
        else:
            self._timer = self._loop.call_at(self._deadline, self._fire)
            self._timer_at = self._deadline

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer, self._timer_at = None, math.inf
