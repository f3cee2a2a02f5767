"""kitgen's exception hierarchy.

:class:`UserError` is the "tell the user and exit" branch: the CLI prints its message
(no traceback) and exits with code 2. :class:`FileError` is a user error placed in one of
the user's files (``service.yaml``, ``fleet.yaml``). Anything else that escapes is a bug:
the CLI reports it as an internal error and writes its traceback to a log file.
"""

from __future__ import annotations


class KitgenError(Exception):
    """Base class of every error kitgen raises deliberately."""


class UserError(KitgenError):
    """A mistake the user can fix: bad input, a bad manifest, a dirty work tree."""

    exit_code = 2


class FileError(UserError):
    """A problem at a place in one of the user's files.

    The message is one line: ``<file>:<line>:<column>: <where>: <what is wrong>``, with a
    1-based line and column, when the problem has a place in the file; ``<file>: ...``
    when it has none (an item that an edit was about to add).
    """

    def __init__(
        self,
        message: str,
        *,
        file: str,
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
