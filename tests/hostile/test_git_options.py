"""Template locations and refs from answers files and flags never reach git as options.

A committed ``.copier-answers.yml`` is input like any other: a ``_src_path`` or
``_commit`` starting with ``-`` (or naming a remote helper such as ``ext::``) would let
the repository run a command on the machine of whoever runs kitgen in it. Each case
plants such a value and asserts the command is refused, the tree unchanged and the
command's marker file never created.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.hostile._harness import assert_refused, assert_unchanged, git, kitgen, tree_state

MARKER = "{marker}"  # replaced by the case's marker path


@dataclass(frozen=True)
class Case:
    id: str
    key: str  # the answer planted: _src_path or _commit
    value: str
    command: tuple[str, ...]
    says: str


ADD = ("add", "repository", "Product", "--field", "name:str")
CASES = [
    Case("src-upload-pack-add", "_src_path", f"--upload-pack=touch {MARKER}", ADD, "_src_path"),
    Case(
        "src-upload-pack-sync", "_src_path", f"--upload-pack=touch {MARKER}", ("sync",), "_src_path"
    ),
    Case(
        "src-upload-pack-update",
        "_src_path",
        f"--upload-pack=touch {MARKER}",
        ("update",),
        "_src_path",
    ),
    Case("src-git-plus-option", "_src_path", f"git+--upload-pack=touch {MARKER}", ADD, "_src_path"),
    Case("src-config-option", "_src_path", "-cprotocol.ext.allow=always", ADD, "_src_path"),
    Case("src-ext-helper", "_src_path", f"ext::sh -c touch% {MARKER}", ADD, "remote helper"),
    Case(
        "src-ext-helper-update",
        "_src_path",
        f"ext::sh -c touch% {MARKER}",
        ("update",),
        "remote helper",
    ),
    Case("commit-short-option", "_commit", "-x", ADD, "_commit"),
    Case("commit-output-option", "_commit", f"--output={MARKER}", ADD, "_commit"),
    Case("commit-output-option-update", "_commit", f"--output={MARKER}", ("update",), "_commit"),
    Case("commit-range", "_commit", "1.0.0..HEAD", ("sync",), "_commit"),
]


def plant(service: Path, key: str, value: str) -> None:
    """Set ``key`` in the answers file and commit it, as a hostile repository would."""
    answers = service / ".copier-answers.yml"
    lines = [line for line in answers.read_text().splitlines() if not line.startswith(f"{key}:")]
    escaped = value.replace("'", "''")
    answers.write_text("\n".join([*lines, f"{key}: '{escaped}'"]) + "\n")
    git(service, "add", "-A")
    git(service, "-c", "user.name=t", "-c", "user.email=t@x", "commit", "-qm", "hostile answers")


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_a_hostile_answer_never_reaches_git(case: Case, service: Path, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    plant(service, case.key, case.value.replace(MARKER, str(marker)))
    before = tree_state(service)
    result = kitgen(service, *case.command)
    assert_refused(result, says=case.says)
    assert_unchanged(before, service)
    assert not marker.exists(), "git ran the planted command"


@dataclass(frozen=True)
class FlagCase:
    id: str
    args: tuple[str, ...]
    says: str


FLAG_CASES = [
    FlagCase("update-vcs-ref-option", ("update", f"--vcs-ref=--output={MARKER}"), "--vcs-ref"),
    FlagCase(
        "new-template-option",
        ("new", "x", "--defaults", f"--template=--upload-pack=touch {MARKER}"),
        "template",
    ),
    FlagCase("new-vcs-ref-option", ("new", "x", "--defaults", "--vcs-ref=-x"), "--vcs-ref"),
]


@pytest.mark.parametrize("case", FLAG_CASES, ids=[case.id for case in FLAG_CASES])
def test_a_hostile_flag_never_reaches_git(case: FlagCase, service: Path, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    before = tree_state(service)
    result = kitgen(service, *(arg.replace(MARKER, str(marker)) for arg in case.args))
    assert_refused(result, says=case.says)
    assert_unchanged(before, service)
    assert not (service / "x").exists()
    assert not marker.exists(), "git ran the planted command"
