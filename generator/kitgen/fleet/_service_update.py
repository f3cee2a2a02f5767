"""One service's update, run in a worker process: private clone, Copier, commit, branch.

See :mod:`kitgen.fleet.update` for the whole run. Every failure here becomes a
:class:`ServiceReport`; nothing a service does can stop the others.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from kitgen._git import GitError, conflicted_paths, git, succeeds
from kitgen._signals import uninterruptible
from kitgen.errors import UserError
from kitgen.fleet._checkout import UPDATE_BRANCH_PREFIX, Checkout
from kitgen.fleet.model import Outcome, ServiceReport, UpdateOptions, VerifyResult
from kitgen.template import Release, TemplateHistory

__all__ = ["ServiceTask", "update_service"]

_VERIFY_TAIL_LINES = 15
_VERIFY_TAIL_BYTES = 64 * 1024
_VERIFY_LINE_CHARS = 500
_VERIFY_TIMEOUT_SECONDS = 3600


@dataclass(frozen=True)
class ServiceTask:
    """Everything a worker needs for one service, resolved by the parent."""

    checkout: Checkout
    template_source: str
    template_dir: Path
    target: Release | None
    options: UpdateOptions
    recorded_commit: str  # `_commit` of the base branch's answers, read by the parent


def update_service(task: ServiceTask) -> ServiceReport:
    """Update one service (in a worker process); every failure becomes a report."""
    checkout = task.checkout
    entry = checkout.entry
    report = ServiceReport(entry.name, entry.location, Outcome.FAILED, dry_run=task.options.dry_run)
    try:
        _update(task, report)
    except UserError as exc:
        _finish(report, Outcome.FAILED, report.stage or "inspect", str(exc))
    except Exception as exc:  # one service's bug must not stop the fleet
        reason = f"internal error: {type(exc).__name__}: {' '.join(str(exc).split())}"
        _finish(report, Outcome.FAILED, report.stage or "inspect", reason)
    return report


def _update(task: ServiceTask, report: ServiceReport) -> None:
    checkout, options, target = task.checkout, task.options, task.target
    history = TemplateHistory(task.template_source, task.template_dir)
    current = task.recorded_commit
    report.from_version = current or None
    if target is None:
        _finish(report, Outcome.FAILED, "template", f"the template has no release {options.to}")
        return
    report.to_version = target.tag
    current_commit = history.commit(current) if current else None
    if current_commit is None:
        _finish(
            report,
            Outcome.FAILED,
            "inspect",
            f"answers point at commit {current or '(none)'} that the template does not have",
        )
        return
    current_version = history.version_of(current)
    if current_commit == history.commit(target.tag) or current_version == target.version:
        _finish(report, Outcome.UP_TO_DATE, "", f"already on {current}")
        return
    if current_version is not None and current_version > target.version:
        _finish(report, Outcome.SKIPPED, "inspect", f"on {current}, newer than {target.tag}")
        return
    branch = f"{UPDATE_BRANCH_PREFIX}{target.tag}"
    report.branch = branch
    existing = checkout.branch_tip(branch)
    if existing is not None:
        _resume(task, report, branch, existing, target)
        return
    dirty = checkout.dirty()
    if dirty:
        listed = ", ".join(dirty[:3]) + (" ..." if len(dirty) > 3 else "")
        _finish(report, Outcome.SKIPPED, "inspect", f"uncommitted changes ({listed})")
        report.branch = None
        return
    with _private_clone(checkout, checkout.commit) as tree:
        report.stage = "update"
        git(tree, "checkout", "-q", "-b", branch)
        _copier_update(tree, target.tag)
        report.conflicts = conflicted_paths(tree)
        git(tree, "add", "-A")
        report.diffstat = git(tree, "diff", "--cached", "--stat").rstrip()
        outcome = Outcome.CONFLICTS if report.conflicts else Outcome.UPDATED
        if options.dry_run:
            _finish(report, outcome, "", "dry run: nothing was written")
            return
        report.stage = "commit"
        _commit(tree, checkout, _commit_message(history, current, target, report.conflicts))
        report.outcome, report.stage = outcome, ""
        _verify(task, report, tree)
        # The branch is kept even when --verify failed: it holds the update to look at.
        verified = report.outcome is not Outcome.FAILED
        report.stage = "branch" if verified else report.stage
        _create_branch(checkout, tree, branch)
        report.stage = "" if verified else report.stage
    if report.conflicts:
        report.notes.append(
            "committed with conflict markers: resolve them on the branch, then merge"
        )
    _publish(task, report, branch)


def _create_branch(checkout: Checkout, tree: Path, branch: str) -> None:
    """The one write to the service's repository: a new ref, fetched from the private clone."""
    with uninterruptible():
        git(
            checkout.repo,
            "fetch",
            "--no-tags",
            "--no-write-fetch-head",
            "--",
            str(tree),
            f"refs/heads/{branch}:refs/heads/{branch}",
            detach=True,
        )


