"""Ctrl-C (and ``kill``) at every phase of ``add`` and ``sync``: the tree is as it was.

Each case holds one phase open, or waits until it is observably under way, then signals:

* ``template clone``: Copier's clone of the template appears in the private temporary
  directory (the run's ``TMPDIR``);
* ``rendering``: the first generated file appears in the service;
* ``scratch database``: kitgen connects to Postgres to create the throwaway database the
  migration is written against (the manifest and answers are already rewritten). The
  connection goes through a proxy that holds it;
* ``alembic``: the service's Alembic connects to that database; the proxy holds it.

A pending hand edit of ``service.yaml`` must survive, byte for byte; Copier's temporary
clones must be gone; the exit code is 130. ``pid`` signals kitgen alone; ``group``
signals its process group, as a terminal's Ctrl-C does (git and Alembic get it too).
"""

from __future__ import annotations

import os
import signal
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pytest

from tests.hostile._harness import (
    assert_refused,
    assert_unchanged,
    finished,
    git,
    kitgen,
    start_kitgen,
    tree_state,
)

ADD = ("add", "repository", "Product", "--field", "name:str", "--field", "price:decimal")
SYNC = ("sync",)
ADD_COMMENT = "# owner: the payments team (a hand edit kitgen must keep)\n"
SYNC_ENTITY = (
    "entities:\n"
    "  - name: Invoice   # added by hand, then `kitgen sync`\n"
    "    fields:\n"
    "      - {name: number, type: str, unique: true}\n"
)
GENERATED = {"add": "shop/models/product.py", "sync": "shop/models/invoice.py"}
POSTGRES = ("127.0.0.1", 5432)
_SSL_OR_GSS_REQUEST = (80877103, 80877104)


# -- a Postgres proxy that can hold one connection open ------------------------------------


class HoldingProxy:
    """Forwards connections to the local Postgres, except one it holds without an answer:
    the first to ``database`` (or, with ``database=None``, the first to any database
    other than ``postgres``, i.e. Alembic's). ``held`` is set when that one arrives."""

    def __init__(self, database: str | None) -> None:
        self.database = database
        self.held = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._sockets: list[socket.socket] = [self._listener]
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self._listener.getsockname()[1]}/postgres"

    def close(self) -> None:
        for sock in self._sockets:
            sock.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self._sockets.append(client)
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            startup = _startup_packet(client)
        except OSError:
            return
        if startup is None:
            return
        if self._should_hold(startup) and not self.held.is_set():
            self.held.set()
            return  # never answered: kitgen (or Alembic) waits here
        upstream = socket.create_connection(POSTGRES)
        self._sockets.append(upstream)
        upstream.sendall(startup)
        threading.Thread(target=_pump, args=(upstream, client), daemon=True).start()
        _pump(client, upstream)

    def _should_hold(self, startup: bytes) -> bool:
        fields = startup[8:].split(b"\0")
        params = dict(zip(fields[0::2], fields[1::2], strict=False))
        database = params.get(b"database", params.get(b"user", b"")).decode()
        if self.database is None:
            return database != "postgres"
        return database == self.database


def _startup_packet(client: socket.socket) -> bytes | None:
    """The client's startup packet, after declining SSL and GSS encryption."""
    while True:
        header = _read(client, 8)
        if header is None:
            return None
        length, code = struct.unpack("!II", header)
        if code in _SSL_OR_GSS_REQUEST:
            client.sendall(b"N")
            continue
        rest = _read(client, length - 8)
        return None if rest is None else header + rest


