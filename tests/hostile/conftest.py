"""One committed template and one committed service per session; each case gets a copy."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.template.conftest import committed_service, committed_template_copy

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def hostile_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return committed_template_copy(tmp_path_factory.mktemp("hostile-template") / "kitgen")


@pytest.fixture(scope="session")
def pristine_service(hostile_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A service with streams, committed; no test changes it."""
    return committed_service(
        hostile_template, tmp_path_factory.mktemp("hostile-service") / "shop", with_streams="true"
    )


@pytest.fixture
def service(pristine_service: Path, tmp_path: Path) -> Path:
    """A private copy of the committed service (git history included)."""
    copy = tmp_path / "shop"
    shutil.copytree(pristine_service, copy, symlinks=True)
    return copy
