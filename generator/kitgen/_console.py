"""Text that reaches the terminal: user-supplied strings are shown, never interpreted.

Rich reads ``[...]`` as markup and terminals read control characters (ESC, C1 codes)
as commands, so every string that may carry user text (names, paths, YAML keys, git's
and a verify command's output) goes through :func:`printable` and, for Rich,
:func:`safe`.
"""

from __future__ import annotations

import re

from rich.markup import escape

# C0 controls but tab and newline, DEL, and the C1 range (0x80-0x9f: CSI, OSC, ...).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: object, *, one_line: bool = False) -> str:
    """``text`` with control characters replaced by ``?`` (newlines too, if ``one_line``)."""
    shown = _CONTROL.sub("?", str(text))
    return " ".join(shown.split()) if one_line else shown


def safe(text: object, *, one_line: bool = False) -> str:
    """:func:`printable`, then escaped for Rich markup."""
    return escape(printable(text, one_line=one_line))
