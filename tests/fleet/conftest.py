"""One fleet of 24 services built per session; each test works on its own copy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

from tests.fleet._build import Fleet, build_fleet, copy_fleet


@pytest.fixture(scope="session")
def fleet_blueprint(tmp_path_factory: pytest.TempPathFactory) -> Fleet:
    return build_fleet(tmp_path_factory.mktemp("fleet-blueprint"), 24)


@pytest.fixture
def fleet(fleet_blueprint: Fleet, tmp_path: Path) -> Fleet:
    return copy_fleet(fleet_blueprint, tmp_path / "fleet")


def kitgen_command(*args: str) -> list[str]:
    return [str(Path(sys.executable).with_name("kitgen")), *args]


def fleet_env(fleet: Fleet) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    env["KITGEN_CACHE_DIR"] = str(fleet.root / "cache")
    env["KITGEN_SCRATCH_DIR"] = str(scratch_dir(fleet))
    return env


def scratch_dir(fleet: Fleet) -> Path:
    """Where this fleet's runs render (in memory when the machine has /dev/shm)."""
    marker = fleet.root / "scratch-location"
    if not marker.exists():
        shm = Path("/dev/shm")
        base = shm if shm.is_dir() and os.access(shm, os.W_OK) else fleet.root
        marker.write_text(tempfile.mkdtemp(prefix="kitgen-test-scratch-", dir=base))
    return Path(marker.read_text())


def kitgen(fleet: Fleet, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    """The console script, run in the fleet's directory (where fleet.yaml is)."""
    return subprocess.run(
        kitgen_command(*args),
        cwd=fleet.root,
        env=fleet_env(fleet),
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )


def outcomes(result: subprocess.CompletedProcess[str]) -> dict[str, dict[str, Any]]:
    """``--json`` output of `fleet update`, by service name."""
    data = json.loads(result.stdout)
    return {service["name"]: service for service in data["services"]}
