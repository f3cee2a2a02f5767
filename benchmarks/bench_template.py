"""`copier copy` of the full template vs a trivial one, and the generated suite's time.

Run: .venv/bin/python benchmarks/bench_template.py
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import copier

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _template_copy import commit_all, git, template_copy

ROUNDS = 5


def trivial_template(root: Path) -> Path:
    root.mkdir(parents=True)
    (root / "copier.yml").write_text("name:\n  type: str\n  default: demo\n")
    (root / "README.md.jinja").write_text("# {{ name }}\n")
    git(root, "init", "-q", "-b", "main")
    commit_all(root, "trivial")
    git(root, "tag", "1.0.0")
    return root


def copy_seconds(template: Path, scratch: Path, data: dict[str, str]) -> float:
    times = []
    for n in range(ROUNDS + 1):
        destination = scratch / f"{template.name}-{n}"
        start = time.perf_counter()
        copier.run_copy(
            str(template), destination, data=data, defaults=True, quiet=True, vcs_ref="1.0.0"
        )
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:])


def main() -> None:
    warnings.simplefilter("ignore")
    with tempfile.TemporaryDirectory(prefix="kitgen-bench-") as tmp:
        scratch = Path(tmp)
        full = template_copy(scratch / "kitgen")
        trivial = trivial_template(scratch / "trivial")
        answers = {"service_name": "bench", "with_cache": "true", "with_streams": "true"}
        full_s = copy_seconds(full, scratch, answers)
        trivial_s = copy_seconds(trivial, scratch, {})
        service = scratch / "kitgen-1"
        env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
        env["PYTHONPATH"] = str(service)
        suite = []
        for _ in range(3):
            start = time.perf_counter()
            result = subprocess.run(
                [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                cwd=service,
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            suite.append(time.perf_counter() - start)
            if result.returncode != 0:
                raise SystemExit(f"the generated suite failed:\n{result.stdout}")
        passed = result.stdout.strip().splitlines()[-1]
    print(f"\ncopier copy, median of {ROUNDS} (template at a git tag, cache + streams answers)")
    print(f"  full kitgen template   {full_s * 1e3:8.0f} ms")
    print(f"  trivial template       {trivial_s * 1e3:8.0f} ms")
    print(f"  ratio                  {full_s / trivial_s:8.2f}x")
    print(
        f"generated service's own test suite (wall, median of 3): {statistics.median(suite):.1f} s"
    )
    print(f"  {passed}")


if __name__ == "__main__":
    main()
