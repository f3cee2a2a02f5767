"""Ctrl-C and ``kill`` while kitgen writes: they stop it, but never halfway through a write.

A Ctrl-C (SIGINT), ``kill`` (SIGTERM), a closed terminal (SIGHUP) or Ctrl-\\ (SIGQUIT)
in the middle of a restore, a ref update or a push would leave the very half-done state
those steps exist to avoid. Inside :func:`uninterruptible` such a signal waits until the
block is done, then takes effect as it would have (Ctrl-C raises
:class:`KeyboardInterrupt` afterwards). Under :func:`interrupt_once` (a whole command)
the first signal stops the command and the ones after it are dropped, so that its
clean-up runs to the end.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

__all__ = ["interrupt_once", "raise_if_interrupted", "sigint_ignored", "uninterruptible"]

# Every signal whose default action ends the process and that a user sends in practice;
# SIGQUIT would otherwise dump core with the tree half written.
_DEFERRED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)


@contextmanager
def uninterruptible() -> Iterator[None]:
    """Hold SIGINT, SIGTERM, SIGHUP and SIGQUIT until the block has finished, then deliver them.

    The signals are blocked, not just handled: processes started in the block inherit
    the mask, so a Ctrl-C at the terminal (sent to the whole process group) cannot kill
    the git a restore runs either, not even in the instant before it leaves the group.
    Only the main thread can handle signals; elsewhere the block simply runs.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def hold(signum: int, frame: FrameType | None) -> None:
        received.append(signum)  # it reached another thread, which does not block it

    previous = {signum: signal.signal(signum, hold) for signum in _DEFERRED}
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, _DEFERRED)
    try:
        yield
    finally:
        _restore_handlers(previous)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)  # pending signals arrive now
        if received:
            signal.raise_signal(received[0])


@contextmanager
def sigint_ignored() -> Iterator[None]:
    """Ctrl-C does nothing within the block (nor in processes started in it, which inherit
    the setting across ``exec``); unlike :func:`uninterruptible`, it is dropped, not held."""
    previous = {signal.SIGINT: signal.signal(signal.SIGINT, signal.SIG_IGN)}
    try:
        yield
    finally:
        _restore_handlers(previous)


@contextmanager
def interrupt_once() -> Iterator[None]:
    """Within the block, the first SIGINT, SIGTERM, SIGHUP or SIGQUIT raises
    :class:`KeyboardInterrupt` and later ones are dropped: the command is already
    stopping, and a second Ctrl-C (or a ``kill`` after it) must not cut its clean-up
    short. Re-entrant."""
    if _interrupts.active or threading.current_thread() is not threading.main_thread():
        yield
        return
    _interrupts.active = True
    _interrupts.received = False
    previous = {signum: signal.signal(signum, _first_interrupt_only) for signum in _DEFERRED}
    try:
        yield
    finally:
        _restore_handlers(previous)
        _interrupts.active = False


def raise_if_interrupted() -> None:
    """Raise the :class:`KeyboardInterrupt` of a signal :func:`interrupt_once` took but
    Python swallowed: one that lands while a finaliser (``__del__``, a weakref callback)
    runs is printed as "Exception ignored" and lost. Call it before a step that would
    make the command's work permanent."""
    if _interrupts.received:
        raise KeyboardInterrupt


class _Interrupts:
    """Whether :func:`interrupt_once` is in effect, and whether its signal came."""

    active = False
    received = False


_interrupts = _Interrupts()


def _first_interrupt_only(signum: int, frame: FrameType | None) -> None:
    for deferred in _DEFERRED:  # from now on the kernel drops them
        signal.signal(deferred, signal.SIG_IGN)
    _interrupts.received = True
    raise KeyboardInterrupt


def _restore_handlers(previous: dict[signal.Signals, Any]) -> None:
    for signum, handler in previous.items():
        # None: a handler installed outside Python; the default is the closest.
        signal.signal(signum, signal.SIG_DFL if handler is None else handler)
