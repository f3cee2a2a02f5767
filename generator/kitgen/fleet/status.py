"""``kitgen fleet status``: where every service of the fleet stands, read from git."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from kitgen._git import git
from kitgen._vendored import (
    VENDORED,
    committed_blobs,
    edited_files,
    runtime_version,
    upstream_of,
    vendored_packages,
)
from kitgen.errors import UserError
from kitgen.fleet._checkout import MANIFEST, Checkout, NotAService, locate, prepare_workdir
from kitgen.fleet._templates import Templates
from kitgen.fleet.inventory import ServiceEntry

__all__ = ["ServiceStatus", "fleet_status"]


@dataclass
class ServiceStatus:
    """One service's row of ``kitgen fleet status``."""

    name: str
    location: str
    branch: str | None = None
    version: str | None = None  # the recorded _commit: a tag, or git describe of a commit
    latest: str | None = None
    behind: int | None = None
    runtime: str | None = None
    drift: list[str] = field(default_factory=list)
    edited_runtime: list[str] = field(default_factory=list)
    dirty: list[str] = field(default_factory=list)
    update_branches: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def current(self) -> bool:
        """On the latest release, no drift, nothing edited or uncommitted, no error."""
        return (
            self.error is None
            and self.behind == 0
            and not self.drift
            and not self.edited_runtime
            and not self.dirty
        )

    @property
    def state(self) -> str:
        """One word for the row: error, behind, drifted, dirty or current."""
        if self.error is not None:
            return "error"
        if self.behind != 0:
            return "behind"
        if self.drift or self.edited_runtime:
            return "drifted"
        if self.dirty:
            return "dirty"
        return "current"


def fleet_status(
    entries: Sequence[ServiceEntry],
    *,
    workdir: Path,
    jobs: int,
    migrations: bool = False,
    on_status: Callable[[ServiceStatus], None] | None = None,
) -> list[ServiceStatus]:
    """The status of every entry, in inventory order (read in parallel threads)."""
    prepare_workdir(workdir)
    templates = Templates(workdir)

    def one(entry: ServiceEntry) -> ServiceStatus:
        status = _status(entry, workdir, templates, migrations)
        if on_status is not None:
            on_status(status)
        return status

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return list(pool.map(one, entries))


def _status(
    entry: ServiceEntry, workdir: Path, templates: Templates, migrations: bool
) -> ServiceStatus:
    status = ServiceStatus(entry.name, entry.location)
    try:
        checkout = locate(entry, workdir)
        status.branch = checkout.branch
        status.dirty = checkout.dirty()
        status.update_branches = checkout.update_branches()
        answers = checkout.answers()
        version = str(answers.get("_commit") or "")
        status.version = version or None
        status.runtime = runtime_version(checkout.read(f"{VENDORED}/_version.py"))
        status.drift = _manifest_drift(checkout, answers)
        history = templates.history(str(answers["_src_path"]), base=checkout.repo)
        latest = history.latest()
        status.latest = latest.tag if latest else None
        template_commit = history.commit(version) if version else None
        if template_commit is None:
            raise UserError(
                f"answers point at commit {version or '(none)'} that the template "
                f"({history.source}) does not have"
            )
        status.behind = history.behind(version)
        for package in vendored_packages(checkout.read("pyproject.toml")):
            shipped = committed_blobs(history.git_dir, template_commit, upstream_of(package))
            vendored = committed_blobs(checkout.repo, checkout.commit, package)
            status.edited_runtime.extend(edited_files(vendored, shipped, package))
        if migrations:
            status.drift.extend(_migration_drift(checkout))
    except UserError as exc:  # NotAService included: a row that says why, not a crash
        status.error = str(exc)
    return status


def _manifest_drift(checkout: Checkout, answers: dict[str, object]) -> list[str]:
    from kitgen.manifest import ManifestDocument
    from kitgen.service import answers_drift

    text = checkout.read(MANIFEST)
    if text is None:
        raise NotAService(f"not a kitgen service: no {MANIFEST}")
    return answers_drift(ManifestDocument(text, file=MANIFEST).validate(), dict(answers))


def _migration_drift(checkout: Checkout) -> list[str]:
    """``alembic check`` on the base commit, in a throwaway work tree of it."""
    from kitgen.migrations import MigrationError, check_migrations

    with tempfile.TemporaryDirectory(prefix="kitgen-fleet-") as scratch:
        tree = Path(scratch) / checkout.entry.name
        git(
            checkout.repo.parent,
            "clone",
            "-q",
            "--shared",
            "--no-checkout",
            "--",
            str(checkout.repo),
            str(tree),
        )
        git(tree, "checkout", "-q", "--detach", checkout.commit)
        try:
            drift = check_migrations(tree)
        except MigrationError as exc:
            return [f"migrations could not be checked: {exc}"]
    return [f"models and migrations disagree: {drift}"] if drift else []