def _resume(
    task: ServiceTask, report: ServiceReport, branch: str, tip: str, target: Release
) -> None:
    """The update branch exists: report it as done (or still conflicted), or as foreign."""
    checkout = task.checkout
    try:
        holds = str(checkout.answers(tip).get("_commit") or "") == target.tag
    except UserError:
        holds = False
    if not holds:
        _finish(
            report,
            Outcome.SKIPPED,
            "inspect",
            f"branch {branch} already exists and does not hold the {target.tag} update",
        )
        return
    report.conflicts = _conflicts_at(checkout.repo, tip)
    report.outcome = Outcome.CONFLICTS if report.conflicts else Outcome.UPDATED
    report.notes.append("done in an earlier run (the branch holds the update)")
    if report.conflicts:
        report.notes.append("conflict markers remain on the branch: resolve them there")
    if task.options.dry_run:
        return
    if task.options.verify:
        with _private_clone(checkout, tip) as tree:
            _verify(task, report, tree)
    if not succeeds(checkout.repo, "rev-parse", "--verify", "-q", f"refs/heads/{branch}"):
        # Only the remote has it (an earlier run pushed it from another clone): published.
        report.pushed = True
        return
    _publish(task, report, branch)


def _publish(task: ServiceTask, report: ServiceReport, branch: str) -> None:
    """``--push`` and ``--open-pr`` for an updated (or conflicted) branch."""
    options, checkout = task.options, task.checkout
    if options.dry_run or report.outcome not in (Outcome.UPDATED, Outcome.CONFLICTS):
        return
    if not (options.push or options.open_pr):
        if checkout.remote:
            report.notes.append(
                f"the branch is in kitgen's clone {checkout.repo}: pass --push to publish it"
            )
        return
    report.stage = "push"
    if not succeeds(checkout.repo, "remote", "get-url", "origin"):
        _finish(report, Outcome.FAILED, "push", "no remote named origin to push to")
        return
    with uninterruptible():
        # Never forced, never the default branch: only refs/heads/kitgen/update-<version>.
        git(
            checkout.repo,
            "push",
            "--porcelain",
            "origin",
            f"refs/heads/{branch}:refs/heads/{branch}",
            timeout=600,
            detach=True,
        )
    report.pushed = True
    report.stage = ""
    if options.open_pr:
        report.pull_request = _open_pull_request(checkout, report, branch)


def _finish(report: ServiceReport, outcome: Outcome, stage: str, reason: str) -> None:
    report.outcome, report.stage, report.reason = outcome, stage, reason


@contextmanager
def _private_clone(checkout: Checkout, commit: str) -> Iterator[Path]:
    """A throwaway clone sharing the service's objects, checked out at ``commit``."""
    scratch = Path(tempfile.mkdtemp(prefix="kitgen-fleet-"))
    try:
        tree = scratch / checkout.entry.name
        git(
            scratch, "clone", "-q", "--shared", "--no-checkout", "--", str(checkout.repo), str(tree)
        )
        git(tree, "checkout", "-q", "--detach", commit)
        yield tree
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _copier_update(tree: Path, tag: str) -> None:
    import warnings

    from kitgen.scaffold import manifest_answers, rerender

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = manifest_answers(tree)  # recorded answers may predate the tag's templates
        rerender(tree, data=data, vcs_ref=tag, failure="copier update failed: ")


