"""A throwaway streaming replica of a Postgres that testgres started itself."""

from __future__ import annotations

import os
import tempfile
import time

import psycopg

from servicekit.testgres._processes import (
    LocalServer,
    find_postgres_bin,
    free_port,
    postgres_user_for,
    run_checked,
)

_READY_TIMEOUT_S = 30.0


def start_replica(primary_url: str) -> LocalServer:
    """``pg_basebackup`` of the server at ``primary_url``, started as a hot standby that
    streams its WAL, on a free loopback port.

    The primary must accept replication connections from 127.0.0.1 without a password,
    as a server from :func:`start_postgres` (``initdb -A trust``) does; the machine's
    shared server usually does not, so start a private primary for replica tests.
    Pause replay on the returned replica (``SELECT pg_wal_replay_pause()``) to test lag.
    """
    basebackup, pg_ctl = find_postgres_bin("pg_basebackup"), find_postgres_bin("pg_ctl")
    if basebackup is None or pg_ctl is None:
        raise FileNotFoundError("pg_basebackup/pg_ctl not found (install Debian's postgresql)")
    source = psycopg.conninfo.conninfo_to_dict(primary_url.replace("+psycopg", ""))
    directory = tempfile.mkdtemp(prefix="testgres-replica-")
    run_as = postgres_user_for(directory)
    data = os.path.join(directory, "data")
    host, port = str(source.get("host", "127.0.0.1")), str(source.get("port", 5432))
    user_name = str(source.get("user", "postgres"))
    # -R writes standby.signal and primary_conninfo: the copy starts as a streaming standby.
    run_checked(
        [
            *run_as,
            basebackup,
            "-D",
            data,
            "-h",
            host,
            "-p",
            port,
            "-U",
            user_name,
            "-R",
            "--no-sync",
        ]
    )
    replica_port = free_port()
    options = f"-p {replica_port} -c listen_addresses=127.0.0.1 -k {directory} -c fsync=off"
    log = os.path.join(directory, "server.log")
    start = [*run_as, pg_ctl, "-D", data, "-l", log, "-o", options, "-w", "-t", "30", "start"]
    run_checked(start)
    replica = LocalServer(
        url=f"postgresql://{user_name}@127.0.0.1:{replica_port}/postgres",
        stop_command=[*run_as, pg_ctl, "-D", data, "-m", "immediate", "stop"],
        directory=directory,
        start_command=start,
    )
    _wait_until_streaming(replica)
    return replica


def _wait_until_streaming(replica: LocalServer) -> None:
    deadline = time.monotonic() + _READY_TIMEOUT_S
    while True:
        with psycopg.connect(replica.url, autocommit=True) as connection:
            row = connection.execute("SELECT status FROM pg_stat_wal_receiver").fetchone()
        if row is not None and row[0] == "streaming":
            return
        if time.monotonic() > deadline:
            replica.stop()
            raise RuntimeError("the replica did not start streaming from its primary")
        time.sleep(0.05)
