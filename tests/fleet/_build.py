"""Build a fleet of services for the fleet tests and benchmark: real git, real Copier.

A tagged copy of this working tree (1.0.0) renders ``count`` services with varied answers
(sync/async, cache and streams on or off, 0-3 entities), each a git repository with a bare
``origin``. They get the kinds of history a real fleet has (see :data:`KINDS`). Then the
template releases 1.1.0: a runtime fix and a template change.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

from tests.template.conftest import (
    RELEASE_NOTES,
    RUNTIME_FIX,
    TEMPLATE_CHANGE,
    TEMPLATE_LINE,
    commit_all,
    committed_template_copy,
    git,
    release_1_1,
)

__all__ = ["RELEASE_NOTES", "RUNTIME_FIX", "TEMPLATE_CHANGE", "TEMPLATE_LINE", "Fleet"]

LOCAL_EDIT = "# local edit: owned by the {name} team"
CONFLICTING_EDIT = "Our own fork of the runtime ({name})"
RUNTIME_EDIT = "# patched here while waiting for upstream\n"

# What happens to each service before the release, by position in the fleet.
KINDS = {
    3: "conflict",
    8: "conflict",
    13: "conflict",
    18: "conflict",
    5: "dirty",
    11: "not-a-service",
    16: "unknown-commit",
    7: "runtime-edit",
    4: "manifest-drift",
}
URL_ENTRIES = {2, 6, 10, 14}  # listed by url (file://) instead of path
# Generated from the template's git+file:// URL: Copier treats it as remote (a mirror), and so
# does kitgen (a mirror in its work directory that Copier's clones are redirected to).
REMOTE_TEMPLATE = {20}


@dataclass
class FleetService:
    name: str
    index: int
    kind: str  # "edit" (the common case) or a value of KINDS
    url_entry: bool
    package: str
    expected: str  # the outcome `fleet update` must report

    @property
    def edit_file(self) -> str:
        return f"{self.package}/app.py"


@dataclass
class Fleet:
    root: Path
    template: Path
    services: list[FleetService] = field(default_factory=list)

    @property
    def inventory(self) -> Path:
        return self.root / "fleet.yaml"

    def repo(self, service: FleetService) -> Path:
        return self.root / "services" / service.name

    def origin(self, service: FleetService) -> Path:
        return self.root / "origins" / f"{service.name}.git"

    def by_kind(self, kind: str) -> list[FleetService]:
        return [service for service in self.services if service.kind == kind]


def _answers(index: int) -> dict[str, object]:
    return {
        "service_name": f"svc-{index:02d}",
        "async_db": index % 2 == 0,
        "with_cache": index % 3 != 0,
        "with_streams": index % 4 == 1,
    }


def _entities(index: int) -> list[dict[str, object]]:
    return [
        {"name": f"Item{k}", "fields": [{"name": "title", "type": "str", "max_length": 80}]}
        for k in range(index % 4)
    ]


def render_service(template: str, destination: Path, index: int) -> None:
    """Render service ``index`` at 1.0.0, manifest and answers agreeing, committed on main."""
    from kitgen import new_service
    from kitgen.manifest import ManifestDocument

    answers = _answers(index)
    data = {k: str(v).lower() if isinstance(v, bool) else v for k, v in answers.items()}
    entities = _entities(index)
    manifest_text = None
    if entities:
        # The manifest first (rendered alone), then the service from the answers it gives.
        probe = destination.with_name(destination.name + ".manifest")
        new_service(probe, data=data, defaults=True, template=template, vcs_ref="1.0.0")
        document = ManifestDocument.load(probe / "service.yaml", display_name="service.yaml")
        for entity in entities:
            document.add_entity(entity)
        manifest_text = document.text()
        data = {**data, **document.validate().to_answers()}
        shutil.rmtree(probe)
    new_service(destination, data=data, defaults=True, template=template, vcs_ref="1.0.0")
    if manifest_text is not None:
        (destination / "service.yaml").write_text(manifest_text)
    git(destination, "init", "-q", "-b", "main")
    commit_all(destination, "generated")


def _render_job(args: tuple[str, str, int]) -> None:
    render_service(args[0], Path(args[1]), args[2])


def build_fleet(root: Path, count: int = 24, *, jobs: int = 2) -> Fleet:
    """The fleet described in the module docstring, released to 1.1.0 at the end."""
    template = committed_template_copy(root / "kitgen")
    fleet = Fleet(root=root, template=template)
    (root / "services").mkdir()
    (root / "origins").mkdir()
    plans: list[FleetService] = []
    for index in range(count):
        kind = KINDS.get(index, "edit")
        name = f"svc-{index:02d}"
        expected = {
            "conflict": "conflicts",
            "dirty": "skipped",
            "not-a-service": "skipped",
            "unknown-commit": "failed",
        }.get(kind, "updated")
        plans.append(
            FleetService(name, index, kind, index in URL_ENTRIES, name.replace("-", "_"), expected)
        )
    to_render = [
        (
            f"git+file://{template}" if plan.index in REMOTE_TEMPLATE else str(template),
            str(root / "services" / plan.name),
            plan.index,
        )
        for plan in plans
        if plan.kind != "not-a-service"
    ]
    with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn")) as pool:
        list(pool.map(_render_job, to_render))
    for plan in plans:
        repo = root / "services" / plan.name
        if plan.kind == "not-a-service":
            repo.mkdir()
            (repo / "README.md").write_text("A repository kitgen did not generate.\n")
            git(repo, "init", "-q", "-b", "main")
            commit_all(repo, "not a service")
        _history(repo, plan)
        origin = root / "origins" / f"{plan.name}.git"
        git(root, "init", "-q", "--bare", "-b", "main", str(origin))
        git(repo, "remote", "add", "origin", str(origin))
        git(repo, "push", "-q", "origin", "main")
        if plan.kind == "dirty":
            app = repo / plan.edit_file
            app.write_text(app.read_text() + "\n# work in progress, not committed\n")
        fleet.services.append(plan)
    release_1_1(template)
    write_inventory(fleet)
    return fleet


def _history(repo: Path, plan: FleetService) -> None:
    """The local edits each kind of service carries (committed)."""
    if plan.kind == "not-a-service":
        return
    app = repo / plan.edit_file
    app.write_text(app.read_text() + "\n\n" + LOCAL_EDIT.format(name=plan.name) + "\n")
    if plan.kind == "conflict":
        readme = repo / "README.md"
        readme.write_text(
            readme.read_text().replace(TEMPLATE_LINE, CONFLICTING_EDIT.format(name=plan.name))
        )
    elif plan.kind == "unknown-commit":
        answers = repo / ".copier-answers.yml"
        text = answers.read_text()
        assert "_commit: 1.0.0" in text
        answers.write_text(text.replace("_commit: 1.0.0", "_commit: 1a2b3c4d"))
    elif plan.kind == "runtime-edit":
        init = repo / "servicekit" / "__init__.py"
        init.write_text(RUNTIME_EDIT + init.read_text())
    elif plan.kind == "manifest-drift":
        manifest = repo / "service.yaml"
        assert "entities: []" in manifest.read_text()
        manifest.write_text(
            manifest.read_text().replace(
                "entities: []", "entities: [{name: Late, fields: [{name: n, type: int}]}]"
            )
        )
    commit_all(repo, "local edits")


def write_inventory(fleet: Fleet) -> None:
    lines = ["# the test fleet", "services:"]
    for service in fleet.services:
        lines.append(f"  - name: {service.name}")
        if service.url_entry:
            lines.append(f"    url: file://{fleet.origin(service)}")
        else:
            lines.append(f"    path: services/{service.name}")
        labels = ["even" if service.index % 2 == 0 else "odd"]
        lines.append(f"    labels: [{', '.join(labels)}]")
    fleet.inventory.write_text("\n".join(lines) + "\n")


def copy_fleet(fleet: Fleet, root: Path) -> Fleet:
    """A copy of ``fleet`` under ``root`` (same template), remotes pointing at its origins."""
    shutil.copytree(fleet.root / "services", root / "services", symlinks=True)
    shutil.copytree(fleet.root / "origins", root / "origins", symlinks=True)
    copy = Fleet(root=root, template=fleet.template, services=list(fleet.services))
    for service in copy.services:
        git(copy.repo(service), "remote", "set-url", "origin", str(copy.origin(service)))
    write_inventory(copy)
    return copy


def snapshot(fleet: Fleet) -> dict[str, tuple[str, str, str]]:
    """Per repository and origin: every ref, `git status` and a digest of the work tree."""
    import hashlib

    state: dict[str, tuple[str, str, str]] = {}
    for service in fleet.services:
        for repo in (fleet.repo(service), fleet.origin(service)):
            refs = git(repo, "for-each-ref", "--format=%(refname) %(objectname)")
            bare = repo.suffix == ".git"
            status = "" if bare else git(repo, "status", "--porcelain", "--untracked-files=all")
            digest = hashlib.sha256()
            if not bare:
                for path in sorted(_files(repo)):
                    digest.update(str(path.relative_to(repo)).encode() + b"\0" + path.read_bytes())
            state[str(repo)] = (refs, status, digest.hexdigest())
    return state


def _files(repo: Path) -> Iterator[Path]:
    for path in repo.rglob("*"):
        if ".git" not in path.relative_to(repo).parts and path.is_file():
            yield path


def kitgen_env(workdir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV",)}
    env["KITGEN_CACHE_DIR"] = str(workdir)
    return env
