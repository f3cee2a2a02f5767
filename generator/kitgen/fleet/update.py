"""``kitgen fleet update``: one template release into every service, one branch each.

The update itself is ``kitgen update``'s (Copier's ``run_update`` with inline conflict
markers); this module only decides where it runs and records what happened:

1. the parent process locates every service (cloning or fetching ``url`` entries) and
   prepares each template once (a local mirror of a remote template; Copier's own clones
   then come from that mirror through git's ``url.<mirror>.insteadOf``);
2. worker processes update one service each, in a private ``git clone --shared`` of it,
   so the user's clone is never checked out, merged or reset;
3. only a finished update reaches the user's repository, as one ref: the branch
   ``kitgen/update-<version>`` fetched from the private clone (then pushed, if asked).

A run can therefore be interrupted at any point: the default branch is never touched,
and a branch exists only once it holds a complete update. Running the same command again
finds those branches and reports them instead of redoing them.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from types import FrameType

from kitgen._git import GitError, conflicted_paths, git, succeeds
from kitgen.errors import UserError
from kitgen.fleet._checkout import UPDATE_BRANCH_PREFIX, Checkout, NotAService, locate
from kitgen.fleet._templates import Templates
from kitgen.fleet.inventory import ServiceEntry
from kitgen.template import Release, TemplateHistory

__all__ = [
    "FleetUpdate",
    "Outcome",
    "ServiceReport",
    "UpdateOptions",
    "VerifyResult",
    "update_fleet",
]

_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._+-]{0,99}")
_VERIFY_TAIL_LINES = 15


class Outcome(StrEnum):
    """How one service ended."""

    UP_TO_DATE = "up-to-date"
    UPDATED = "updated"
    CONFLICTS = "conflicts"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class UpdateOptions:
    """What ``kitgen fleet update`` was asked to do."""

    to: str = "latest"
    workdir: Path = Path(".")
    jobs: int = 1
    dry_run: bool = False
    push: bool = False
    verify: str | None = None
    open_pr: bool = False


@dataclass
class VerifyResult:
    """The ``--verify`` command's result in one updated service."""

    command: str
    passed: bool
    exit_code: int
    tail: str


@dataclass
class ServiceReport:
    """What happened to one service (or, in a dry run, would happen)."""

    name: str
    location: str
    outcome: Outcome
    reason: str = ""
    stage: str = ""
    from_version: str | None = None
    to_version: str | None = None
    branch: str | None = None
    conflicts: list[str] = field(default_factory=list)
    diffstat: str = ""
    pushed: bool = False
    verify: VerifyResult | None = None
    pull_request: str | None = None
    notes: list[str] = field(default_factory=list)
    dry_run: bool = False

    @property
    def ok(self) -> bool:
        return self.outcome in (Outcome.UPDATED, Outcome.UP_TO_DATE)


@dataclass
class FleetUpdate:
    """The whole run: one report per finished service, and what an interrupt cut short."""

    target: str
    dry_run: bool
    services: list[ServiceReport] = field(default_factory=list)
    unfinished: list[str] = field(default_factory=list)
    interrupted: bool = False

    @property
    def exit_code(self) -> int:
        if self.interrupted:
            return 130
        return 0 if all(report.ok for report in self.services) else 1


@dataclass(frozen=True)
class _Task:
    """Everything a worker needs for one service, resolved by the parent."""

    checkout: Checkout
    template_source: str
    template_dir: Path
    target: Release | None
    options: UpdateOptions


def update_fleet(
    entries: Sequence[ServiceEntry],
    options: UpdateOptions,
    *,
    on_report: Callable[[ServiceReport], None] | None = None,
) -> FleetUpdate:
    """Update ``entries`` to ``options.to`` in parallel processes (see the module docstring)."""
    if options.to != "latest" and (not _TAG.fullmatch(options.to) or ".." in options.to):
        raise UserError(f"--to {options.to!r}: expected a template tag such as 1.2.0, or latest")
    options.workdir.mkdir(parents=True, exist_ok=True)
    run = FleetUpdate(target=options.to, dry_run=options.dry_run)
    with _exclusive(options.workdir):
        templates = Templates(options.workdir)
        with ThreadPoolExecutor(max_workers=max(1, options.jobs)) as pool:
            planned = list(pool.map(lambda entry: _plan(entry, templates, options), entries))
        tasks = [task for task in planned if isinstance(task, _Task)]
        _require_known_target(tasks, options.to)
        for report in planned:
            if isinstance(report, ServiceReport):
                run.services.append(report)
                if on_report is not None:
                    on_report(report)
        _run_workers(tasks, templates.mirrors(), options, run, on_report)
    order = {entry.name: index for index, entry in enumerate(entries)}
    run.services.sort(key=lambda report: order[report.name])
    return run


