"""Running a small test suite that uses ``testgres.setup`` in a pytest subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path


def run_suite(
    directory: Path, conftest: str, tests: str, **env: str
) -> subprocess.CompletedProcess[str]:
    """Write ``conftest.py`` and ``test_suite.py`` to ``directory`` and run pytest there.

    ``$DATABASE_URL`` and ``$PYTEST_ADDOPTS`` are removed so testgres finds its servers as
    a service's suite would; ``env`` is added on top.
    """
    (directory / "conftest.py").write_text(textwrap.dedent(conftest))
    (directory / "test_suite.py").write_text(textwrap.dedent(tests))
    (directory / "pytest.ini").write_text("[pytest]\nasyncio_mode = auto\n")
    removed = ("DATABASE_URL", "PYTEST_ADDOPTS")
    environment = {k: v for k, v in os.environ.items() if k not in removed} | env
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(directory)],
        cwd=directory,
        env=environment,
        capture_output=True,
        check=False,
        text=True,
        timeout=180,
    )
