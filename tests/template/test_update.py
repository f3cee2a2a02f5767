"""`copier update` (through kitgen) keeps local edits, brings template and runtime changes,
and reports conflicts that copier itself would exit 0 on."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from kitgen import update_service
from tests.template.conftest import (
    RUNTIME_FIX,
    TEMPLATE_LINE,
    commit_all,
    committed_service,
    committed_template_copy,
    release_1_1,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def template_repo(tmp_path: Path) -> Path:
    """A throwaway git copy of this repository's working tree, tagged 1.0.0."""
    return committed_template_copy(tmp_path / "kitgen")


def _service(template: Path, destination: Path) -> Path:
    return committed_service(template, destination, with_cache="false")


def test_update_keeps_local_edits_and_brings_template_and_runtime_changes(
    template_repo: Path, tmp_path: Path
) -> None:
    service = _service(template_repo, tmp_path / "shop")
    app = service / "shop" / "app.py"
    app.write_text(app.read_text() + "\n\n# local edit: owned by the shop team\n")
    commit_all(service, "local edit")
    release_1_1(template_repo)

    result = update_service(service, vcs_ref="1.1.0")

    assert result.clean, result.conflicts
    assert "# local edit: owned by the shop team" in app.read_text()
    assert "(see kitgen's releases)" in (service / "README.md").read_text()
    assert RUNTIME_FIX.strip() in (service / "servicekit" / "errors.py").read_text()
    vendored = {
        p.relative_to(service / "servicekit"): p.read_bytes()
        for p in (service / "servicekit").rglob("*.py")
    }
    upstream = {
        p.relative_to(template_repo / "runtime_lib" / "servicekit"): p.read_bytes()
        for p in (template_repo / "runtime_lib" / "servicekit").rglob("*.py")
    }
    assert vendored == upstream
    assert "_commit: 1.1.0" in (service / ".copier-answers.yml").read_text()


def test_conflicting_edit_is_marked_inline_and_reported(
    template_repo: Path, tmp_path: Path
) -> None:
    service = _service(template_repo, tmp_path / "shop")
    readme = service / "README.md"
    readme.write_text(readme.read_text().replace(TEMPLATE_LINE, "Our own fork of the runtime"))
    commit_all(service, "conflicting edit")
    release_1_1(template_repo)

    result = update_service(service, vcs_ref="1.1.0")

    assert result.conflicts == ["README.md"]
    text = readme.read_text()
    assert "<<<<<<< " in text
    assert "Our own fork of the runtime" in text
    assert "(see kitgen's releases)" in text


def test_cli_update_exits_1_on_conflicts_and_2_on_a_dirty_tree(
    template_repo: Path, tmp_path: Path
) -> None:
    service = _service(template_repo, tmp_path / "shop")
    (service / "notes.txt").write_text("not committed\n")
    dirty = _kitgen("update", str(service), "--vcs-ref", "1.1.0")
    assert dirty.returncode == 2
    assert "has uncommitted changes (notes.txt)" in dirty.stderr
    assert "Traceback" not in dirty.stderr

    (service / "notes.txt").unlink()
    readme = service / "README.md"
    readme.write_text(readme.read_text().replace(TEMPLATE_LINE, "Our own fork of the runtime"))
    commit_all(service, "conflicting edit")
    release_1_1(template_repo)
    conflicted = _kitgen("update", str(service), "--vcs-ref", "1.1.0")
    assert conflicted.returncode == 1
    assert "README.md" in conflicted.stderr


def _kitgen(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kitgen", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
