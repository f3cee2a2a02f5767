"""The errors the manifest layer raises: all are :class:`kitgen.errors.UserError` (exit 2)."""

from __future__ import annotations

from kitgen.errors import FileError, UserError

__all__ = ["ManifestError", "SpecError"]


class ManifestError(FileError):
    """``service.yaml`` cannot be read, is invalid, or an edit would make it invalid.

    One line naming the place: ``service.yaml:<line>:<column>: <where>: <what is wrong>``
    (see :class:`~kitgen.errors.FileError`).
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
        super().__init__(message, file=file, line=line, column=column, path=path)


class SpecError(UserError):
    """A ``--field``/``--event-field`` value on the command line is malformed or invalid.

    The message names the flag and its value: ``--field 'price:decimall': unknown type ...``.
    """
