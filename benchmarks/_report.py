"""Shared timing and table printing for the benchmark scripts."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field


def median_seconds(run: Callable[[], object], *, repeat: int = 5, warmup: int = 1) -> float:
    """Median wall time of ``run()`` over ``repeat`` calls, after ``warmup`` calls."""
    for _ in range(warmup):
        run()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def interleaved(
    ours: Callable[[], float], baseline: Callable[[], float], *, rounds: int = 7
) -> tuple[float, float]:
    """Median seconds of ``ours`` and ``baseline``, run in alternating rounds.

    Each callable times its own measured section and returns it. Alternating keeps a
    busy neighbour (this is a shared 2-core machine) from penalising only one side.
    """
    ours(), baseline()  # warm-up: statement caches, connections, imports
    ours_times, base_times = [], []
    for _ in range(rounds):
        ours_times.append(ours())
        base_times.append(baseline())
    return statistics.median(ours_times), statistics.median(base_times)


@dataclass
class Report:
    """Rows of ours-vs-baseline comparisons, printed as one table."""

    title: str
    rows: list[tuple[str, str, str, str, str]] = field(default_factory=list)

    def ratio(
        self,
        name: str,
        ours: float,
        baseline: float,
        target: float,
        unit: str,
        *,
        spread: tuple[float, float] | None = None,
    ) -> None:
        """Record a lower-is-better comparison: ``ours / baseline`` must be <= target.

        ``spread`` is the lowest and highest ratio of single rounds, shown beside it.
        """
        value = ours / baseline
        verdict = "PASS" if value <= target else "MISS"
        shown = f"{value:.2f}x"
        if spread is not None:
            shown += f" ({spread[0]:.2f}-{spread[1]:.2f})"
        self.rows.append(
            (
                name,
                f"{ours:.2f} {unit}",
                f"{baseline:.2f} {unit}",
                f"{shown} <= {target:.2f}x",
                verdict,
            )
        )

    def absolute(self, name: str, value: float, target: float, unit: str) -> None:
        """Record a measurement with an absolute ceiling."""
        verdict = "PASS" if value <= target else "MISS"
        self.rows.append((name, f"{value:.1f} {unit}", "-", f"<= {target:g} {unit}", verdict))

    def print(self) -> None:
        header = ("measurement", "ours", "baseline", "ratio / target", "")
        widths = [max(len(row[i]) for row in [header, *self.rows]) for i in range(5)]
        print(f"\n{self.title}")
        for row in [header, *self.rows]:
            print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
