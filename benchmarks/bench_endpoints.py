"""Generated endpoints against a hand-written FastAPI + bare asyncpg service, under wrk.

Run: ``.venv/bin/python benchmarks/bench_endpoints.py`` (Postgres as for the tests; needs
``wrk``, installed from Debian's packages when missing and running as root).

Renders a service from this working tree with ``Product(name: str, price: decimal)``
(async, Postgres), loads 1,000 rows, and starts two single-worker uvicorn servers on the
same database and interpreter: the generated app, and ``_endpoint_baseline.py`` (the same
fields, pagination and JSON rendering on a bare asyncpg pool). ``wrk -t1 -c16`` drives
each endpoint on both in alternating rounds; the medians give requests/s and p99 latency.
Targets: ``GET /{id}`` and a list of 50 at least 0.70x the baseline's requests/s, create
at least 0.60x, p99 at most 1.5x the baseline's.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _template_copy import render_manifest

from servicekit.testgres import DatabaseFactory, resolve_postgres

HERE = Path(__file__).resolve().parent
ROWS = 1_000
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
SECONDS = int(os.environ.get("BENCH_SECONDS", "6"))
MANIFEST = """\
manifest_version: 1
service: bench-api
package: bench_api
database: {schema: null, async: true}
entities:
  - name: Product
    fields:
      - {name: name, type: str}
      - {name: price, type: decimal}
"""
# (label, method, path, requests/s target)
ENDPOINTS = [
    ("GET /products/{id}", "GET", "/products/500", 0.70),
    ("GET /products?size=50", "GET", "/products?size=50", 0.70),
    ("POST /products", "POST", "/products", 0.60),
]
P99_CEILING = 1.5
POST_SCRIPT = """\
wrk.method = "POST"
wrk.body = '{"name": "Benchmark product", "price": "12.50"}'
wrk.headers["Content-Type"] = "application/json"
"""


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=True, capture_output=True)
        found = shutil.which("wrk")
    if not found:
        sys.exit("bench_endpoints: needs wrk (Debian: apt-get install wrk)")
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serving(app: str, cwd: Path, env: dict[str, str]) -> Iterator[str]:
    """A single-worker uvicorn serving ``app``; yields its base URL."""
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            app,
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        cwd=cwd,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{url}/products/1", timeout=1).close()
                break
            except OSError:
                if process.poll() is not None:
                    sys.exit(f"bench_endpoints: {app} did not start:\n{process.stderr.read()}")
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def load(wrk: str, url: str, method: str, path: str, script: Path) -> tuple[float, float]:
    """Requests/s and p99 latency (ms) of one wrk run."""
    command = [wrk, "-t1", "-c16", f"-d{SECONDS}s", "--latency", f"{url}{path}"]
    if method == "POST":
        command[1:1] = ["-s", str(script)]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if errors:
        sys.exit(f"bench_endpoints: {errors.group(1)} failed responses from {url}{path}")
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    value, unit = re.search(r"99%\s+([\d.]+)(us|ms|s)", output).groups()  # type: ignore[union-attr]
    p99 = float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    return rate, p99


def main() -> None:
    wrk = ensure_wrk()
    with tempfile.TemporaryDirectory(prefix="bench-endpoints-") as scratch:
        service = render_manifest(Path(scratch), MANIFEST)
        script = Path(scratch) / "post.lua"
        script.write_text(POST_SCRIPT)
        factory = DatabaseFactory(resolve_postgres().url)
        name = factory.create_empty()
        url = factory.url(name)
        async_url = url.set(drivername="postgresql+asyncpg").render_as_string(False)
        plain_url = url.set(drivername="postgresql").render_as_string(False)
        try:
            migrate(service, plain_url)
            results = measure(wrk, service, script, async_url, plain_url)
        finally:
            factory.drop(name)
            factory.close()
    print_results(results)


def migrate(service: Path, plain_url: str) -> None:
    """The service's tables (its models' metadata: no revision exists for Product yet)."""
    create = (
        "import sys; from sqlalchemy import create_engine; from bench_api.models import Base;"
        " Base.metadata.create_all(create_engine(sys.argv[1]))"
    )
    psycopg_url = plain_url.replace("postgresql://", "postgresql+psycopg://", 1)
    env = {**os.environ, "PYTHONPATH": str(service)}
    subprocess.run([sys.executable, "-c", create, psycopg_url], env=env, check=True)
    with psycopg.connect(plain_url, autocommit=True) as connection:
        connection.execute(
            "INSERT INTO products (name, price)"
            " SELECT 'Product ' || n, 9.99 FROM generate_series(1, %s) AS n",
            (ROWS,),
        )


Samples = dict[str, dict[str, list[tuple[float, float]]]]


def measure(wrk: str, service: Path, script: Path, async_url: str, plain_url: str) -> Samples:
    samples: Samples = {label: {"ours": [], "base": []} for label, *_ in ENDPOINTS}
    ours_env = {"DATABASE_URL": async_url, "LOG_LEVEL": "WARNING", "PYTHONPATH": str(service)}
    base_env = {"BASELINE_DSN": plain_url, "PYTHONPATH": str(HERE)}
    with (
        serving("bench_api.app:app", service, ours_env) as ours,
        serving("_endpoint_baseline:app", HERE, base_env) as base,
    ):
        for label, method, path, _ in ENDPOINTS:
            load(wrk, ours, method, path, script)  # warm-up: caches, pool, imports
            load(wrk, base, method, path, script)
            for _ in range(ROUNDS):
                samples[label]["ours"].append(load(wrk, ours, method, path, script))
                samples[label]["base"].append(load(wrk, base, method, path, script))
    return samples


def print_results(samples: Samples) -> None:
    rows = [("endpoint", "ours req/s", "base req/s", "ratio / target", "",
             "ours p99", "base p99", "ratio / ceiling", "")]  # fmt: skip
    for label, _, _, target in ENDPOINTS:
        ours_rate = statistics.median(rate for rate, _ in samples[label]["ours"])
        base_rate = statistics.median(rate for rate, _ in samples[label]["base"])
        ours_p99 = statistics.median(p99 for _, p99 in samples[label]["ours"])
        base_p99 = statistics.median(p99 for _, p99 in samples[label]["base"])
        speed, slow = ours_rate / base_rate, ours_p99 / base_p99
        rows.append(
            (
                label,
                f"{ours_rate:,.0f}",
                f"{base_rate:,.0f}",
                f"{speed:.2f}x >= {target:.2f}x",
                "PASS" if speed >= target else "MISS",
                f"{ours_p99:.1f} ms",
                f"{base_p99:.1f} ms",
                f"{slow:.2f}x <= {P99_CEILING:.2f}x",
                "PASS" if slow <= P99_CEILING else "MISS",
            )
        )
    print(f"\ngenerated endpoints vs hand-written asyncpg: wrk -t1 -c16 -d{SECONDS}s, medians")
    print(f"of {ROUNDS} alternating rounds, one uvicorn worker each, {os.cpu_count()} CPUs")
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))


if __name__ == "__main__":
    main()
