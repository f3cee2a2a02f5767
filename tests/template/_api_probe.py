"""Send requests to a generated service's app and print what it answered, as JSON.

Run with the service's interpreter: ``python _api_probe.py <package> <requests.json>``,
the file holding a list of ``[method, path, body]``: ``body`` is the raw request text or
null, and a "\\udcff" in it stands for the byte 0xff. The app uses the database its
environment names (``DATABASE_URL``, else the embedded SQLite in the working directory).
Prints ``[[status, body], ...]``.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient


def main(package: str, requests_file: str) -> None:
    requests: list[list[Any]] = json.loads(Path(requests_file).read_text())
    app = importlib.import_module(f"{package}.app").create_app()
    answers = []
    with TestClient(app) as client:
        for method, path, body in requests:
            content = None if body is None else body.encode("utf-8", "surrogateescape")
            headers = {"content-type": "application/json"}
            response = client.request(method, path, content=content, headers=headers)
            answers.append([response.status_code, response.json()])
    json.dump(answers, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
