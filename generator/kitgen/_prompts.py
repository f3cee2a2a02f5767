"""Questions kitgen asks at a terminal when a command is run without the flags it needs.

Only when both stdin and stdout are terminals: in a script or CI the command never
waits for input, it takes the documented non-interactive default instead.
"""

from __future__ import annotations

import sys
from typing import Any

import typer

from kitgen._console import say, tell
from kitgen.manifest import SpecError, parse_field_spec
from kitgen.manifest.schema import FIELD_TYPES

__all__ = ["ask_entity_fields", "interactive"]


def interactive() -> bool:
    """Whether a person can answer: stdin and stdout are both terminals."""
    return sys.stdin.isatty() and sys.stdout.isatty()


def ask_entity_fields(entity: str) -> list[dict[str, Any]]:
    """Ask for ``entity``'s fields one per line until an empty line; each is checked as
    it is typed (a bad one is explained and asked again). Ctrl-C or Ctrl-D aborts."""
    say(f"Fields of {entity}, one per line as name:type[:option...], e.g. price:decimal")
    say(f"types: {', '.join(FIELD_TYPES)}; an empty line ends the list")
    fields: list[dict[str, Any]] = []
    while True:
        try:
            answer = typer.prompt(f"field {len(fields) + 1}", default="", show_default=False)
        except typer.Abort:
            say("")  # end the prompt's line: "interrupted" starts a line of its own
            raise
        spec = answer.strip()
        if not spec:
            return fields
        try:
            field = parse_field_spec(spec, flag="field")
        except SpecError as exc:
            tell("error:", exc)
            continue
        if any(known["name"] == field["name"] for known in fields):
            tell("error:", f"{entity} already has a field {field['name']!r}: choose another name")
            continue
        fields.append(field)