def _plan(
    entry: ServiceEntry, templates: Templates, options: UpdateOptions
) -> _Task | ServiceReport:
    """Locate the service and its template, or decide its outcome without a worker."""

    def decided(outcome: Outcome, stage: str, reason: str) -> ServiceReport:
        return ServiceReport(entry.name, entry.location, outcome, reason=reason, stage=stage)

    try:
        checkout = locate(entry, options.workdir)
        answers = checkout.answers()
    except NotAService as exc:
        return decided(Outcome.SKIPPED, "inspect", str(exc))
    except UserError as exc:
        return decided(Outcome.FAILED, "locate", str(exc))
    source = str(answers["_src_path"])
    try:
        history = templates.history(source, base=checkout.repo)
    except UserError as exc:
        return decided(Outcome.FAILED, "template", str(exc))
    target = history.latest() if options.to == "latest" else history.release(options.to)
    return _Task(checkout, source, history.git_dir, target, options)


def _require_known_target(tasks: list[_Task], to: str) -> None:
    """An unknown ``--to`` is a user error when no service's template has that release."""
    if tasks and all(task.target is None for task in tasks):
        if to == "latest":
            raise UserError("the template has no release tags yet (tags such as 1.0.0)")
        known = {
            release.tag
            for task in tasks
            for release in TemplateHistory(task.template_source, task.template_dir).releases()
        }
        listed = ", ".join(sorted(known)[-5:]) or "none"
        raise UserError(f"--to {to}: the template has no such release (releases: {listed})")


@contextmanager
def _exclusive(workdir: Path) -> Iterator[None]:
    """One ``fleet update`` at a time per work directory."""
    import fcntl

    lock_path = workdir / "fleet-update.lock"
    with lock_path.open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UserError(
                f"another `kitgen fleet update` is running with the work directory {workdir}"
            ) from None
        yield


# -- the worker pool ---------------------------------------------------------------------


def _run_workers(
    tasks: list[_Task],
    mirrors: dict[str, Path],
    options: UpdateOptions,
    run: FleetUpdate,
    on_report: Callable[[ServiceReport], None] | None,
) -> None:
    if not tasks:
        return
    env = _insteadof_env(mirrors)
    context = multiprocessing.get_context("spawn")
    pool = context.Pool(
        processes=min(max(1, options.jobs), len(tasks)), initializer=_worker_init, initargs=(env,)
    )
    remaining = {task.checkout.entry.name for task in tasks}
    try:
        for report in pool.imap_unordered(_update_service, tasks):
            remaining.discard(report.name)
            run.services.append(report)
            if on_report is not None:
                on_report(report)
        pool.close()
    except KeyboardInterrupt:
        run.interrupted = True
        # Workers defer SIGTERM while they write a branch, so none is left half-made.
        pool.terminate()
    finally:
        pool.join()
        run.unfinished = sorted(remaining)


def _insteadof_env(mirrors: dict[str, Path]) -> dict[str, str]:
    """Make every git clone of a remote template (Copier's included) read the local mirror."""
    env: dict[str, str] = {}
    for index, (source, mirror) in enumerate(sorted(mirrors.items())):
        env[f"GIT_CONFIG_KEY_{index}"] = f"url.{mirror}.insteadOf"
        env[f"GIT_CONFIG_VALUE_{index}"] = source
    if env:
        env["GIT_CONFIG_COUNT"] = str(len(mirrors))
    return env


SCRATCH_ENV = "KITGEN_SCRATCH_DIR"
_MIN_SCRATCH_FREE = 2 * 1024**3


def scratch_dir() -> Path:
    """Where workers render: ``$KITGEN_SCRATCH_DIR``, else memory (``/dev/shm``) when it has
    room, else the system's temporary directory.

    A Copier update writes the template out three times and the service once, in
    temporary git repositories: on a disk-backed ``/tmp`` that file-system work is about
    half of its time, in memory it is almost free.
    """
    explicit = os.environ.get(SCRATCH_ENV, "").strip()
    if explicit:
        return Path(explicit)
    shm = Path("/dev/shm")
    try:
        usage = shutil.disk_usage(shm)
        if os.access(shm, os.W_OK) and usage.free >= _MIN_SCRATCH_FREE:
            return shm
    except OSError:
        pass
    return Path(tempfile.gettempdir())


