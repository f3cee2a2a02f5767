"""`kitgen new`: a thin wrapper over `copier copy` that records a git template location."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.template.conftest import REPO


def _kitgen(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kitgen", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        cwd=cwd,
    )


@pytest.mark.slow
def test_new_records_the_git_checkout_as_source(tmp_path: Path) -> None:
    result = _kitgen("new", str(tmp_path / "svc"), "--defaults", "--vcs-ref", "HEAD",
                     "--data", "service_name=inventory", "-d", "with_cache=false")  # fmt: skip
    assert result.returncode == 0, result.stderr
    answers = yaml.safe_load((tmp_path / "svc" / ".copier-answers.yml").read_text())
    assert answers["_src_path"] == str(REPO)
    assert "site-packages" not in answers["_src_path"]
    assert answers["service_name"] == "inventory"
    assert answers["with_cache"] is False


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--data", "service_name=Not A Slug"], "service_name must be a lowercase slug"),
        (["--data", "service_name"], "--data expects KEY=VALUE"),
        (["--data", "service_name=ok", "--data", "package_name=import"], "would shadow a keyword"),
        (
            ["-d", "service_name=ok", "--template", "https://127.0.0.1:1/nothing.git"],
            "git failed while fetching the template",
        ),
    ],
)
def test_new_with_bad_input_exits_2_and_writes_nothing(
    tmp_path: Path, args: list[str], message: str
) -> None:
    target = tmp_path / "svc"
    result = _kitgen("new", str(target), "--defaults", "--vcs-ref", "HEAD", *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not target.exists()


def test_new_refuses_a_non_empty_destination(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine\n")
    result = _kitgen("new", str(tmp_path), "--defaults", "--data", "service_name=x")
    assert result.returncode == 2
    assert "already exists and is not empty" in result.stderr
    assert (tmp_path / "keep.txt").read_text() == "mine\n"
