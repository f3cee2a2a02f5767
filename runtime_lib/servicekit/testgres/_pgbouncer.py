"""A throwaway PgBouncer in transaction pooling mode, in front of a test Postgres."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from sqlalchemy.engine import make_url

from servicekit.testgres._processes import (
    LocalServer,
    free_port,
    port_answers,
    postgres_user_for,
    run_checked,
)

_START_TIMEOUT_S = 10.0


def start_pgbouncer(postgres_url: str, *, pool_size: int = 20) -> LocalServer:
    """PgBouncer on a free loopback port, pooling transactions to ``postgres_url``'s server.

    Every database name is passed through (``* = host=.. port=..``), so a test's own
    clone is reachable as ``postgresql://<user>@127.0.0.1:<port>/<clone>``. Clients
    authenticate by name only (``trust``). ``ignore_startup_parameters`` is
    ``extra_float_digits,options``, as in many deployments: a driver's ``-c`` options are
    then dropped without a word, which is why servicekit sends none behind PgBouncer.
    PgBouncer refuses to run as root, so as root it runs as the ``postgres`` user.
    """
    binary = shutil.which("pgbouncer") or shutil.which("pgbouncer", path="/usr/sbin")
    if binary is None:
        raise FileNotFoundError("pgbouncer not found (install Debian's pgbouncer)")
    upstream = make_url(postgres_url)
    user = upstream.username or "postgres"
    directory = Path(tempfile.mkdtemp(prefix="testgres-pgbouncer-"))
    port = free_port()
    config = directory / "pgbouncer.ini"
    pidfile = directory / "pgbouncer.pid"
    config.write_text(
        "[databases]\n"
        f"* = host={upstream.host or '127.0.0.1'} port={upstream.port or 5432}\n"
        "[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        f"auth_type = trust\nauth_file = {directory / 'users.txt'}\n"
        "pool_mode = transaction\n"
        f"default_pool_size = {pool_size}\nmax_client_conn = 1000\n"
        "ignore_startup_parameters = extra_float_digits,options\n"
        f"logfile = {directory / 'pgbouncer.log'}\npidfile = {pidfile}\n"
    )
    (directory / "users.txt").write_text(f'"{user}" ""\n')
    run_as = postgres_user_for(str(directory))
    start = [*run_as, binary, "--daemon", str(config)]
    run_checked(start)
    deadline = time.monotonic() + _START_TIMEOUT_S
    while not (pidfile.exists() and port_answers("127.0.0.1", port)):
        if time.monotonic() > deadline:
            shutil.rmtree(directory, ignore_errors=True)
            raise RuntimeError(f"pgbouncer did not listen on port {port}")
        time.sleep(0.02)
    return LocalServer(
        url=f"postgresql://{user}@127.0.0.1:{port}/{upstream.database or 'postgres'}",
        stop_command=["kill", "-INT", pidfile.read_text().strip()],
        directory=str(directory),
        start_command=start,
    )
