"""Delay strategies between the quick, in-process retries of a handler.

A strategy maps the retry number (1 for the first retry) to a delay in seconds. It also
reports the largest delay it can return, so the router can prove that a handler with all
its retries has a deadline: it finishes, and its consumer lets go of the message.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Protocol

__all__ = ["Backoff", "Constant", "Exponential", "Linear", "constant", "exponential", "linear"]


class Backoff(Protocol):
    """What the router needs from a backoff strategy."""

    def __call__(self, attempt: int) -> float:
        """Delay in seconds before retry number ``attempt`` (1-based)."""
        ...

    def upper_bound(self, attempt: int) -> float:
        """The largest value ``self(attempt)`` can return."""
        ...


@dataclass(frozen=True, slots=True)
class Exponential:
    """``initial * base ** attempt``, capped at ``max_delay``, with optional jitter."""

    base: float = 2.0
    max_delay: float = 60.0
    jitter: bool = True
    initial: float = 1.0

    def upper_bound(self, attempt: int) -> float:
        return min(self.max_delay, self.initial * self.base**attempt)

    def __call__(self, attempt: int) -> float:
        delay = self.upper_bound(attempt)
        # "Equal jitter": keep at least half the delay so retries still back off, and
        # spread the rest so consumers that failed together do not retry together.
        return delay / 2 + random.uniform(0, delay / 2) if self.jitter else delay


@dataclass(frozen=True, slots=True)
class Linear:
    """``delay * attempt``, capped at ``max_delay``."""

    delay: float = 1.0
    max_delay: float = 60.0

    def upper_bound(self, attempt: int) -> float:
        return min(self.max_delay, self.delay * attempt)

    def __call__(self, attempt: int) -> float:
        return self.upper_bound(attempt)


@dataclass(frozen=True, slots=True)
class Constant:
    """The same delay before every retry."""

    delay: float = 1.0

    def upper_bound(self, attempt: int) -> float:
        return self.delay

    def __call__(self, attempt: int) -> float:
        return self.delay


def exponential(
    base: float = 2.0, max_delay: float = 60.0, jitter: bool = True, initial: float = 1.0
) -> Exponential:
    """Exponential backoff: 2, 4, 8, ... seconds with the defaults."""
    return Exponential(base=base, max_delay=max_delay, jitter=jitter, initial=initial)


def linear(delay: float = 1.0, max_delay: float = 60.0) -> Linear:
    """Linear backoff: 1, 2, 3, ... seconds with the defaults."""
    return Linear(delay=delay, max_delay=max_delay)


def constant(delay: float = 1.0) -> Constant:
    """Constant backoff: ``delay`` seconds before every retry."""
    return Constant(delay=delay)
