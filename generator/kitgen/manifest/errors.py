"""The errors the manifest layer raises: all are :class:`kitgen.errors.UserError` (exit 2)."""

from __future__ import annotations

from kitgen.errors import UserError

__all__ = ["ManifestError", "SpecError"]


class ManifestError(UserError):
    """``service.yaml`` cannot be read, is invalid, or an edit would make it invalid.

    The message is one line: ``<file>:<line>:<column>: <where>: <what is wrong>``, with a
    1-based line and column, when the problem has a place in the file; ``<file>: ...``
    when it has none (an item that an edit was about to add).
    """

    def __init__(
        self,
        message: str,
        *,
        file: str = "service.yaml",
        line: int | None = None,
        column: int | None = None,
        path: str = "",
    ) -> None:
        self.file = file
        self.line = line
        self.column = column
        self.path = path
        self.problem = message
        where = file if line is None else f"{file}:{line}:{column or 1}"
        text = f"{path}: {message}" if path else message
        super().__init__(f"{where}: {text}")


class SpecError(UserError):
    """A ``--field``/``--event-field`` value on the command line is malformed or invalid.

    The message names the flag and its value: ``--field 'price:decimall': unknown type ...``.
    """