def _commit(tree: Path, checkout: Checkout, message: str) -> None:
    identity: list[str] = []
    if not succeeds(checkout.repo, "config", "user.email"):
        identity = ["-c", "user.name=kitgen", "-c", "user.email=kitgen@localhost"]
    git(tree, *identity, "commit", "-q", "--no-verify", "-m", message)


def _commit_message(
    history: TemplateHistory, current: str, target: Release, conflicts: list[str]
) -> str:
    lines = [f"Update the kitgen template from {current} to {target.tag}", ""]
    changes = history.changes(current, target)
    if changes:
        lines.append("Template changes:")
        for tag, notes in changes:
            lines.append("")
            lines.append(f"{tag}:")
            lines.extend(f"  {line}".rstrip() for line in notes.splitlines() or ["(no notes)"])
    if conflicts:
        lines += ["", "Conflicts left as inline markers (resolve before merging):"]
        lines.extend(f"  {name}" for name in conflicts)
    return "\n".join(lines) + "\n"


def _conflicts_at(repo: Path, commit: str) -> list[str]:
    """Files with conflict markers or ``.rej`` files in ``commit``."""
    found: set[str] = set()
    try:
        listing = git(repo, "grep", "-l", "-I", "-E", "^(<<<<<<<|>>>>>>>) ", commit, "--")
    except GitError:  # git grep exits 1 when nothing matches
        listing = ""
    for line in listing.splitlines():
        found.add(line.split(":", 1)[1] if ":" in line else line)
    names = git(repo, "ls-tree", "-r", "--name-only", "-z", commit).split("\0")
    found.update(name for name in names if name.endswith(".rej"))
    return sorted(found)


def _verify(task: ServiceTask, report: ServiceReport, tree: Path) -> None:
    command = task.options.verify
    if not command or report.outcome is not Outcome.UPDATED:
        return
    report.stage = "verify"
    code, tail = _run_verify(command, tree)
    report.verify = VerifyResult(command, code == 0, code, tail)
    report.stage = ""
    if code != 0:
        _finish(report, Outcome.FAILED, "verify", f"`{command}` exited {code}")


def _run_verify(command: str, tree: Path) -> tuple[int, str]:
    """Run ``command`` in its own process group; its exit code and the tail of its output.

    The output goes to a file (a command may print gigabytes) and only its last
    :data:`_VERIFY_TAIL_BYTES` are read. If the worker is stopped, the whole group is killed:
    nothing the command started outlives the run.
    """
    env = {key: value for key, value in os.environ.items() if not key.startswith("GIT_CONFIG")}
    with tempfile.TemporaryFile() as output:
        process = subprocess.Popen(
            ["bash", "-c", command],
            cwd=tree,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own group: Ctrl-C at the terminal is kitgen's
        )
        try:
            code = process.wait(timeout=_VERIFY_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            code = 124
        finally:
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        size = output.seek(0, os.SEEK_END)
        output.seek(max(0, size - _VERIFY_TAIL_BYTES))
        text = output.read().decode("utf-8", errors="replace")
    lines = [line[:_VERIFY_LINE_CHARS] for line in text.rstrip().splitlines()]
    return code, "\n".join(lines[-_VERIFY_TAIL_LINES:])


def _open_pull_request(checkout: Checkout, report: ServiceReport, branch: str) -> str | None:
    forge = next((name for name in ("gh", "glab") if shutil.which(name)), None)
    if forge is None:
        report.notes.append("no forge CLI (gh or glab) on PATH: open the pull request by hand")
        return None
    from kitgen.fleet._report import service_markdown

    title = f"Update the kitgen template to {report.to_version}"
    body = service_markdown(report)
    if forge == "gh":
        command = ["gh", "pr", "create", "--head", branch, "--base", checkout.branch]
        command += ["--title", title, "--body", body]
    else:
        command = ["glab", "mr", "create", "--source-branch", branch]
        command += ["--target-branch", checkout.branch, "--title", title, "--description", body]
    result = subprocess.run(
        command, cwd=checkout.repo, capture_output=True, text=True, check=False, timeout=300
    )
    if result.returncode != 0:
        detail = " ".join((result.stderr or result.stdout).split())[:300]
        report.notes.append(f"{forge} could not open the pull request: {detail}")
        return None
    return result.stdout.strip().splitlines()[-1] if result.stdout.strip() else None
