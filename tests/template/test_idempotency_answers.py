"""A generated service answers servicekit's idempotency errors as the docs say: 409, 422."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tests.template.conftest import render, run

# Runs in the rendered service: a route raising each error, answered by the app's handlers.
PROBE = """
import json
from fastapi.testclient import TestClient
from servicekit.kv import IdempotencyInProgressError, IdempotencyKeyReusedError
from svc_idem.app import create_app

app = create_app()

@app.post("/in-progress")
async def in_progress() -> None:
    raise IdempotencyInProgressError("pay", retry_after=7)

@app.post("/reused")
async def reused() -> None:
    raise IdempotencyKeyReusedError("pay")

client = TestClient(app)  # no lifespan: no database is needed to answer these
answers = [client.post(path) for path in ("/in-progress", "/reused")]
print(json.dumps([[a.status_code, a.headers.get("retry-after"), a.json()] for a in answers]))
"""


def test_idempotency_errors_are_409_with_retry_after_and_422(tmp_path: Path) -> None:
    service = render(
        tmp_path / "service", service_name="svc-idem", with_cache=False, with_streams=False
    )

    result = run([sys.executable, "-c", PROBE], cwd=service)

    in_progress, reused = json.loads(result.stdout)
    assert in_progress[:2] == [409, "7"]
    assert "still being processed" in in_progress[2]["detail"]
    assert reused[:2] == [422, None]
    assert reused[2]["detail"][0]["loc"] == ["header", "Idempotency-Key"]
    assert reused[2]["detail"][0]["type"] == "idempotency_key_reused"
