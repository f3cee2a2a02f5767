"""One kitgen at a time: an advisory lock (``flock``) held while a command writes.

The lock belongs to the open file, so it is released however the process ends (even
``kill -9``): there is never a stale lock to remove by hand. The holder writes its pid
into the file, so that a refused run can say who is in the way. That write must land
in the lock file itself: a symlink or a hard link in its place (planted in ``.git``,
which git does not check) would have it overwrite a file elsewhere, so both are refused.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from kitgen.errors import UserError

__all__ = ["exclusive"]

_POLL_SECONDS = 0.1
# Appending (as "a+" does) keeps the pid the current holder wrote; O_NOFOLLOW makes a
# symlink fail with ELOOP instead of being followed, a dangling one included.
_OPEN_FLAGS = os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC


@contextmanager
def exclusive(lock_file: Path, *, wait: float, busy: Callable[[str], str]) -> Iterator[None]:
    """Hold an exclusive lock on ``lock_file`` for the block.

    Waits up to ``wait`` seconds for another holder to finish, then raises a
    :class:`UserError` worded by ``busy(holder)`` (``holder`` is ``"pid 1234"``).
    """
    with _open_lock_file(lock_file) as handle:
        deadline = time.monotonic() + wait
        while not _try_lock(handle):
            if time.monotonic() >= deadline:
                raise UserError(busy(_holder(handle)))
            time.sleep(_POLL_SECONDS)
        handle.truncate(0)
        handle.write(str(os.getpid()))
        handle.flush()
        yield


def _open_lock_file(lock_file: Path) -> IO[str]:
    try:
        descriptor = os.open(lock_file, _OPEN_FLAGS, 0o600)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _refused_link(lock_file, "is a symbolic link") from None
        raise UserError(f"cannot create the lock file {lock_file}: {exc.strerror or exc}") from None
    handle = os.fdopen(descriptor, "a+", encoding="ascii")
    status = os.fstat(descriptor)
    if not stat.S_ISREG(status.st_mode) or status.st_nlink > 1:
        handle.close()
        what = "has other hard links" if stat.S_ISREG(status.st_mode) else "is not a file"
        raise _refused_link(lock_file, what)
    return handle


def _refused_link(lock_file: Path, what: str) -> UserError:
    # kitgen writes its pid into the lock file: through a link, into another file.
    return UserError(f"the lock file {lock_file} {what}; remove it")


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
