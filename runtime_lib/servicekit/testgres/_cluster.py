"""A throwaway Redis Cluster (primaries with one replica each) from local binaries."""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field

from servicekit.testgres._processes import LocalServer, free_port, start_redis

_READY_TIMEOUT_S = 60.0


@dataclass
class LocalCluster:
    """Redis Cluster nodes this process started; :meth:`stop` stops them all."""

    nodes: list[LocalServer] = field(default_factory=list)

    @property
    def ports(self) -> list[int]:
        return [_port(node) for node in self.nodes]

    @property
    def url(self) -> str:
        """``redis+cluster://`` URL naming every node (any one would do as a seed)."""
        return "redis+cluster://" + ",".join(f"127.0.0.1:{port}" for port in self.ports)

    def node(self, port: int) -> LocalServer:
        return next(node for node in self.nodes if _port(node) == port)

    def alive(self, port: int) -> bool:
        """True while the node on ``port`` has not been crashed or stopped."""
        process = self.node(port).process
        return process is not None and process.poll() is None

    def crash(self, port: int) -> None:
        """SIGKILL the node on ``port``, as a crash would (no shutdown, no goodbye)."""
        process = self.node(port).process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.wait()

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


def _port(node: LocalServer) -> int:
    return int(node.url.rsplit(":", 1)[1].split("/")[0])


def start_redis_cluster(
    primaries: int = 3, *, replicas: int = 1, node_timeout_ms: int = 2000
) -> LocalCluster:
    """Start ``primaries * (1 + replicas)`` nodes on loopback and join them into a cluster.

    Nodes keep no data on disk (no RDB, no AOF; ``nodes.conf`` lives in each node's temp
    directory). ``cluster-require-full-coverage no`` keeps the healthy shards answering
    while one shard has lost its primary, and the short ``node_timeout_ms`` makes a
    replica take over within a few seconds of its primary's death.
    """
    cli = shutil.which("redis-cli")
    if cli is None:
        raise FileNotFoundError("redis-cli not found (install Debian's redis-tools)")
    cluster = LocalCluster()
    try:
        for _ in range(primaries * (1 + replicas)):
            cluster.nodes.append(
                start_redis(
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    # The bus port defaults to port + 10000, which may be taken: pick one.
                    "--cluster-port",
                    str(free_port()),
                    "--cluster-node-timeout",
                    str(node_timeout_ms),
                    "--cluster-require-full-coverage",
                    "no",
                )
            )
        addresses = [f"127.0.0.1:{port}" for port in cluster.ports]
        result = subprocess.run(
            [
                *(cli, "--cluster", "create", *addresses),
                *("--cluster-replicas", str(replicas), "--cluster-yes"),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"redis-cli --cluster create failed: {result.stdout[-500:]}")
        _wait_until_ready(cli, cluster.ports)
    except BaseException:
        cluster.stop()
        raise
    return cluster


def _info(cli: str, port: int, *command: str) -> str:
    result = subprocess.run(
        [cli, "-h", "127.0.0.1", "-p", str(port), *command],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    return result.stdout


def _wait_until_ready(cli: str, ports: list[int]) -> None:
    # Ready means every node reports cluster_state:ok (all slots served, all nodes
    # agree) and every replica has synced with its primary: a replica that never synced
    # would refuse to take over, and a failover test would then wait forever.
    deadline = time.monotonic() + _READY_TIMEOUT_S
    pending = list(ports)
    while pending:
        port = pending[0]
        state = _info(cli, port, "cluster", "info")
        replication = _info(cli, port, "info", "replication")
        synced = "role:master" in replication or "master_link_status:up" in replication
        if "cluster_state:ok" in state and synced:
            pending.pop(0)
            continue
        if time.monotonic() > deadline:
            raise RuntimeError(f"Redis Cluster node 127.0.0.1:{port} did not become ready")
        time.sleep(0.05)
