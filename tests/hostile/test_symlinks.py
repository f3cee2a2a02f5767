"""Committed symlinks never make kitgen write outside the service.

``service.yaml`` and ``.copier-answers.yml`` must be regular files; any other symlink
that leads out of the service (a file or a whole directory the template renders into)
is refused before anything is written. The target outside stays byte-identical.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.hostile._harness import assert_refused, assert_unchanged, git, kitgen, tree_state

ADD = ("add", "repository", "Product", "--field", "name:str")


@dataclass(frozen=True)
class Case:
    id: str
    link: str  # the path in the service that becomes a committed symlink
    inside: bool  # the target is another file in the service (else a file outside)
    command: tuple[str, ...]
    says: str


CASES = [
    Case("manifest-outside-add", "service.yaml", False, ADD, "service.yaml is a symlink"),
    Case("manifest-outside-sync", "service.yaml", False, ("sync",), "service.yaml is a symlink"),
    Case("manifest-outside-dry-run", "service.yaml", False, (*ADD, "--dry-run"), "symlink"),
    Case("manifest-inside-add", "service.yaml", True, ADD, "service.yaml is a symlink"),
    Case("answers-outside-add", ".copier-answers.yml", False, ADD, ".copier-answers.yml is a"),
    Case("answers-outside-update", ".copier-answers.yml", False, ("update",), "symlink"),
    Case("models-dir-outside-add", "shop/models", False, ADD, "outside the service"),
    Case("router-registry-outside-add", "shop/routers/__init__.py", False, ADD, "outside"),
    Case("readme-outside-update", "README.md", False, ("update",), "outside the service"),
]


def link(service: Path, name: str, *, inside: bool, outside: Path) -> Path:
    """Move ``name`` away (outside, or to ``moved-<name>`` inside) and commit a symlink
    to it in its place; the target's path is returned."""
    path = service / name
    target = (service / f"moved-{path.name}") if inside else outside / path.name
    target.parent.mkdir(parents=True, exist_ok=True)
    path.rename(target)
    os.symlink(os.path.relpath(target, path.parent) if inside else target, path)
    git(service, "add", "-A")
    git(service, "-c", "user.name=t", "-c", "user.email=t@x", "commit", "-qm", "symlink")
    return target


def snapshot(path: Path) -> dict[str, bytes]:
    if path.is_file():
        return {"": path.read_bytes()}
    return {
        str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()
    }


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_a_symlink_never_leads_a_write_outside(case: Case, service: Path, tmp_path: Path) -> None:
    target = link(service, case.link, inside=case.inside, outside=tmp_path / "outside")
    before, target_before = tree_state(service), snapshot(target)
    result = kitgen(service, *case.command)
    assert_refused(result, says=case.says)
    assert_unchanged(before, service)
    assert snapshot(target) == target_before, "the file outside the service was rewritten"


def test_a_symlink_within_the_service_is_fine(service: Path) -> None:
    """A committed link between two files of the service does not stop kitgen."""
    (service / "NOTES.md").symlink_to("README.md")
    git(service, "add", "-A")
    git(service, "-c", "user.name=t", "-c", "user.email=t@x", "commit", "-qm", "link")
    result = kitgen(service, *ADD)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (service / "shop" / "models" / "product.py").is_file()
    assert os.readlink(service / "NOTES.md") == "README.md"


# -- the lock file in .git is never written through ------------------------------------------


@dataclass(frozen=True)
class LockCase:
    id: str
    command: tuple[str, ...]
    dangling: bool  # the symlink's target does not exist (else an outside file)


LOCK_CASES = [
    LockCase("lock-symlink-add", ADD, dangling=False),
    LockCase("lock-symlink-dry-run", (*ADD, "--dry-run"), dangling=False),
    LockCase("lock-symlink-update", ("update",), dangling=False),
    LockCase("lock-dangling-symlink-add", ADD, dangling=True),
    LockCase("lock-dangling-symlink-dry-run", (*ADD, "--dry-run"), dangling=True),
]


@pytest.mark.parametrize("case", LOCK_CASES, ids=[case.id for case in LOCK_CASES])
def test_a_symlinked_lock_file_is_refused(case: LockCase, service: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside" / "precious.txt"
    outside.parent.mkdir()
    if not case.dangling:
        outside.write_bytes(b"a file kitgen must not touch\n")
    lock = service / ".git" / "kitgen.lock"
    lock.unlink(missing_ok=True)
    lock.symlink_to(outside)
    before = tree_state(service)
    result = kitgen(service, *case.command)
    assert_refused(result, says="kitgen.lock is a symbolic link; remove it")
    assert_unchanged(before, service)
    assert os.readlink(lock) == str(outside)
    if case.dangling:
        assert not outside.exists(), "the dangling symlink's target was created"
    else:
        assert outside.read_bytes() == b"a file kitgen must not touch\n"


# -- a hard link is one file in two places: writing it in place writes both ------------------


@dataclass(frozen=True)
class HardLinkCase:
    id: str
    name: str  # the committed file hard-linked to a file outside the service
    command: tuple[str, ...]


HARD_LINK_CASES = [
    HardLinkCase("manifest-add", "service.yaml", ADD),
    HardLinkCase("manifest-sync", "service.yaml", ("sync",)),
    HardLinkCase("manifest-dry-run", "service.yaml", (*ADD, "--dry-run")),
    HardLinkCase("answers-add", ".copier-answers.yml", ADD),
    HardLinkCase("answers-update", ".copier-answers.yml", ("update",)),
    HardLinkCase("router-registry-add", "shop/routers/__init__.py", ADD),
    HardLinkCase("readme-update", "README.md", ("update",)),
]


@pytest.mark.parametrize("case", HARD_LINK_CASES, ids=[case.id for case in HARD_LINK_CASES])
def test_a_hard_linked_file_is_refused(case: HardLinkCase, service: Path, tmp_path: Path) -> None:
    """The committed file replaced by a hard link to an identical file outside
    (``ln /outside/file service.yaml``): git sees no change, the tree is clean, and the
    outside file stays byte-identical."""
    outside = tmp_path / "outside" / Path(case.name).name
    outside.parent.mkdir()
    inside = service / case.name
    outside.write_bytes(inside.read_bytes())
    inside.unlink()
    os.link(outside, inside)
    before, outside_before = tree_state(service), outside.read_bytes()
    result = kitgen(service, *case.command)
    message = assert_refused(result, says=f"{case.name} is hard-linked")
    assert "replace it with a copy" in message
    assert_unchanged(before, service)
    assert outside.read_bytes() == outside_before, "the file outside the service was rewritten"
