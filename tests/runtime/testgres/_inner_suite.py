"""Running a test suite that calls ``testgres.setup()`` in a pytest of its own."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path


def run_inner_suite(
    directory: Path,
    conftest: str,
    tests: dict[str, str],
    ini: str = "[pytest]\nasyncio_mode = auto\n",
    *,
    timeout: float = 180,
    **extra_env: str,
) -> subprocess.CompletedProcess[str]:
    """Write ``conftest.py``, the test files and ``pytest.ini``, run pytest on them
    (without this run's ``$DATABASE_URL``: testgres finds the server itself; ``extra_env``
    is added on top)."""
    (directory / "conftest.py").write_text(textwrap.dedent(conftest))
    for name, text in tests.items():
        (directory / name).write_text(textwrap.dedent(text))
    (directory / "pytest.ini").write_text(ini)
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "PYTEST_ADDOPTS")}
    env |= extra_env
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(directory)],
        cwd=directory,
        env=env,
        capture_output=True,
        check=False,
        text=True,
        timeout=timeout,
    )
