"""A generated service under steady load while its Postgres crashes and comes back.

The server is a private one (testgres' local binaries) so it can be killed; the service
runs in uvicorn as in production. Every request is answered: a 2xx, or during the outage a
503 with Retry-After, never a 500; once Postgres is back, requests succeed again without a
restart of the service.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from kitgen.manifest import ManifestDocument
from servicekit.testgres._processes import LocalServer, free_port, start_postgres
from tests.template.conftest import UV, clean_env, render, run

pytestmark = pytest.mark.slow

MANIFEST = """\
manifest_version: 1
service: svc-outage
package: svc_outage
database: {{schema: null, async: {async_db}}}
entities:
  - name: Product
    fields:
      - {{name: slug, type: str, unique: true}}
      - {{name: price, type: decimal}}
"""


@dataclass
class Outage:
    """Statuses seen while the load ran, and when the server went down and came back."""

    statuses: list[tuple[float, int]] = field(default_factory=list)
    down_at: float = 0.0
    up_at: float = 0.0

    def after(self, moment: float) -> list[int]:
        return [status for at, status in self.statuses if at > moment]


@pytest.fixture(scope="module")
def private_postgres() -> Iterator[LocalServer]:
    try:
        server = start_postgres()
    except (OSError, RuntimeError) as exc:  # no Postgres binaries on this machine
        pytest.skip(f"needs Postgres server binaries: {exc}")
    yield server
    server.stop()


@pytest.fixture(scope="module", params=[True, False], ids=["async", "sync"])
def service(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    service_venv: Path,
    private_postgres: LocalServer,
) -> tuple[Path, Path]:
    async_db = request.param
    answers = ManifestDocument(MANIFEST.format(async_db=str(async_db).lower())).validate()
    path = render(
        tmp_path_factory.mktemp("outage") / "svc-outage",
        service_name="svc-outage",
        async_db=async_db,
        **answers.to_answers(),
    )
    python = service_venv / "bin" / "python"
    run([str(UV), "pip", "install", "--python", str(python), "-e", f"{path}[dev]"], cwd=path)
    create = (
        "import sys; from sqlalchemy import create_engine; from svc_outage.models import Base;"
        " Base.metadata.drop_all(create_engine(sys.argv[1]));"
        " Base.metadata.create_all(create_engine(sys.argv[1]))"
    )
    url = private_postgres.url.replace("postgresql://", "postgresql+psycopg://", 1)
    run([str(python), "-c", create, url], cwd=path, env=clean_env())
    return path, python


def _request(url: str, body: bytes | None) -> int:
    headers = {"Content-Type": "application/json"} if body else {}
    try:
        with urllib.request.urlopen(
            urllib.request.Request(url, data=body, headers=headers), timeout=30
        ) as reply:
            return int(reply.status)
    except urllib.error.HTTPError as error:
        if error.code == 503:
            assert error.headers["Retry-After"] == "1"
        return error.code


def test_a_postgres_crash_under_load_is_503s_then_recovery(
    service: tuple[Path, Path], private_postgres: LocalServer, tmp_path: Path
) -> None:
    path, python = service
    port = free_port()
    env = {
        **clean_env(),
        "DATABASE_URL": private_postgres.url,
        "DATABASE_WAIT_SECONDS": "10",
        "LOG_LEVEL": "ERROR",
    }
    log = tmp_path / "uvicorn.log"  # a file: a full pipe would block the app's logging
    with log.open("w") as sink:
        app = subprocess.Popen(
            [str(python), "-m", "uvicorn", "svc_outage.app:app", "--port", str(port)],
            cwd=path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=sink,
            text=True,
        )
    base = f"http://127.0.0.1:{port}/products"
    outage = Outage()
    stop = threading.Event()

    def load() -> None:
        for n in itertools.count():
            if stop.is_set():
                return
            body = f'{{"slug": "p-{os.getpid()}-{n}", "price": "1.50"}}'.encode()
            status = _request(base, body) if n % 2 else _request(f"{base}?size=5", None)
            outage.statuses.append((time.monotonic(), status))

    try:
        _wait_until_serving(base, app, log)
        worker = threading.Thread(target=load)
        worker.start()
        time.sleep(1.5)
        outage.down_at = time.monotonic()
        private_postgres.kill()
        time.sleep(2.0)
        private_postgres.start()
        outage.up_at = time.monotonic()
        time.sleep(4.0)
        stop.set()
        worker.join(timeout=60)
    finally:
        app.terminate()
        app.wait(timeout=30)
    errors = log.read_text()
    statuses = [status for _, status in outage.statuses]
    assert set(statuses) <= {200, 201, 503}, errors  # never a 500
    assert 503 in outage.after(outage.down_at)  # the outage was felt...
    recovered = [at for at, status in outage.statuses if at > outage.up_at and status < 300]
    assert recovered, "no request succeeded after Postgres came back"
    assert set(outage.after(recovered[0] + 1.0)) <= {200, 201}  # ...and is over
    print(f"first success {recovered[0] - outage.up_at:.2f}s after Postgres was back")


def _wait_until_serving(url: str, app: subprocess.Popen[str], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if app.poll() is not None:
            raise AssertionError(f"the service exited:\n{log.read_text()}")
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except OSError:
            time.sleep(0.2)
    raise AssertionError("the service did not start")
