"""The worker processes of a fleet update, and how they stop.

Ctrl-C belongs to the parent: workers ignore SIGINT, and the parent, on Ctrl-C, stops
handing out services and terminates the pool. A worker turns that SIGTERM into
``SystemExit`` (so its ``finally`` blocks remove its scratch clone), except inside
:func:`uninterruptible` blocks, the few writes that must not stop halfway (creating or
pushing a branch): there the request waits until the block is done.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import signal
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TypeVar

from kitgen._git import SAFE_ENV
from kitgen.fleet.model import FleetUpdate, ServiceReport

__all__ = ["SCRATCH_ENV", "insteadof_env", "run_workers", "scratch_dir", "uninterruptible"]

Task = TypeVar("Task")


def run_workers(
    work: Callable[[Task], ServiceReport],
    tasks: Sequence[Task],
    names: Sequence[str],
    *,
    jobs: int,
    env: dict[str, str],
    run: FleetUpdate,
    on_report: Callable[[ServiceReport], None] | None,
) -> None:
    """``work(task)`` for every task in ``jobs`` processes; reports go into ``run``.

    ``names`` are the tasks' service names, for the list of what an interrupt left
    unfinished.
    """
    if not tasks:
        return
    context = multiprocessing.get_context("spawn")
    pool = context.Pool(
        processes=min(max(1, jobs), len(tasks)), initializer=_worker_init, initargs=(env,)
    )
    remaining = set(names)
    try:
        for report in pool.imap_unordered(work, tasks):
            remaining.discard(report.name)
            run.services.append(report)
            if on_report is not None:
                on_report(report)
        pool.close()
    except KeyboardInterrupt:
        run.interrupted = True
        # Workers defer SIGTERM while they write a branch, so none is left half-made.
        pool.terminate()
    finally:
        pool.join()
        run.unfinished = sorted(remaining)


def insteadof_env(mirrors: dict[str, Path]) -> dict[str, str]:
    """Make every git clone of a remote template (Copier's included) read the local mirror."""
    env: dict[str, str] = {}
    for index, (source, mirror) in enumerate(sorted(mirrors.items())):
        env[f"GIT_CONFIG_KEY_{index}"] = f"url.{mirror}.insteadOf"
        env[f"GIT_CONFIG_VALUE_{index}"] = source
    if env:
        env["GIT_CONFIG_COUNT"] = str(len(mirrors))
    return env


SCRATCH_ENV = "KITGEN_SCRATCH_DIR"
_MIN_SCRATCH_FREE = 2 * 1024**3


def scratch_dir() -> Path:
    """Where workers render: ``$KITGEN_SCRATCH_DIR``, else memory (``/dev/shm``) when it has
    room, else the system's temporary directory.

    A Copier update writes the template out three times and the service once, in
    temporary git repositories: on a disk-backed ``/tmp`` that file-system work is about
    half of its time, in memory it is almost free.
    """
    explicit = os.environ.get(SCRATCH_ENV, "").strip()
    if explicit:
        return Path(explicit)
    shm = Path("/dev/shm")
    try:
        usage = shutil.disk_usage(shm)
        if os.access(shm, os.W_OK) and usage.free >= _MIN_SCRATCH_FREE:
            return shm
    except OSError:
        pass
    return Path(tempfile.gettempdir())


_critical = False
_terminate_requested = False


def _worker_init(env: dict[str, str]) -> None:
    # Copier's own git calls run with the same safety settings and template mirrors.
    os.environ.update({key: value for key, value in SAFE_ENV.items() if key != "LC_ALL"})
    os.environ.update(env)
    scratch = scratch_dir()
    os.environ["TMPDIR"] = str(scratch)
    tempfile.tempdir = str(scratch)
    # Ctrl-C is the parent's to handle: it stops the run and terminates the workers.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _on_terminate)


def _on_terminate(signum: int, frame: FrameType | None) -> None:
    global _terminate_requested  # noqa: PLW0603 - a signal handler's only channel
    if _critical:
        _terminate_requested = True
        return
    raise SystemExit(128 + signum)


@contextmanager
def uninterruptible() -> Iterator[None]:
    """Defer a terminate request until the block (a ref update, a push) has finished."""
    global _critical  # noqa: PLW0603
    _critical = True
    try:
        yield
    finally:
        _critical = False
        if _terminate_requested:
            raise SystemExit(128 + signal.SIGTERM)


# -- one service -------------------------------------------------------------------------
