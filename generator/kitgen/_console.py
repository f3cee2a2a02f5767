"""Text that reaches the terminal: user-supplied strings are shown, never interpreted.

Rich reads ``[...]`` as markup and terminals read control characters (ESC, C1 codes)
as commands, so every string that may carry user text (names, paths, YAML keys, git's
and a verify command's output) goes through :func:`printable` and, for Rich,
:func:`safe`. The CLI writes only through :func:`say` and :func:`tell`, which do that
for every caller.
"""

from __future__ import annotations

import re

import typer
from rich.console import Console
from rich.markup import escape

# C0 controls but tab and newline, DEL, and the C1 range (0x80-0x9f: CSI, OSC, ...).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")

_stderr = Console(stderr=True, highlight=False, soft_wrap=True)


def printable(text: object, *, one_line: bool = False) -> str:
    """``text`` with control characters replaced by ``?`` (newlines too, if ``one_line``)."""
    shown = _CONTROL.sub("?", str(text))
    return " ".join(shown.split()) if one_line else shown


def safe(text: object, *, one_line: bool = False) -> str:
    """:func:`printable`, then escaped for Rich markup."""
    return escape(printable(text, one_line=one_line))


def say(text: object) -> None:
    """Output on stdout, shown as it is (no markup), without control characters."""
    typer.echo(printable(text))


def tell(label: str, text: object = "", *, style: str = "bold red", one_line: bool = True) -> None:
    """A message on stderr: ``label`` in ``style`` (kitgen's own words), then ``text``,
    which may hold user data and is escaped."""
    shown = safe(text, one_line=one_line)
    _stderr.print(f"[{style}]{label}[/]" + (f" {shown}" if shown else ""))