def _read(sock: socket.socket, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def _pump(source: socket.socket, target: socket.socket) -> None:
    try:
        while chunk := source.recv(65536):
            target.sendall(chunk)
    except OSError:
        pass
    finally:
        for sock in (source, target):
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


@pytest.fixture
def proxy_for() -> Iterator[Callable[[str | None], HoldingProxy]]:
    proxies: list[HoldingProxy] = []

    def make(database: str | None) -> HoldingProxy:
        proxies.append(HoldingProxy(database))
        return proxies[-1]

    yield make
    for proxy in proxies:
        proxy.close()


# -- the cases ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    id: str
    command: str  # "add" or "sync"
    phase: str  # "template clone", "rendering", "scratch database", "alembic"
    deliver: str = "pid"  # "pid": kitgen alone; "group": as a terminal's Ctrl-C
    signum: int = signal.SIGINT
    storm: bool = False  # keep signalling until kitgen exits (a Ctrl-C during the restore)


CASES = [
    Case("add-template-clone-pid", "add", "template clone"),
    Case("add-template-clone-group", "add", "template clone", deliver="group"),
    Case("add-rendering-pid", "add", "rendering"),
    Case("add-rendering-group", "add", "rendering", deliver="group"),
    Case("add-scratch-database-pid", "add", "scratch database"),
    Case("add-scratch-database-group", "add", "scratch database", deliver="group"),
    Case("add-alembic-pid", "add", "alembic"),
    Case("add-alembic-group", "add", "alembic", deliver="group"),
    Case("add-sigterm-scratch-database", "add", "scratch database", signum=signal.SIGTERM),
    Case("add-ctrl-c-storm-during-restore", "add", "scratch database", storm=True),
    Case(
        "add-group-ctrl-c-storm-during-restore",
        "add",
        "rendering",
        deliver="group",
        storm=True,
    ),
    Case("sync-template-clone-group", "sync", "template clone", deliver="group"),
    Case("sync-rendering-pid", "sync", "rendering"),
    Case("sync-scratch-database-group", "sync", "scratch database", deliver="group"),
    Case("sync-alembic-pid", "sync", "alembic"),
    Case("sync-ctrl-c-storm-during-restore", "sync", "alembic", storm=True),
]


def hand_edit(service: Path, command: str) -> None:
    """The edit of service.yaml a user has pending when they run the command."""
    manifest = service / "service.yaml"
    text = manifest.read_text(encoding="utf-8")
    if command == "add":
        manifest.write_text(text + ADD_COMMENT, encoding="utf-8")
    else:
        manifest.write_text(text.replace("entities: []\n", SYNC_ENTITY), encoding="utf-8")


def copier_clone_exists(temp: Path) -> bool:
    return any(temp.glob("*/copier._vcs.clone.*")) or any(temp.glob("copier._vcs.clone.*"))


# Seen in full CI runs, never alone: a connection through HoldingProxy breaks before the
# phase is reached ("server terminated abnormally"), and kitgen stops with exit 2 before
# it can be interrupted. The cause is not found (the server logs nothing for it); such a
# run is retried, any other early end fails the test.
_ATTEMPTS = 3
_LINK_LOST = "server terminated abnormally"


def wait_for(
    process: subprocess.Popen[str],
    reached: Callable[[], bool],
    phase: str,
    *,
    may_lose_link: bool = False,
) -> bool:
    """Wait until ``reached()``; ``True`` when kitgen ended first on a lost link and
    ``may_lose_link`` allows a retry."""
    deadline = time.monotonic() + 120
    while not reached():
        if process.poll() is not None:
            # Bounded: a child kitgen left behind may still hold the pipes open.
            output = "".join(process.communicate(timeout=30))
            if may_lose_link and process.returncode == 2 and _LINK_LOST in output:
                return True
            pytest.fail(f"kitgen ended (exit {process.returncode}) before {phase}:\n{output}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"kitgen never reached {phase}")
        time.sleep(0.002)
    return False


def deliver(process: subprocess.Popen[str], case: Case) -> None:
    if case.deliver == "group":
        os.killpg(process.pid, case.signum)
    else:
        os.kill(process.pid, case.signum)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_an_interrupt_leaves_the_tree_as_it_was(
    case: Case,
    service: Path,
    tmp_path: Path,
    proxy_for: Callable[[str | None], HoldingProxy],
) -> None:
    hand_edit(service, case.command)
    before = tree_state(service)
    for attempt in range(_ATTEMPTS):
        temp = tmp_path / f"tmp{attempt}"
        temp.mkdir()
        proxy = proxy_for("postgres" if case.phase == "scratch database" else None)
        env = {"TMPDIR": str(temp), "DATABASE_URL": proxy.url}
        process = start_kitgen(service, *(ADD if case.command == "add" else SYNC), env=env)
        reached = {
            "template clone": partial(copier_clone_exists, temp),
            "rendering": (service / GENERATED[case.command]).exists,
            "scratch database": proxy.held.is_set,
            "alembic": proxy.held.is_set,
        }[case.phase]
        lost = wait_for(process, reached, case.phase, may_lose_link=attempt < _ATTEMPTS - 1)
        if not lost:
            break
        # The run failed cleanly before the phase (exit 2, tree restored): try once more.
        assert_unchanged(before, service)
    deliver(process, case)
    while case.storm and process.poll() is None:
        deliver(process, case)
        time.sleep(0.003)
    result = finished(process)
    assert_refused(result, code=130, says="interrupted")
    assert_unchanged(before, service)
    assert not list(temp.iterdir()), f"temporary files left behind: {list(temp.iterdir())}"


@dataclass(frozen=True)
class FailureCase:
    id: str
    command: str
    database_url: str  # where the migration step looks for Postgres
    says: str


FAILURES = [
    FailureCase("add-migration-fails", "add", "postgresql://postgres@127.0.0.1:1/x", "postgres"),
    FailureCase("sync-migration-fails", "sync", "postgresql://postgres@127.0.0.1:1/x", "postgres"),
]


@pytest.mark.parametrize("case", FAILURES, ids=[case.id for case in FAILURES])
def test_a_failure_after_the_manifest_was_written_restores_it(
    case: FailureCase, service: Path
) -> None:
    """The migration runs after the manifest and answers were rewritten: its failure must
    bring back the user's own manifest (hand edit included), not the new one."""
    hand_edit(service, case.command)
    before = tree_state(service)
    args = ADD if case.command == "add" else SYNC
    result = kitgen(service, *args, env={"DATABASE_URL": case.database_url})
    assert_refused(result, says=case.says)
    assert_unchanged(before, service)


# -- a closed terminal (SIGHUP) and Ctrl-\ (SIGQUIT) stop kitgen as Ctrl-C does ------------------


@dataclass(frozen=True)
class HangupCase:
    id: str
    signum: int
    phase: str  # as in CASES: "rendering" or "scratch database"


HANGUPS = [
    HangupCase("add-sighup-rendering", signal.SIGHUP, "rendering"),
    HangupCase("add-sighup-scratch-database", signal.SIGHUP, "scratch database"),
    HangupCase("add-sigquit-rendering", signal.SIGQUIT, "rendering"),
    HangupCase("add-sigquit-scratch-database", signal.SIGQUIT, "scratch database"),
]


@pytest.mark.parametrize("case", HANGUPS, ids=[case.id for case in HANGUPS])
def test_a_hangup_or_quit_leaves_the_tree_as_it_was(
    case: HangupCase,
    service: Path,
    tmp_path: Path,
    proxy_for: Callable[[str | None], HoldingProxy],
) -> None:
    hand_edit(service, "add")
    before = tree_state(service)
    temp = tmp_path / "tmp"
    temp.mkdir()
    proxy = proxy_for("postgres")
    env = {"TMPDIR": str(temp), "DATABASE_URL": proxy.url}
    process = start_kitgen(service, *ADD, env=env)
    reached = {
        "rendering": (service / GENERATED["add"]).exists,
        "scratch database": proxy.held.is_set,
    }[case.phase]
    wait_for(process, reached, case.phase)
    os.kill(process.pid, case.signum)
    result = finished(process)
    assert_refused(result, code=130, says="interrupted")
    assert_unchanged(before, service)
    assert not list(temp.iterdir()), f"temporary files left behind: {list(temp.iterdir())}"


@pytest.mark.parametrize("signum", [signal.SIGHUP, signal.SIGQUIT], ids=["sighup", "sigquit"])
def test_a_hangup_during_a_dry_run_leaves_no_scratch_work_tree(
    signum: int, service: Path, tmp_path: Path
) -> None:
    """A dry run renders in a scratch ``git worktree``: it is removed and unregistered."""
    hand_edit(service, "add")
    before = tree_state(service)
    worktrees_before = git(service, "worktree", "list", "--porcelain")
    temp = tmp_path / "tmp"
    temp.mkdir()
    process = start_kitgen(service, *ADD, "--dry-run", env={"TMPDIR": str(temp)})
    wait_for(process, lambda: any(temp.glob(f"*/shop/{GENERATED['add']}")), "rendering")
    os.kill(process.pid, signum)
    result = finished(process)
    assert_refused(result, code=130, says="interrupted")
    assert_unchanged(before, service)
    assert git(service, "worktree", "list", "--porcelain") == worktrees_before
    assert not list(temp.iterdir()), f"temporary files left behind: {list(temp.iterdir())}"


# -- `kitgen new` is all or nothing ----------------------------------------------------------


@dataclass(frozen=True)
class NewCase:
    id: str
    signum: int
    existing_empty: bool = False  # the destination is an empty directory made beforehand


NEW_CASES = [
    NewCase("new-sigint", signal.SIGINT),
    NewCase("new-sighup", signal.SIGHUP),
    NewCase("new-sigint-into-empty-directory", signal.SIGINT, existing_empty=True),
]


@pytest.mark.parametrize("case", NEW_CASES, ids=[case.id for case in NEW_CASES])
def test_an_interrupted_new_leaves_no_partial_service(
    case: NewCase, hostile_template: Path, tmp_path: Path
) -> None:
    parent = tmp_path / "services"
    parent.mkdir()
    destination = parent / "shop"
    if case.existing_empty:
        destination.mkdir()
    temp = tmp_path / "tmp"
    temp.mkdir()
    process = start_kitgen(
        parent,
        *("new", "shop", "--defaults", "--template", str(hostile_template)),
        *("--vcs-ref", "1.0.0", "--data", "service_name=shop"),
        env={"TMPDIR": str(temp)},
    )
    # Halfway through rendering: the first file is in the hidden staging directory.
    wait_for(process, lambda: any(parent.glob(".*/shop/README.md")), "rendering")
    os.kill(process.pid, case.signum)
    result = finished(process)
    assert_refused(result, code=130, says="interrupted")
    expected = ["shop"] if case.existing_empty else []
    assert sorted(entry.name for entry in parent.iterdir()) == expected
    assert not destination.exists() or not any(destination.iterdir())
    assert not list(temp.iterdir()), f"temporary files left behind: {list(temp.iterdir())}"


def test_new_records_no_trace_of_its_staging_directory(
    hostile_template: Path, pristine_service: Path, tmp_path: Path
) -> None:
    """The answers of a service made by the staged ``new`` are those of any other."""
    result = kitgen(
        tmp_path,
        *("new", "shop", "--defaults", "--template", str(hostile_template)),
        *("--vcs-ref", "1.0.0", "--data", "service_name=shop", "--data", "with_streams=true"),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert [entry.name for entry in tmp_path.iterdir()] == ["shop"]
    answers = (tmp_path / "shop" / ".copier-answers.yml").read_text(encoding="utf-8")
    assert "kitgen-new" not in answers
    assert answers == (pristine_service / ".copier-answers.yml").read_text(encoding="utf-8")
