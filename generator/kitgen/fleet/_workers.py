"""The worker processes of a fleet update, and how they stop.

Each worker is a spawned process with a pipe of its own: the parent sends it one task at
a time and reads one report back, so no lock is shared that a killed worker could leave
held. Workers start with SIGINT ignored (inherited across ``exec``), so Ctrl-C belongs to
the parent alone. On Ctrl-C (or SIGTERM) the parent stops handing out tasks, asks busy
workers to stop with SIGTERM, gives them a few seconds, then kills what is left.

A worker turns SIGTERM into ``SystemExit``, except inside
:func:`kitgen._signals.uninterruptible` blocks, the few writes that must not stop halfway
(creating or pushing a branch): there the request waits until the block is done.
Everything a worker writes to disk (its private clone, Copier's temporary clones) lives
in a per-run scratch directory that the parent removes at the end, however the workers
ended.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import signal
import tempfile
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

from kitgen._git import SAFE_ENV
from kitgen._signals import interrupt_once, sigint_ignored
from kitgen.fleet.model import FleetUpdate, Outcome, ServiceReport

__all__ = ["SCRATCH_ENV", "insteadof_env", "run_workers", "scratch_dir"]

Task = TypeVar("Task")
SCRATCH_ENV = "KITGEN_SCRATCH_DIR"
_MIN_SCRATCH_FREE = 2 * 1024**3
_STOP_GRACE_SECONDS = 15.0


@dataclass
class _Worker:
    process: BaseProcess
    conn: Connection
    service: str | None = None  # the service it is working on


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
    """``work(task)`` for every task in up to ``jobs`` processes; reports go into ``run``.

    ``names`` are the tasks' service names: what an interrupt leaves unfinished is
    listed in ``run.unfinished``.
    """
    if not tasks:
        return
    queue = list(zip(names, tasks, strict=True))
    queue.reverse()
    remaining = set(names)
    scratch = Path(tempfile.mkdtemp(prefix="kitgen-fleet-run-", dir=scratch_dir()))
    workers: list[_Worker] = []
    with interrupt_once():  # `kill <kitgen>` stops the run as Ctrl-C does
        try:
            with sigint_ignored():  # inherited by the spawned workers, kept across exec
                workers = [_start(work, env, scratch) for _ in range(min(max(1, jobs), len(queue)))]
            for worker in workers:
                _give(worker, queue)
            while any(worker.service is not None for worker in workers):
                busy = {worker.conn: worker for worker in workers if worker.service is not None}
                for conn in wait(list(busy)):
                    worker = busy[conn]  # type: ignore[index]
                    report = _receive(worker)
                    remaining.discard(report.name)
                    run.services.append(report)
                    if on_report is not None:
                        on_report(report)
                    _give(worker, queue)
        except KeyboardInterrupt:
            run.interrupted = True
        finally:
            with sigint_ignored():  # a second Ctrl-C must not leave workers behind
                _stop(workers)
                shutil.rmtree(scratch, ignore_errors=True)
            run.unfinished = sorted(remaining)


def _start(work: Callable[[Any], ServiceReport], env: dict[str, str], scratch: Path) -> _Worker:
    context = multiprocessing.get_context("spawn")
    parent_end, child_end = context.Pipe()
    process = context.Process(
        target=_worker_main, args=(work, child_end, env, str(scratch)), name="kitgen-fleet"
    )
    process.start()
    child_end.close()
    return _Worker(process, parent_end)


def _give(worker: _Worker, queue: list[tuple[str, Any]]) -> None:
    """Send the next task, or tell the worker to finish when there is none."""
    if queue:
        worker.service, task = queue.pop()
        worker.conn.send(task)
    else:
        worker.service = None
        worker.conn.send(None)


def _receive(worker: _Worker) -> ServiceReport:
    name = worker.service or "?"
    try:
        report: ServiceReport = worker.conn.recv()
    except (EOFError, OSError):  # the worker died (killed, out of memory)
        worker.process.join(timeout=5)
        code = worker.process.exitcode
        worker.service = None
        return ServiceReport(
            name, "", Outcome.FAILED, stage="update", reason=f"worker process died (exit {code})"
        )
    return report


def _stop(workers: list[_Worker]) -> None:
    """Ask busy workers to stop (SIGTERM), wait a little, kill what is left."""
    for worker in workers:
        if worker.process.is_alive() and worker.service is not None:
            worker.process.terminate()
        else:
            with suppress(OSError):
                worker.conn.send(None)
    for worker in workers:
        worker.process.join(timeout=_STOP_GRACE_SECONDS)
        if worker.process.is_alive():
            worker.process.kill()
            worker.process.join()
        worker.conn.close()


def insteadof_env(mirrors: dict[str, Path]) -> dict[str, str]:
    """Make every git clone of a remote template (Copier's included) read the local mirror."""
    env: dict[str, str] = {}
    for index, (source, mirror) in enumerate(sorted(mirrors.items())):
        env[f"GIT_CONFIG_KEY_{index}"] = f"url.{mirror}.insteadOf"
        env[f"GIT_CONFIG_VALUE_{index}"] = source
    if env:
        env["GIT_CONFIG_COUNT"] = str(len(mirrors))
    return env


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


# -- inside a worker ---------------------------------------------------------------------


def _worker_main(
    work: Callable[[Any], ServiceReport], conn: Connection, env: dict[str, str], scratch: str
) -> None:
    # Copier's own git calls run with the same safety settings and template mirrors.
    os.environ.update({key: value for key, value in SAFE_ENV.items() if key != "LC_ALL"})
    os.environ.update(env)
    signal.signal(signal.SIGTERM, _on_terminate)
    while True:
        try:
            task = conn.recv()
        except EOFError:  # the parent is gone
            return
        if task is None:
            return
        # Every temporary file of this task (Copier's clones included) goes in here.
        task_dir = tempfile.mkdtemp(prefix="task-", dir=scratch)
        tempfile.tempdir = task_dir
        os.environ["TMPDIR"] = task_dir
        try:
            report = work(task)
        finally:
            shutil.rmtree(task_dir, ignore_errors=True)
        conn.send(report)


def _on_terminate(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)