_critical = False
_terminate_requested = False


def _worker_init(env: dict[str, str]) -> None:
    os.environ.update(env)
    scratch = scratch_dir()
    os.environ["TMPDIR"] = str(scratch)
    tempfile.tempdir = str(scratch)
    # Ctrl-C is the parent's to handle: it stops the run and terminates the workers.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _on_terminate)


def _on_terminate(signum: int, frame: FrameType | None) -> None:
    global _terminate_requested  # noqa: PLW0603 - a signal handler's only channel
    if _critical:
        _terminate_requested = True
        return
    raise SystemExit(128 + signum)


@contextmanager
def _uninterruptible() -> Iterator[None]:
    """Defer a terminate request until the block (a ref update, a push) has finished."""
    global _critical  # noqa: PLW0603
    _critical = True
    try:
        yield
    finally:
        _critical = False
        if _terminate_requested:
            raise SystemExit(128 + signal.SIGTERM)


# -- one service -------------------------------------------------------------------------


def _update_service(task: _Task) -> ServiceReport:
    """Update one service (in a worker process); every failure becomes a report."""
    checkout = task.checkout
    entry = checkout.entry
    report = ServiceReport(entry.name, entry.location, Outcome.FAILED, dry_run=task.options.dry_run)
    stage = "inspect"
    try:
        _update(task, report)
    except UserError as exc:
        report.outcome, report.stage, report.reason = (
            Outcome.FAILED,
            report.stage or stage,
            str(exc),
        )
    except Exception as exc:  # one service's bug must not stop the fleet
        report.outcome = Outcome.FAILED
        report.stage = report.stage or stage
        report.reason = f"internal error: {type(exc).__name__}: {' '.join(str(exc).split())}"
    return report


def _update(task: _Task, report: ServiceReport) -> None:
    checkout, options, target = task.checkout, task.options, task.target
    history = TemplateHistory(task.template_source, task.template_dir)
    answers = checkout.answers()
    current = str(answers.get("_commit") or "")
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
            f"committed with conflict markers on {branch}: resolve them there, then merge"
        )
    _publish(task, report, branch)


def _create_branch(checkout: Checkout, tree: Path, branch: str) -> None:
    """The one write to the service's repository: a new ref, fetched from the private clone."""
    with _uninterruptible():
        git(
            checkout.repo,
            "fetch",
            "-q",
            "--no-tags",
            "--",
            str(tree),
            f"refs/heads/{branch}:refs/heads/{branch}",
            detach=True,
        )


def _resume(task: _Task, report: ServiceReport, branch: str, tip: str, target: Release) -> None:
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
    report.notes.append(f"branch {branch} already holds the update")
    if report.conflicts:
        report.notes.append(f"conflict markers remain on {branch}: resolve them there")
    if task.options.dry_run:
        return
    if task.options.verify:
        with _private_clone(checkout, tip) as tree:
            _verify(task, report, tree)
    _publish(task, report, branch)


def _publish(task: _Task, report: ServiceReport, branch: str) -> None:
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
    with _uninterruptible():
        # Never forced, never the default branch: only refs/heads/kitgen/update-<version>.
        git(
            checkout.repo,
            "push",
            "-q",
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

    from kitgen.scaffold import rerender

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rerender(tree, data={}, vcs_ref=tag, failure="copier update failed: ")


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


def _verify(task: _Task, report: ServiceReport, tree: Path) -> None:
    command = task.options.verify
    if not command or report.outcome is not Outcome.UPDATED:
        return
    report.stage = "verify"
    env = {key: value for key, value in os.environ.items() if not key.startswith("GIT_CONFIG")}
    try:
        result = subprocess.run(
            ["bash", "-c", command],
            cwd=tree,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            check=False,
            timeout=3600,
        )
        output, code = result.stdout, result.returncode
    except subprocess.TimeoutExpired as exc:
        output, code = str(exc.output or ""), 124
    tail = "\n".join(output.rstrip().splitlines()[-_VERIFY_TAIL_LINES:])
    report.verify = VerifyResult(command, code == 0, code, tail)
    report.stage = ""
    if code != 0:
        _finish(report, Outcome.FAILED, "verify", f"`{command}` exited {code}")


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
