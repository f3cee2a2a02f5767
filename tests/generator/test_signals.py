"""A Ctrl-C that Python swallows (it landed in a finaliser) still stops the command."""

from __future__ import annotations

import gc
import signal

import pytest

from kitgen._signals import interrupt_once, raise_if_interrupted


class _InterruptedWhileCollected:
    def __del__(self) -> None:
        # What a real Ctrl-C does when it lands while the garbage collector runs a
        # finaliser (plumbum's Popen.__del__ in the case seen): the handler's
        # KeyboardInterrupt is printed as "Exception ignored" and lost.
        signal.raise_signal(signal.SIGINT)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_an_interrupt_lost_in_a_finaliser_is_raised_at_the_next_check() -> None:
    with interrupt_once():
        _InterruptedWhileCollected()
        gc.collect()
        with pytest.raises(KeyboardInterrupt):
            raise_if_interrupted()


def test_no_interrupt_no_raise() -> None:
    with interrupt_once():
        raise_if_interrupted()
    with interrupt_once():  # a new command starts with no interrupt pending
        raise_if_interrupted()
