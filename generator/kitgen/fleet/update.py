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

import re
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from kitgen._locks import exclusive
from kitgen.errors import UserError
from kitgen.fleet._checkout import ANSWERS, NotAService, locate, prepare_workdir
from kitgen.fleet._service_update import ServiceTask, update_service
from kitgen.fleet._templates import Templates
from kitgen.fleet._workers import insteadof_env, run_workers
from kitgen.fleet.inventory import ServiceEntry
from kitgen.fleet.model import FleetUpdate, Outcome, ServiceReport, UpdateOptions
from kitgen.template import TemplateHistory, checked_ref, is_relative_path

__all__ = ["update_fleet"]

_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._+-]{0,99}")


def update_fleet(
    entries: Sequence[ServiceEntry],
    options: UpdateOptions,
    *,
    on_report: Callable[[ServiceReport], None] | None = None,
) -> FleetUpdate:
    """Update ``entries`` to ``options.to`` in parallel processes (see the module docstring)."""
    if options.to != "latest" and (not _TAG.fullmatch(options.to) or ".." in options.to):
        raise UserError(f"--to {options.to!r}: expected a template tag such as 1.2.0, or latest")
    prepare_workdir(options.workdir)
    run = FleetUpdate(target=options.to, dry_run=options.dry_run)
    with _exclusive(options.workdir):
        templates = Templates(options.workdir)
        with ThreadPoolExecutor(max_workers=max(1, options.jobs)) as pool:
            planned = list(pool.map(lambda entry: _plan(entry, templates, options), entries))
        tasks = [task for task in planned if isinstance(task, ServiceTask)]
        _require_known_target(tasks, options.to)
        for report in planned:
            if isinstance(report, ServiceReport):
                run.services.append(report)
                if on_report is not None:
                    on_report(report)
        run_workers(
            update_service,
            tasks,
            [task.checkout.entry.name for task in tasks],
            jobs=options.jobs,
            env=insteadof_env(templates.mirrors()),
            run=run,
            on_report=on_report,
        )
    order = {entry.name: index for index, entry in enumerate(entries)}
    run.services.sort(key=lambda report: order[report.name])
    return run


def _plan(
    entry: ServiceEntry, templates: Templates, options: UpdateOptions
) -> ServiceTask | ServiceReport:
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
    if is_relative_path(source):
        # Copier would resolve it from the private clone, somewhere else entirely.
        return decided(
            Outcome.FAILED,
            "template",
            f"the answers record a relative template path ({source}); make _src_path "
            "absolute or a git URL, commit, and run again",
        )
    commit = str(answers.get("_commit") or "")
    try:
        if commit:
            checked_ref(commit, what=f"{ANSWERS}: _commit")
        history = templates.history(source, base=checkout.repo)
        target = history.latest() if options.to == "latest" else history.release(options.to)
    except UserError as exc:
        return decided(Outcome.FAILED, "template", str(exc))
    return ServiceTask(checkout, source, history.git_dir, target, options, commit)


def _require_known_target(tasks: list[ServiceTask], to: str) -> None:
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
    with exclusive(
        workdir / "fleet-update.lock",
        wait=0,
        busy=lambda holder: (
            f"another `kitgen fleet update` ({holder}) is running with the work directory {workdir}"
        ),
    ):
        yield


# -- the worker pool ---------------------------------------------------------------------
