"""One writing kitgen at a time per service (a lock in ``.git/kitgen.lock``).

A second command waits a few seconds for the first, then exits 2 naming the holder's pid;
nothing it would have written is written. Two ``kitgen add`` started together: exactly
one succeeds, and the tree it leaves is consistent and can be committed.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.hostile._harness import (
    assert_refused,
    assert_unchanged,
    finished,
    git,
    kitgen,
    start_kitgen,
    tree_state,
)

ADD_PRODUCT = ("add", "repository", "Product", "--field", "name:str")
ADD_INVOICE = ("add", "repository", "Invoice", "--field", "number:str")


@contextmanager
def held_lock(service: Path) -> Iterator[None]:
    """Hold the service's lock as a running kitgen would (pid written in the file)."""
    with (service / ".git" / "kitgen.lock").open("a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        handle.truncate(0)
        handle.write(str(os.getpid()))
        handle.flush()
        yield


@dataclass(frozen=True)
class Case:
    id: str
    args: tuple[str, ...]


LOCKED = [
    Case("add", ADD_PRODUCT),
    Case("add-dry-run", (*ADD_PRODUCT, "--dry-run")),
    Case("sync", ("sync",)),
    Case("add-field", ("add", "field", "Product", "stock:int")),
    Case("update", ("update",)),
]


@pytest.mark.parametrize("case", LOCKED, ids=[case.id for case in LOCKED])
def test_a_second_kitgen_waits_then_names_the_first(case: Case, service: Path) -> None:
    before = tree_state(service)
    with held_lock(service):
        started = time.monotonic()
        result = kitgen(service, *case.args)
        waited = time.monotonic() - started
    assert_refused(result, says=f"another kitgen is running in {service} (pid {os.getpid()})")
    assert waited >= 4, f"gave up after {waited:.1f} s instead of waiting a few seconds"
    assert_unchanged(before, service)


def test_a_second_kitgen_proceeds_when_the_first_finishes_in_time(service: Path) -> None:
    release = threading.Event()

    def hold_briefly() -> None:
        with held_lock(service):
            release.set()
            time.sleep(1.5)

    holder = threading.Thread(target=hold_briefly)
    holder.start()
    release.wait()
    result = kitgen(service, *ADD_PRODUCT)
    holder.join()
    assert result.returncode == 0, result.stdout + result.stderr
    assert (service / "shop" / "models" / "product.py").is_file()


@pytest.mark.parametrize("attempt", range(3), ids=lambda n: f"attempt-{n + 1}")
def test_two_adds_started_together_leave_one_consistent_change(attempt: int, service: Path) -> None:
    first = start_kitgen(service, *ADD_PRODUCT)
    second = start_kitgen(service, *ADD_INVOICE)
    results = {"Product": finished(first), "Invoice": finished(second)}
    winners = [name for name, result in results.items() if result.returncode == 0]
    assert len(winners) == 1, {name: r.stdout + r.stderr for name, r in results.items()}
    (winner,) = winners
    (loser,) = set(results) - {winner}
    message = assert_refused(results[loser])
    assert "another kitgen is running" in message or "uncommitted changes" in message, message
    manifest = (service / "service.yaml").read_text()
    assert f"name: {winner}" in manifest and f"name: {loser}" not in manifest
    assert (service / "shop" / "models" / f"{winner.lower()}.py").is_file()
    assert not (service / "shop" / "models" / f"{loser.lower()}.py").exists()
    check = kitgen(service, "check")
    assert check.returncode == 0, check.stdout + check.stderr
    git(service, "add", "-A")
    git(service, "-c", "user.name=t", "-c", "user.email=t@x", "commit", "-qm", f"add {winner}")
    assert git(service, "status", "--porcelain") == ""


@pytest.mark.parametrize("existing", [False, True], ids=["new-directory", "empty-directory"])
def test_two_new_services_into_one_place_never_mix(
    hostile_template: Path, tmp_path: Path, existing: bool
) -> None:
    """Both render at once into their own staging; exactly one lands, whole."""
    if existing:
        (tmp_path / "shop").mkdir()
    runs = [
        start_kitgen(
            tmp_path,
            *("new", "shop", "--defaults", "--template", str(hostile_template)),
            *("--vcs-ref", "1.0.0", "--data", f"service_name={name}"),
        )
        for name in ("alpha", "beta")
    ]
    results = [finished(run) for run in runs]
    codes = sorted(result.returncode for result in results)
    assert codes == [0, 2], [result.stderr for result in results]
    loser = next(result for result in results if result.returncode == 2)
    assert "already exists and is not empty" in " ".join(loser.stderr.split())
    winner = "alpha" if results[0].returncode == 0 else "beta"
    packages = {entry.name for entry in (tmp_path / "shop").iterdir()} & {"alpha", "beta"}
    assert packages == {winner}
    assert git(tmp_path / "shop", "status", "--porcelain") == ""
    assert sorted(entry.name for entry in tmp_path.iterdir()) == ["shop"]
