"""`kitgen fleet status` and `kitgen fleet update` on a fleet of 24 real services."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.fleet._build import (
    CONFLICTING_EDIT,
    LOCAL_EDIT,
    RELEASE_NOTES,
    RUNTIME_EDIT,
    RUNTIME_FIX,
    TEMPLATE_CHANGE,
    Fleet,
    FleetService,
    commit_all,
    git,
    snapshot,
)
from tests.fleet.conftest import fleet_env, kitgen, kitgen_command, outcomes, scratch_dir

pytestmark = pytest.mark.slow

BRANCH = "kitgen/update-1.1.0"


def test_status_classifies_every_service(fleet: Fleet) -> None:
    result = kitgen(fleet, "fleet", "status", "--json", "--jobs", "2")
    assert result.returncode == 1, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)["services"]}
    assert len(rows) == 24
    for service in fleet.services:
        row = rows[service.name]
        if service.kind == "not-a-service":
            assert row["state"] == "error"
            assert "not a kitgen service" in row["error"]
            continue
        if service.kind == "unknown-commit":
            assert row["state"] == "error"
            assert "answers point at commit 1a2b3c4d" in row["error"]
            continue
        assert row["error"] is None, row
        assert (row["version"], row["latest"], row["behind"]) == ("1.0.0", "1.1.0", 1)
        assert row["runtime"] == "0.1.0"
        assert row["state"] == "behind"
        assert row["dirty"] == ([f"{service.package}/app.py"] if service.kind == "dirty" else [])
        expected_edits = ["servicekit/__init__.py"] if service.kind == "runtime-edit" else []
        assert row["edited_runtime"] == expected_edits
        drifted = service.kind == "manifest-drift"
        assert any("disagree on entities" in text for text in row["drift"]) == drifted
        assert row["update_branches"] == []

    table = kitgen(fleet, "fleet", "status")
    assert table.returncode == 1
    assert "24 services: 22 behind, 2 error" in table.stdout
    assert "runtime edited: servicekit/__init__.py" in table.stdout
    markdown = kitgen(fleet, "fleet", "status", "--markdown", "--only", "svc-00")
    assert markdown.stdout.startswith("| service | on | latest |")
    assert "| svc-00 | 1.0.0 | 1.1.0 | 1 | 0.1.0 | - | behind |" in markdown.stdout


def _read(fleet: Fleet, service: FleetService, name: str, ref: str = BRANCH) -> str:
    """A file on the service's update branch, read from its bare origin (where it was pushed)."""
    return git(fleet.origin(service), "show", f"{ref}:{name}")


def _defaults(fleet: Fleet) -> dict[str, str]:
    refs = {}
    for service in fleet.services:
        for repo in (fleet.repo(service), fleet.origin(service)):
            refs[str(repo)] = git(repo, "rev-parse", "refs/heads/main")
    return refs


