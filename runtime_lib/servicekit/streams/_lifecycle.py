"""The stop request of a router's run, shared by its read and claim loops."""

from __future__ import annotations

import asyncio
import contextlib


class Stop:
    """Whether the current run should stop, and a sleep that a stop request cuts short."""

    __slots__ = ("_event", "requested")

    def __init__(self) -> None:
        self.requested = False
        self._event: asyncio.Event | None = None

    def reset(self) -> None:
        """Start a run: nothing requested (call it in the loop the run uses)."""
        self.requested = False
        self._event = asyncio.Event()

    def request(self) -> None:
        """Ask the loops to stop; sleepers wake up at once."""
        self.requested = True
        if self._event is not None:
            self._event.set()

    async def sleep(self, seconds: float) -> None:
        """Sleep, but wake up at once when a stop is requested."""
        assert self._event is not None, "sleep() outside a run"
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), seconds)
