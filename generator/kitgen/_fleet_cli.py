"""``kitgen fleet ...``: the command-line face of :mod:`kitgen.fleet`."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from kitgen.errors import UserError

if TYPE_CHECKING:
    from kitgen.fleet import Inventory, ServiceEntry

fleet_app = typer.Typer(
    help="See where every service stands and roll a template release into them.",
    no_args_is_help=True,
)
_stdout = Console(highlight=False, soft_wrap=False, width=None if sys.stdout.isatty() else 160)
_stderr = Console(stderr=True, highlight=False, soft_wrap=True)

InventoryOption = Annotated[
    Path, typer.Option("--inventory", "-i", help="The fleet inventory (default: ./fleet.yaml).")
]
SelectOption = Annotated[
    list[str] | None,
    typer.Option("--select", help="Only services with this label: label=NAME (repeatable)."),
]
OnlyOption = Annotated[
    list[str] | None, typer.Option("--only", help="Only this service (repeatable).")
]
WorkdirOption = Annotated[
    Path | None,
    typer.Option(help="Where url entries are cloned (default: the user cache directory)."),
]
JobsOption = Annotated[
    int | None, typer.Option("--jobs", "-j", min=1, max=64, help="Parallel jobs (default: CPUs).")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _selected(
    inventory: Path, select: list[str] | None, only: list[str] | None
) -> tuple[Inventory, list[ServiceEntry]]:
    from kitgen.fleet import load_inventory, parse_selectors

    loaded = load_inventory(inventory)
    labels = parse_selectors(select or [])
    return loaded, loaded.select(only=only or [], labels=labels)


def _workdir(workdir: Path | None) -> Path:
    from kitgen._paths import cache_dir

    return (workdir or cache_dir() / "fleet").resolve()


def _progress(what: str) -> Progress:
    return Progress(
        TextColumn(what),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=_stderr,
        transient=True,
        disable=not _stderr.is_terminal,
    )


def _check_writable(path: Path, flag: str) -> None:
    """Refuse a report path that cannot be written before any work is done."""
    if path.is_dir():
        raise UserError(f"{flag} {path}: is a directory; give a file name")
    if not path.parent.is_dir():
        raise UserError(f"{flag} {path}: the folder {path.parent} does not exist")
    if not os.access(path.parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise UserError(f"{flag} {path}: not writable")


@fleet_app.command("init")
def init(
    directories: Annotated[
        list[Path], typer.Argument(help="Directories to search for kitgen services.")
    ],
    inventory: InventoryOption = Path("fleet.yaml"),
) -> None:
    """Write (or extend) the inventory with every kitgen service found under DIRECTORIES."""
    from kitgen.fleet import discover_services, write_inventory
    from kitgen.fleet._report import clean

    found = discover_services(directories)
    if not found:
        raise UserError(
            "no kitgen service found under "
            + ", ".join(str(d) for d in directories)
            + " (a git repository with .copier-answers.yml and service.yaml)"
        )
    added = write_inventory(inventory, found)
    for name in added:
        _stdout.print(f"added {clean(name)}")
    _stdout.print(
        f"{clean(inventory)}: {len(added)} added, {len(found) - len(added)} already listed"
    )


@fleet_app.command("status")
def status(
    inventory: InventoryOption = Path("fleet.yaml"),
    select: SelectOption = None,
    only: OnlyOption = None,
    workdir: WorkdirOption = None,
    jobs: JobsOption = None,
    as_json: JsonOption = False,
    markdown: Annotated[bool, typer.Option("--markdown", help="Print a Markdown table.")] = False,
    migrations: Annotated[
        bool, typer.Option("--migrations", help="Also check models against migrations (slow).")
    ] = False,
) -> None:
    """One row per service: version, latest release, drift, edits, branches (exit 1 if any
    service is behind, drifted, dirty or unreadable)."""
    from kitgen.fleet import fleet_status
    from kitgen.fleet._report import status_json, status_markdown, status_summary, status_table

    if as_json and markdown:
        raise UserError("--json and --markdown exclude each other")
    _, entries = _selected(inventory, select, only)
    with _progress("reading") as progress:
        task = progress.add_task("status", total=len(entries))
        statuses = fleet_status(
            entries,
            workdir=_workdir(workdir),
            jobs=jobs or os.cpu_count() or 1,
            migrations=migrations,
            on_status=lambda _: progress.advance(task),
        )
    if as_json:
        typer.echo(status_json(statuses))
    elif markdown:
        typer.echo(status_markdown(statuses), nl=False)
    else:
        _stdout.print(status_table(statuses))
        _stdout.print(status_summary(statuses))
    if not all(item.current for item in statuses):
        raise typer.Exit(1)


@fleet_app.command("update")
def update(
    to: Annotated[str, typer.Option("--to", help="Template tag to update to, or latest.")],
    inventory: InventoryOption = Path("fleet.yaml"),
    select: SelectOption = None,
    only: OnlyOption = None,
    workdir: WorkdirOption = None,
    jobs: JobsOption = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would change; write nothing.")
    ] = False,
    push: Annotated[
        bool, typer.Option("--push", help="Push each update branch to its origin (never forced).")
    ] = False,
    verify: Annotated[
        str | None, typer.Option(help="A command to run in each updated service, e.g. 'pytest -x'.")
    ] = None,
    open_pr: Annotated[
        bool,
        typer.Option("--open-pr", help="Open a pull request with gh or glab (implies --push)."),
    ] = False,
    as_json: JsonOption = False,
    report: Annotated[
        Path | None, typer.Option(help="Also write the report as Markdown to this file.")
    ] = None,
) -> None:
    """Update every selected service to a template release, each on a branch
    kitgen/update-VERSION (exit 1 if any has conflicts, failed or was skipped)."""
    from kitgen.fleet import UpdateOptions, update_fleet
    from kitgen.fleet._report import (
        report_line,
        update_json,
        update_markdown,
        update_summary,
        update_table,
    )

    if verify is not None and not verify.strip():
        raise UserError("--verify needs a command")
    if report is not None:
        _check_writable(report, "--report")
    _, entries = _selected(inventory, select, only)
    options = UpdateOptions(
        to=to,
        workdir=_workdir(workdir),
        jobs=jobs or os.cpu_count() or 1,
        dry_run=dry_run,
        push=(push or open_pr) and not dry_run,
        verify=verify,
        open_pr=open_pr and not dry_run,
    )
    with _progress("updating") as progress:
        task = progress.add_task("update", total=len(entries))

        def finished(service_report: object) -> None:
            progress.console.print(report_line(service_report))  # type: ignore[arg-type]
            progress.advance(task)

        run = update_fleet(entries, options, on_report=finished)
    if as_json:
        typer.echo(update_json(run))
    else:
        _stdout.print(update_table(run))
        _stdout.print(update_summary(run))
    if report is not None:
        try:
            report.write_text(update_markdown(run), encoding="utf-8")
        except OSError as exc:
            raise UserError(f"--report {report}: cannot write it ({exc.strerror or exc})") from None
    if run.interrupted:
        _stderr.print(
            "[bold red]interrupted:[/] default branches are untouched; run again to finish"
        )
    raise typer.Exit(run.exit_code)
