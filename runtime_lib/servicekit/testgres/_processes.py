"""Starting throwaway Postgres and Redis servers from locally installed binaries."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

_START_TIMEOUT_S = 30.0


def port_answers(host: str, port: int, timeout: float = 0.25) -> bool:
    """True when something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def find_postgres_bin(name: str) -> str | None:
    """Path of a Postgres server binary: on PATH, else Debian's versioned directory."""
    on_path = shutil.which(name)
    if on_path:
        return on_path
    candidates = sorted(
        glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
        key=lambda path: int(Path(path).parts[-3]) if Path(path).parts[-3].isdigit() else 0,
    )
    return candidates[-1] if candidates else None


def postgres_user_for(directory: str) -> list[str]:
    """The command prefix that runs a Postgres tool in ``directory``.

    Postgres' tools (and PgBouncer) refuse to run as root: as root, ``directory`` and
    everything in it is handed to the ``postgres`` user, who runs them.
    """
    if os.geteuid() != 0:
        return []
    user = pwd.getpwnam("postgres")
    for path in (directory, *(str(p) for p in Path(directory).iterdir())):
        os.chown(path, user.pw_uid, user.pw_gid)
    return ["runuser", "-u", "postgres", "--"]


@dataclass
class LocalServer:
    """A server this process started; :meth:`stop` stops it and removes its files."""

    url: str
    stop_command: list[str] = field(default_factory=list)
    process: subprocess.Popen[bytes] | None = None
    directory: str | None = None
    start_command: list[str] = field(default_factory=list)

    def kill(self) -> None:
        """Stop the server at once, as a crash would, keeping its files (see :meth:`start`)."""
        run_checked(self.stop_command)

    def start(self) -> None:
        """Start the server :meth:`kill` stopped, on the same port and data."""
        run_checked(self.start_command)

    def stop(self) -> None:
        if self.stop_command:
            subprocess.run(self.stop_command, check=False, capture_output=True, timeout=60)
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        if self.directory:
            shutil.rmtree(self.directory, ignore_errors=True)


def start_postgres() -> LocalServer:
    """initdb + pg_ctl start on a free port, tuned for tests (no fsync, trust auth).

    initdb refuses to run as root, so as root the server runs as the ``postgres`` user.
    """
    initdb, pg_ctl = find_postgres_bin("initdb"), find_postgres_bin("pg_ctl")
    if initdb is None or pg_ctl is None:
        raise FileNotFoundError("initdb/pg_ctl not found (install Debian's postgresql)")
    directory = tempfile.mkdtemp(prefix="testgres-pg-")
    run_as = postgres_user_for(directory)
    data = os.path.join(directory, "data")
    port = free_port()
    run_checked(
        [
            *run_as,
            initdb,
            "-D",
            data,
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-sync",
            "--no-instructions",
        ]
    )
    options = (
        f"-p {port} -c listen_addresses=127.0.0.1 -k {directory} -c fsync=off "
        "-c synchronous_commit=off -c full_page_writes=off"
    )
    log = os.path.join(directory, "server.log")
    start = [*run_as, pg_ctl, "-D", data, "-l", log, "-o", options, "-w", "-t", "30", "start"]
    run_checked(start)
    stop = [*run_as, pg_ctl, "-D", data, "-m", "immediate", "stop"]
    return LocalServer(
        url=f"postgresql://postgres@127.0.0.1:{port}/postgres",
        stop_command=stop,
        directory=directory,
        start_command=start,
    )


def start_redis(*extra_args: str) -> LocalServer:
    """redis-server on a free port with persistence off; ``extra_args`` are appended."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise FileNotFoundError("redis-server not found (install Debian's redis-server)")
    directory = tempfile.mkdtemp(prefix="testgres-redis-")
    port = free_port()
    command = [
        binary,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        directory,
        *extra_args,
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = LocalServer(
        url=f"redis://127.0.0.1:{port}/0",
        process=process,
        directory=directory,
        start_command=command,
    )
    deadline = time.monotonic() + _START_TIMEOUT_S
    while not port_answers("127.0.0.1", port):
        if process.poll() is not None or time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"redis-server exited or did not listen on port {port}")
        time.sleep(0.02)
    return server


def run_checked(command: list[str]) -> None:
    """Run ``command``; a non-zero exit is a RuntimeError naming the tool and its last words."""
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise RuntimeError(f"{Path(command[-1]).name}: {' / '.join(detail[-3:])}")


def docker_answers(timeout: float = 0.5) -> bool:
    """True when a Docker engine answers ``/_ping`` on its socket or ``$DOCKER_HOST``."""
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    with contextlib.suppress(OSError):
        if host.startswith("unix://"):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(timeout)
            sock.connect(host.removeprefix("unix://"))
        elif host.startswith("tcp://"):
            address, _, port = host.removeprefix("tcp://").partition(":")
            sock = socket.create_connection((address, int(port or 2375)), timeout=timeout)
        else:
            return False
        with sock:
            sock.sendall(b"GET /_ping HTTP/1.0\r\n\r\n")
            return sock.recv(64).startswith(b"HTTP/1.")
    return False
