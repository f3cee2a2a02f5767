"""Errors raised by ``servicekit.testgres``."""

from __future__ import annotations

from servicekit.errors import ServiceKitError


class TestgresError(ServiceKitError):
    """No usable server could be found or started; the message lists what was tried."""

    __test__ = False  # not a test class, whatever pytest's name heuristics say

    def __init__(self, what: str, attempts: list[str]) -> None:
        self.attempts = attempts
        tried = "\n".join(f"  - {attempt}" for attempt in attempts)
        super().__init__(f"testgres could not provide {what}. Tried:\n{tried}")
