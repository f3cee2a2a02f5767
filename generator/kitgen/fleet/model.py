"""What a fleet update is asked to do and what it reports, service by service."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

__all__ = ["FleetUpdate", "Outcome", "ServiceReport", "UpdateOptions", "VerifyResult"]


class Outcome(StrEnum):
    """How one service ended."""

    UP_TO_DATE = "up-to-date"
    UPDATED = "updated"
    CONFLICTS = "conflicts"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class UpdateOptions:
    """What ``kitgen fleet update`` was asked to do."""

    to: str = "latest"
    workdir: Path = Path(".")
    jobs: int = 1
    dry_run: bool = False
    push: bool = False
    verify: str | None = None
    open_pr: bool = False


@dataclass
class VerifyResult:
    """The ``--verify`` command's result in one updated service."""

    command: str
    passed: bool
    exit_code: int
    tail: str


@dataclass
class ServiceReport:
    """What happened to one service (or, in a dry run, would happen)."""

    name: str
    location: str
    outcome: Outcome
    reason: str = ""
    stage: str = ""
    from_version: str | None = None
    to_version: str | None = None
    branch: str | None = None
    conflicts: list[str] = field(default_factory=list)
    diffstat: str = ""
    pushed: bool = False
    verify: VerifyResult | None = None
    pull_request: str | None = None
    notes: list[str] = field(default_factory=list)
    dry_run: bool = False

    @property
    def ok(self) -> bool:
        return self.outcome in (Outcome.UPDATED, Outcome.UP_TO_DATE)


@dataclass
class FleetUpdate:
    """The whole run: one report per finished service, and what an interrupt cut short."""

    target: str
    dry_run: bool
    services: list[ServiceReport] = field(default_factory=list)
    unfinished: list[str] = field(default_factory=list)
    interrupted: bool = False

    @property
    def exit_code(self) -> int:
        if self.interrupted:
            return 130
        return 0 if all(report.ok for report in self.services) else 1
