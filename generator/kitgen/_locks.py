"""One kitgen at a time: an advisory lock (``flock``) held while a command writes.

The lock belongs to the open file, so it is released however the process ends (even
``kill -9``): there is never a stale lock to remove by hand. The holder writes its pid
into the file, so that a refused run can say who is in the way.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from kitgen.errors import UserError

__all__ = ["exclusive"]

_POLL_SECONDS = 0.1


@contextmanager
def exclusive(lock_file: Path, *, wait: float, busy: Callable[[str], str]) -> Iterator[None]:
    """Hold an exclusive lock on ``lock_file`` for the block.

    Waits up to ``wait`` seconds for another holder to finish, then raises a
    :class:`UserError` worded by ``busy(holder)`` (``holder`` is ``"pid 1234"``).
    """
    try:
        # "a+": opening must not erase the pid the current holder wrote.
        handle = lock_file.open("a+", encoding="ascii")
    except OSError as exc:
        raise UserError(f"cannot create the lock file {lock_file}: {exc.strerror or exc}") from None
    with handle:
        deadline = time.monotonic() + wait
        while not _try_lock(handle):
            if time.monotonic() >= deadline:
                raise UserError(busy(_holder(handle)))
            time.sleep(_POLL_SECONDS)
        handle.truncate(0)
        handle.write(str(os.getpid()))
        handle.flush()
        yield


def _try_lock(handle: IO[str]) -> bool:
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _holder(handle: IO[str]) -> str:
    handle.seek(0)
    pid = handle.read(20).strip()
    return f"pid {pid}" if pid.isdigit() else "pid unknown"
