"""`copier update` (through kitgen) keeps local edits, brings template and runtime changes,
and reports conflicts that copier itself would exit 0 on."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from kitgen import update_service
from tests.template.conftest import (
    REPO,
    RUNTIME_FIX,
    TEMPLATE_LINE,
    clean_env,
    commit_all,
    committed_service,
    committed_template_copy,
    git,
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


# The last commit whose recorded answers lack what the lifecycle routes and entity events
# added to the templates (endpoints, filters, entity_events, ...).
BEFORE_NEW_ANSWER_KEYS = "9b5aa33"


def test_a_service_whose_answers_predate_new_keys_updates_through_kitgen(tmp_path: Path) -> None:
    old = tmp_path / "kitgen"
    git(tmp_path, "clone", "-q", "--no-checkout", str(REPO), str(old))
    git(old, "checkout", "-q", "-B", "main", BEFORE_NEW_ANSWER_KEYS)
    git(old, "tag", "1.0.0")
    # the service and its entity, made by the kitgen of that release
    env = {**clean_env(), "PYTHONPATH": f"{old / 'generator'}:{old / 'runtime_lib'}"}
    service = tmp_path / "shop"
    for cwd, args in (
        (tmp_path, ["new", str(service), "--template", str(old), "--vcs-ref", "1.0.0",
                    "--defaults", "--data", "service_name=shop"]),
        (service, ["add", "repository", "Product", "-f", "slug:str:unique", "-f", "price:decimal"]),
    ):  # fmt: skip
        subprocess.run([sys.executable, "-m", "kitgen", *args], cwd=cwd, env=env, check=True,
                       capture_output=True, stdin=subprocess.DEVNULL)  # fmt: skip
    repository = service / "shop" / "repositories" / "product.py"
    repository.write_text(repository.read_text() + "\n    # local edit: a query of our own\n")
    commit_all(service, "product")
    # the next release: this working tree
    new = committed_template_copy(tmp_path / "next", tag="1.1.0")
    git(old, "fetch", "-q", str(new), "--tags")

    result = update_service(service, vcs_ref="1.1.0")

    assert result.clean, result.conflicts
    assert "# local edit: a query of our own" in repository.read_text()
    assert '@router.patch("/{item_id}"' in (service / "shop" / "routers" / "product.py").read_text()
    assert "endpoints:" in (service / ".copier-answers.yml").read_text()


def test_a_failed_update_puts_the_work_tree_back(template_repo: Path, tmp_path: Path) -> None:
    service = _service(template_repo, tmp_path / "shop")
    # A release whose last file cannot render: Copier fails after writing the others.
    release_1_1(template_repo)
    broken = template_repo / "templates" / "service" / "zz_broken.txt.jinja"
    broken.write_text('{{ nothing | mandatory("this release is broken") }}\n')
    commit_all(template_repo, "broken")
    git(template_repo, "tag", "1.2.0")
    with pytest.raises(Exception, match="this release is broken"):
        update_service(service, vcs_ref="1.2.0")
    assert git(service, "status", "--porcelain") == ""
    assert RUNTIME_FIX.strip() not in (service / "servicekit" / "errors.py").read_text()
