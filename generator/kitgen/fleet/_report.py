"""Reports of fleet commands as a Rich table, JSON or Markdown; user text always escaped."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from rich.table import Table

from kitgen._console import printable, safe
from kitgen.fleet.model import FleetUpdate, Outcome, ServiceReport
from kitgen.fleet.status import ServiceStatus

_STATE_STYLE = {
    "current": "green",
    "behind": "yellow",
    "drifted": "yellow",
    "dirty": "yellow",
    "error": "red",
}
_OUTCOME_STYLE = {
    Outcome.UP_TO_DATE: "green",
    Outcome.UPDATED: "green",
    Outcome.CONFLICTS: "yellow",
    Outcome.SKIPPED: "yellow",
    Outcome.FAILED: "red",
}


def clean(text: object) -> str:
    """Text for the terminal: control characters replaced, Rich markup escaped."""
    return safe(text)


# -- status ------------------------------------------------------------------------------


def _status_cells(status: ServiceStatus) -> list[str]:
    notes: list[str] = []
    if status.error:
        notes.append(status.error)
    notes.extend(status.drift)
    if status.edited_runtime:
        notes.append("runtime edited: " + ", ".join(status.edited_runtime))
    if status.dirty:
        notes.append("uncommitted: " + ", ".join(status.dirty[:3]))
    return [
        status.name,
        status.version or "-",
        status.latest or "-",
        "-" if status.behind is None else str(status.behind),
        status.runtime or "-",
        ", ".join(status.update_branches) or "-",
        status.state,
        "; ".join(notes),
    ]


_STATUS_HEADERS = [
    "service",
    "on",
    "latest",
    "behind",
    "runtime",
    "update branch",
    "state",
    "notes",
]


def status_table(statuses: Sequence[ServiceStatus]) -> Table:
    table = Table(title="kitgen fleet status", title_justify="left")
    for header in _STATUS_HEADERS:
        table.add_column(header, overflow="fold")
    for status in statuses:
        cells = [clean(cell) for cell in _status_cells(status)]
        style = _STATE_STYLE[status.state]
        cells[6] = f"[{style}]{cells[6]}[/]"
        table.add_row(*cells)
    return table


def status_markdown(statuses: Sequence[ServiceStatus]) -> str:
    rows = [_status_cells(status) for status in statuses]
    return _markdown_table(_STATUS_HEADERS, rows) + "\n" + _status_summary(statuses) + "\n"


def status_json(statuses: Sequence[ServiceStatus]) -> str:
    services = [{**asdict(status), "state": status.state} for status in statuses]
    summary = {state: 0 for state in _STATE_STYLE}
    for status in statuses:
        summary[status.state] += 1
    return json.dumps({"services": services, "summary": summary}, indent=2)


def _status_summary(statuses: Sequence[ServiceStatus]) -> str:
    counts: dict[str, int] = {}
    for status in statuses:
        counts[status.state] = counts.get(status.state, 0) + 1
    return ", ".join(f"{count} {state}" for state, count in sorted(counts.items()))


def status_summary(statuses: Sequence[ServiceStatus]) -> str:
    return f"{len(statuses)} services: {_status_summary(statuses)}"


# -- update ------------------------------------------------------------------------------


def report_line(report: ServiceReport) -> str:
    """One line (Rich markup) for a service as it finishes."""
    style = _OUTCOME_STYLE[report.outcome]
    detail = _detail(report)
    return f"[{style}]{report.outcome:>10}[/] {clean(report.name)}" + (
        f"  {clean(detail)}" if detail else ""
    )


def _detail(report: ServiceReport) -> str:
    parts: list[str] = []
    if report.from_version and report.to_version and report.outcome is not Outcome.UP_TO_DATE:
        parts.append(f"{report.from_version} -> {report.to_version}")
    if report.reason:
        parts.append(f"{report.stage}: {report.reason}" if report.stage else report.reason)
    if report.conflicts:
        parts.append("conflicts in " + ", ".join(report.conflicts))
    if report.branch and report.outcome in (Outcome.UPDATED, Outcome.CONFLICTS):
        parts.append(f"branch {report.branch}" + (" (pushed)" if report.pushed else ""))
    if report.verify is not None:
        parts.append("verify " + ("passed" if report.verify.passed else "failed"))
    if report.pull_request:
        parts.append(report.pull_request)
    parts.extend(report.notes)
    return "; ".join(parts)


def update_table(run: FleetUpdate) -> Table:
    title = f"kitgen fleet update --to {run.target}" + (" (dry run)" if run.dry_run else "")
    table = Table(title=title, title_justify="left")
    for header in ("service", "outcome", "from", "to", "details"):
        table.add_column(header, overflow="fold")
    for report in run.services:
        style = _OUTCOME_STYLE[report.outcome]
        table.add_row(
            clean(report.name),
            f"[{style}]{report.outcome}[/]",
            clean(report.from_version or "-"),
            clean(report.to_version or "-"),
            clean(_detail(report)),
        )
    for name in run.unfinished:
        table.add_row(clean(name), "[red]interrupted[/]", "-", "-", "not finished")
    return table


def update_summary(run: FleetUpdate) -> str:
    counts: dict[str, int] = {}
    for report in run.services:
        counts[str(report.outcome)] = counts.get(str(report.outcome), 0) + 1
    text = ", ".join(f"{count} {outcome}" for outcome, count in sorted(counts.items()))
    if run.interrupted:
        text += f"; interrupted: {len(run.unfinished)} not finished"
    if run.dry_run:
        text += "; dry run: nothing was written"
    return text


def update_json(run: FleetUpdate) -> str:
    data: dict[str, Any] = {
        "target": run.target,
        "dry_run": run.dry_run,
        "interrupted": run.interrupted,
        "unfinished": run.unfinished,
        "exit_code": run.exit_code,
        "services": [_report_dict(report) for report in run.services],
    }
    return json.dumps(data, indent=2)


def _report_dict(report: ServiceReport) -> dict[str, Any]:
    data = asdict(report)
    data["outcome"] = str(report.outcome)
    return data


def update_markdown(run: FleetUpdate) -> str:
    title = f"# kitgen fleet update --to {run.target}" + (" (dry run)" if run.dry_run else "")
    rows = [
        [r.name, str(r.outcome), r.from_version or "-", r.to_version or "-", _detail(r)]
        for r in run.services
    ]
    rows += [[name, "interrupted", "-", "-", "not finished"] for name in run.unfinished]
    parts = [
        title,
        "",
        update_summary(run),
        "",
        _markdown_table(["service", "outcome", "from", "to", "details"], rows),
    ]
    for report in run.services:
        if report.diffstat or report.verify or report.notes:
            parts += ["", service_markdown(report, level=2)]
    return "\n".join(parts) + "\n"


def service_markdown(report: ServiceReport, *, level: int = 1) -> str:
    """One service's report: the pull request body, and a section of ``--report``."""
    lines = [f"{'#' * level} {report.name}: {report.outcome}", ""]
    if report.from_version or report.to_version:
        lines.append(f"Template {report.from_version or '?'} -> {report.to_version or '?'}.")
    if report.reason:
        lines.append(f"{report.stage + ': ' if report.stage else ''}{report.reason}")
    if report.conflicts:
        lines += ["", "Conflicts to resolve (inline markers):", ""]
        lines += [f"- `{name}`" for name in report.conflicts]
    lines += [f"- {note}" for note in report.notes]
    if report.diffstat:
        lines += ["", *_fenced(report.diffstat)]
    if report.verify is not None:
        verdict = "passed" if report.verify.passed else f"failed (exit {report.verify.exit_code})"
        lines += [
            "",
            f"Verify `{report.verify.command}`: {verdict}",
            "",
            *_fenced(report.verify.tail),
        ]
    return printable("\n".join(lines))


def _fenced(text: str) -> list[str]:
    """A code block whose fence no line of ``text`` can close."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return [fence, text, fence]


def _markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    def cell(text: str) -> str:
        return printable(text, one_line=True).replace("|", "\\|") or " "

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(value) for value in row) + " |" for row in rows]
    return "\n".join(lines)
