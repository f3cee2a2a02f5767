"""Where a service of the fleet is read from and updated: its git repository and base branch.

A ``path`` entry is the user's own clone: kitgen reads its commits, checks its work tree
is clean and adds branches to it, but never checks anything out in it. A ``url`` entry
is cloned (without a work tree) into kitgen's work directory and fetched afresh on every
run; its update branches are pushed from there.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from kitgen._git import GitError, git, show_file, succeeds, uncommitted_paths
from kitgen.errors import UserError
from kitgen.fleet.inventory import ServiceEntry

ANSWERS = ".copier-answers.yml"
MANIFEST = "service.yaml"
UPDATE_BRANCH_PREFIX = "kitgen/update-"


class NotAService(UserError):
    """The repository is not a service kitgen generated."""


@dataclass(frozen=True)
class Checkout:
    """A service's repository as kitgen reads it: the base branch and its tip."""

    entry: ServiceEntry
    repo: Path
    branch: str
    base: str  # the full ref of the base branch
    commit: str
    remote: bool  # cloned by kitgen from the entry's url

    def read(self, name: str, ref: str | None = None) -> str | None:
        """A file's text at the base commit (or ``ref``); ``None`` when absent."""
        return show_file(self.repo, ref or self.commit, name)

    def answers(self, ref: str | None = None) -> dict[str, Any]:
        """The recorded Copier answers; :class:`NotAService` when this is no kitgen service."""
        text = self.read(ANSWERS, ref)
        if text is None:
            raise NotAService(f"not a kitgen service: {self.branch} has no {ANSWERS}")
        try:
            answers = YAML(typ="safe", pure=True).load(text)
        except YAMLError as exc:
            raise UserError(f"{ANSWERS} is not valid YAML: {' '.join(str(exc).split())}") from None
        if not isinstance(answers, dict) or not answers.get("_src_path"):
            raise NotAService(f"not a kitgen service: {ANSWERS} records no template (_src_path)")
        if self.read(MANIFEST, ref) is None:
            raise NotAService(f"not a kitgen service: {self.branch} has no {MANIFEST}")
        return answers

    def dirty(self) -> list[str]:
        """Uncommitted paths in the user's clone (kitgen's own clones are never dirty)."""
        return [] if self.remote else uncommitted_paths(self.repo)

    def update_branches(self) -> list[str]:
        """Open update branches, local or on the remote (``kitgen/update-1.2.0``)."""
        refs = git(
            self.repo,
            "for-each-ref",
            "--format=%(refname)",
            f"refs/heads/{UPDATE_BRANCH_PREFIX}*",
            f"refs/remotes/origin/{UPDATE_BRANCH_PREFIX}*",
        ).split()
        names = {
            ref.removeprefix("refs/heads/").removeprefix("refs/remotes/origin/") for ref in refs
        }
        return sorted(names)

    def branch_tip(self, branch: str) -> str | None:
        """The commit of ``branch`` here, else on the remote; ``None`` when neither has it."""
        for ref in (f"refs/heads/{branch}", f"refs/remotes/origin/{branch}"):
            try:
                return git(self.repo, "rev-parse", "--verify", "-q", f"{ref}^{{commit}}").strip()
            except GitError:
                continue
        return None


def locate(entry: ServiceEntry, workdir: Path) -> Checkout:
    """The service's repository, cloned or fetched first for a ``url`` entry."""
    if entry.path is not None:
        repo = entry.path
        if not (repo / ".git").exists():
            raise UserError(f"{repo} is not a git repository")
        branch = entry.branch or _default_local_branch(repo)
        base = f"refs/heads/{branch}"
        remote = False
    else:
        repo = _fetched_clone(entry, workdir)
        branch = entry.branch or _default_remote_branch(repo)
        base = f"refs/remotes/origin/{branch}"
        remote = True
    try:
        commit = git(repo, "rev-parse", "--verify", "-q", f"{base}^{{commit}}").strip()
    except GitError:
        raise UserError(f"branch {branch!r} does not exist in {entry.location}") from None
    return Checkout(entry, repo, branch, base, commit, remote)


def prepare_workdir(workdir: Path) -> None:
    """Create the work directory; a user error when it cannot be one. Needs git, too."""
    if shutil.which("git") is None:
        raise UserError("git is not installed (kitgen needs it to read and update services)")
    try:
        workdir.mkdir(parents=True, exist_ok=True)
        probe = workdir / f".kitgen-probe-{os.getpid()}"
        probe.touch()
        probe.unlink()
    except OSError as exc:
        raise UserError(
            f"work directory {workdir} is not usable ({exc.strerror or exc}): pass --workdir DIR"
        ) from None


def clone_dir(entry: ServiceEntry, workdir: Path) -> Path:
    """Where kitgen keeps its clone of a ``url`` entry (the name plus a hash of the URL)."""
    digest = hashlib.sha256(str(entry.url).encode()).hexdigest()[:8]
    return workdir / "services" / f"{entry.name}-{digest}"


def _fetched_clone(entry: ServiceEntry, workdir: Path) -> Path:
    clone = clone_dir(entry, workdir)
    if (clone / ".git").is_dir():
        git(clone, "fetch", "-q", "--prune", "--no-tags", "origin", timeout=600)
        return clone
    shutil.rmtree(clone, ignore_errors=True)
    clone.parent.mkdir(parents=True, exist_ok=True)
    staging = clone.with_name(f"{clone.name}.partial-{os.getpid()}-{threading.get_ident()}")
    shutil.rmtree(staging, ignore_errors=True)
    git(
        clone.parent,
        "clone",
        "-q",
        "--no-checkout",
        "--no-tags",
        "--",
        str(entry.url),
        str(staging),
        timeout=600,
    )
    try:
        staging.rename(clone)
    except OSError:  # another run made the clone first: use theirs
        shutil.rmtree(staging, ignore_errors=True)
    return clone


def _default_remote_branch(repo: Path) -> str:
    try:
        ref = git(repo, "symbolic-ref", "-q", "refs/remotes/origin/HEAD").strip()
    except GitError:
        raise UserError(
            f"cannot tell the default branch of {repo}'s remote: set 'branch:' in the inventory"
        ) from None
    return ref.removeprefix("refs/remotes/origin/")


def _default_local_branch(repo: Path) -> str:
    # The remote's default branch when the clone knows it, else the branch checked out.
    try:
        ref = git(repo, "symbolic-ref", "-q", "refs/remotes/origin/HEAD").strip()
        name = ref.removeprefix("refs/remotes/origin/")
        if succeeds(repo, "rev-parse", "--verify", "-q", f"refs/heads/{name}"):
            return name
    except GitError:
        pass
    try:
        return git(repo, "symbolic-ref", "-q", "--short", "HEAD").strip()
    except GitError:
        raise UserError(
            f"{repo} has no branch checked out (detached HEAD): set 'branch:' in the inventory"
        ) from None
