"""The ``kitgen`` command line: argument parsing and messages, nothing more."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.console import Console

from kitgen import __version__
from kitgen.errors import UserError

app = typer.Typer(
    name="kitgen",
    help="Scaffold platform services from the kitgen template and keep them up to date.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
_stderr = Console(stderr=True, highlight=False)


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"kitgen {__version__}")
        raise typer.Exit


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_show_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """Scaffold platform services from the kitgen template and keep them up to date."""


def main() -> None:
    """Console-script entry point: user errors become one message and exit code 2."""
    try:
        # Standalone mode: Click reports usage errors itself (exit code 2).
        app(prog_name="kitgen")
    except UserError as exc:
        _stderr.print(f"[bold red]error:[/] {exc}")
        sys.exit(exc.exit_code)
