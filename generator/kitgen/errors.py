"""kitgen's exception hierarchy.

:class:`UserError` is the "tell the user and exit" branch: the CLI prints its message
(no traceback) and exits with code 2. Anything else that escapes is a bug and is left
to surface as one.
"""

from __future__ import annotations


class KitgenError(Exception):
    """Base class of every error kitgen raises deliberately."""


class UserError(KitgenError):
    """A mistake the user can fix: bad input, a bad manifest, a dirty work tree."""

    exit_code = 2