def test_update_branches_every_service_keeps_every_edit_and_resumes(fleet: Fleet) -> None:
    defaults = _defaults(fleet)
    dirty = fleet.by_kind("dirty")[0]
    dirty_text = (fleet.repo(dirty) / dirty.edit_file).read_text()

    result = kitgen(fleet, "fleet", "update", "--to", "1.1.0", "--push", "--jobs", "2", "--json")

    assert result.returncode == 1, result.stderr
    reports = outcomes(result)
    assert {name: r["outcome"] for name, r in reports.items()} == {
        s.name: s.expected for s in fleet.services
    }
    for service in fleet.services:
        report = reports[service.name]
        if service.expected not in ("updated", "conflicts"):
            assert git(fleet.origin(service), "branch", "--list", BRANCH) == ""
            continue
        assert report["pushed"] is True
        assert report["branch"] == BRANCH
        # every local edit is still there; the runtime fix and the template change arrived
        assert LOCAL_EDIT.format(name=service.name) in _read(fleet, service, service.edit_file)
        assert RUNTIME_FIX.strip() in _read(fleet, service, "servicekit/errors.py")
        assert "_commit: 1.1.0" in _read(fleet, service, ".copier-answers.yml")
        readme = _read(fleet, service, "README.md")
        assert TEMPLATE_CHANGE in readme
        if service.kind == "conflict":
            assert report["conflicts"] == ["README.md"]
            assert "<<<<<<< " in readme
            assert CONFLICTING_EDIT.format(name=service.name) in readme
        else:
            assert report["conflicts"] == []
            assert "<<<<<<< " not in readme
        if service.kind == "runtime-edit":
            assert _read(fleet, service, "servicekit/__init__.py").startswith(RUNTIME_EDIT)
        message = git(fleet.origin(service), "log", "-1", "--format=%B", BRANCH)
        assert "from 1.0.0 to 1.1.0" in message
        assert RELEASE_NOTES in message
        assert "RUNTIME_FIX_MARKER" in message  # the changelog section
    assert "answers point at commit 1a2b3c4d" in reports["svc-16"]["reason"]
    assert "uncommitted changes" in reports[dirty.name]["reason"]
    # default branches (local and origin) and the uncommitted edit are untouched
    assert _defaults(fleet) == defaults
    assert (fleet.repo(dirty) / dirty.edit_file).read_text() == dirty_text
    assert git(fleet.repo(dirty), "status", "--porcelain").strip() == f"M {dirty.edit_file}"

    # a second run changes nothing and reports the same outcomes
    before = snapshot(fleet)
    again = kitgen(fleet, "fleet", "update", "--to", "1.1.0", "--push", "--jobs", "2", "--json")
    assert again.returncode == 1, again.stderr
    assert {n: r["outcome"] for n, r in outcomes(again).items()} == {
        s.name: s.expected for s in fleet.services
    }
    assert snapshot(fleet) == before
    assert any("holds the update" in note for note in outcomes(again)["svc-00"]["notes"])

    # a person resolves one conflict on its branch; the next run reports it done
    conflicted = next(s for s in fleet.by_kind("conflict") if not s.url_entry)
    repo = fleet.repo(conflicted)
    git(repo, "checkout", "-q", BRANCH)
    readme = repo / "README.md"
    readme.write_text(_take_theirs(readme.read_text()))
    commit_all(repo, "resolve the template update")
    git(repo, "checkout", "-q", "main")
    resumed = kitgen(fleet, "fleet", "update", "--to", "1.1.0", "--push", "--json")
    assert outcomes(resumed)[conflicted.name]["outcome"] == "updated"
    assert "<<<<<<< " not in _read(fleet, conflicted, "README.md")  # the fix was pushed
    status = kitgen(fleet, "fleet", "status", "--json", "--only", conflicted.name)
    assert json.loads(status.stdout)["services"][0]["update_branches"] == [BRANCH]


def _take_theirs(text: str) -> str:
    out: list[str] = []
    keep = True
    for line in text.splitlines(keepends=True):
        if line.startswith("<<<<<<< "):
            keep = False
        elif (line.startswith("=======") and not keep) or line.startswith(">>>>>>> "):
            keep = True
        elif keep:
            out.append(line)
    return "".join(out)


def test_dry_run_leaves_every_repository_byte_identical(fleet: Fleet) -> None:
    before = snapshot(fleet)
    result = kitgen(
        fleet, "fleet", "update", "--to", "latest", "--dry-run", "--jobs", "2", "--json"
    )
    assert result.returncode == 1, result.stderr
    reports = outcomes(result)
    assert {name: r["outcome"] for name, r in reports.items()} == {
        s.name: s.expected for s in fleet.services
    }
    assert "servicekit/errors.py" in reports["svc-00"]["diffstat"]
    assert reports["svc-03"]["conflicts"] == ["README.md"]
    assert snapshot(fleet) == before
    assert list(scratch_dir(fleet).iterdir()) == []


def test_ctrl_c_leaves_default_branches_alone_and_a_rerun_completes(fleet: Fleet) -> None:
    defaults = _defaults(fleet)
    process = subprocess.Popen(
        kitgen_command("fleet", "update", "--to", "1.1.0", "--jobs", "1", "--json"),
        cwd=fleet.root,
        env=fleet_env(fleet),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )
    assert process.stderr is not None
    finished = 0
    deadline = time.monotonic() + 600
    while finished < 3 and time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line:
            break
        finished += "1.0.0 -> 1.1.0" in line
    assert finished == 3
    os.killpg(process.pid, signal.SIGINT)  # Ctrl-C: the whole foreground group
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    report = json.loads(stdout)
    assert report["interrupted"] is True
    assert report["unfinished"], "the run was cut short"
    done = [s for s in report["services"] if s["outcome"] in ("updated", "conflicts")]
    assert len(done) >= 3
    assert _defaults(fleet) == defaults
    assert list(scratch_dir(fleet).iterdir()) == []
    for service in fleet.services:  # a branch exists only where an update finished
        branch = git(fleet.repo(service), "branch", "--list", BRANCH).strip()
        if branch and not service.url_entry:
            message = git(fleet.repo(service), "log", "-1", "--format=%s", BRANCH)
            assert "to 1.1.0" in message

    rerun = kitgen(fleet, "fleet", "update", "--to", "1.1.0", "--jobs", "2", "--json")
    assert rerun.returncode == 1, rerun.stderr
    assert {n: r["outcome"] for n, r in outcomes(rerun).items()} == {
        s.name: s.expected for s in fleet.services
    }


def test_selection_and_bad_targets(fleet: Fleet) -> None:
    only = kitgen(fleet, "fleet", "status", "--json", "--only", "svc-00", "--only", "svc-02")
    assert [row["name"] for row in json.loads(only.stdout)["services"]] == ["svc-00", "svc-02"]
    even = kitgen(fleet, "fleet", "status", "--json", "--select", "label=even")
    assert len(json.loads(even.stdout)["services"]) == 12

    for args, message in [
        (("status", "--only", "nope"), "--only 'nope': no such service"),
        (("status", "--select", "team"), "--select 'team': expected label=NAME"),
        (("update", "--to", "9.9.9", "--only", "svc-00"), "--to 9.9.9: the template has no such"),
        (("update", "--to", "--x"), "--to '--x'"),
        (("update", "--to", "../1.1.0"), "--to '../1.1.0'"),
    ]:
        before = snapshot(fleet)
        result = kitgen(fleet, "fleet", *args)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert message in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr
        assert snapshot(fleet) == before


def test_verify_runs_in_each_updated_service(fleet: Fleet, tmp_path: Path) -> None:
    report_file = tmp_path / "report.md"
    result = kitgen(
        fleet,
        "fleet",
        "update",
        "--to",
        "1.1.0",
        "--only",
        "svc-00",
        "--only",
        "svc-01",
        "--verify",
        "grep -q RUNTIME_FIX_MARKER servicekit/errors.py && test -f README.md && echo checked",
        "--report",
        str(report_file),
        "--json",
    )
    assert result.returncode == 0, result.stderr
    for service in ("svc-00", "svc-01"):
        verify = outcomes(result)[service]["verify"]
        assert verify["passed"] is True
        assert verify["tail"] == "checked"
    text = report_file.read_text()
    assert "| svc-00 | updated | 1.0.0 | 1.1.0 |" in text
    assert "Verify `grep -q RUNTIME_FIX_MARKER" in text

    failing = kitgen(
        fleet,
        "fleet",
        "update",
        "--to",
        "1.1.0",
        "--only",
        "svc-02",
        "--verify",
        "exit 3",
        "--json",
    )
    assert failing.returncode == 1
    report = outcomes(failing)["svc-02"]
    assert (report["outcome"], report["stage"]) == ("failed", "verify")
    assert report["verify"]["exit_code"] == 3
    assert "no forge CLI" not in failing.stdout


def test_ctrl_c_during_verify_stops_the_command_and_leaves_no_branch(fleet: Fleet) -> None:
    marker = "987.654"  # a sleep nobody else runs
    process = subprocess.Popen(
        kitgen_command(
            "fleet",
            "update",
            "--to",
            "1.1.0",
            "--only",
            "svc-00",
            "--only",
            "svc-01",
            "--jobs",
            "2",
            "--verify",
            f"sleep {marker}",
            "--json",
        ),
        cwd=fleet.root,
        env=fleet_env(fleet),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not _running(marker):
        # Bounded: a verify command left behind may still hold the pipes open.
        assert process.poll() is None, process.communicate(timeout=30)
        time.sleep(0.2)
    assert _running(marker)
    os.killpg(process.pid, signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert not _running(marker)
    assert json.loads(stdout)["interrupted"] is True
    for service in fleet.services[:2]:
        assert git(fleet.repo(service), "branch", "--list", BRANCH) == ""
    assert list(scratch_dir(fleet).iterdir()) == []


def _running(marker: str) -> bool:
    found = subprocess.run(["pgrep", "-f", f"^sleep {marker}"], capture_output=True, check=False)
    return found.returncode == 0
