"""`kitgen add repository` on a service with 10 entities, step by step, against the bare
`copier update --vcs-ref :current:` render it performs.

Run: .venv/bin/python benchmarks/bench_kitgen.py
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import copier

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _template_copy import commit_all, git, template_copy

from kitgen import new_service
from kitgen.migrations import write_revision
from kitgen.scaffold import rerender
from kitgen.service import MANIFEST, ServiceProject

ROUNDS = 5
FIELDS = [
    {"name": "code", "type": "str", "unique": True},
    {"name": "title", "type": "text"},
    {"name": "amount", "type": "decimal"},
    {"name": "active", "type": "bool", "default": True},
]


def entity(name: str) -> dict[str, Any]:
    return {"name": name, "fields": FIELDS}


def reset(root: Path) -> None:
    git(root, "checkout", "-q", "--", ".")
    git(root, "clean", "-fdq", "--", ".")


def render(root: Path, answers: dict[str, Any] | None = None) -> None:
    rerender(root, data=answers or {}, vcs_ref=copier.VcsRef.CURRENT)


def add_once(root: Path, name: str) -> dict[str, float]:
    start = time.perf_counter()
    document = ServiceProject(root).document()
    document.add_entity(entity(name))
    answers = document.validate().to_answers()
    edited = time.perf_counter()
    render(root, answers)
    (root / MANIFEST).write_text(document.text(), encoding="utf-8")
    rendered = time.perf_counter()
    revision = write_revision(root, f"add {name}")
    migrated = time.perf_counter()
    assert revision is not None
    reset(root)
    return {"edit": edited - start, "render": rendered - edited, "migration": migrated - rendered}


def bare_render(root: Path) -> float:
    start = time.perf_counter()
    render(root)
    elapsed = time.perf_counter() - start
    reset(root)
    return elapsed


def main() -> None:
    warnings.simplefilter("ignore")
    with tempfile.TemporaryDirectory(prefix="kitgen-bench-") as tmp:
        template = template_copy(Path(tmp) / "kitgen")
        root = new_service(
            Path(tmp) / "shop",
            data={"service_name": "shop"},
            defaults=True,
            template=str(template),
            vcs_ref="1.0.0",
        )
        git(root, "init", "-q", "-b", "main")
        commit_all(root, "generated")
        project = ServiceProject(root)
        document = project.document()
        for n in range(10):
            document.add_entity(entity(f"Thing{n}"))
        project.apply(document, change="ten entities")
        commit_all(root, "ten entities")

        bare_render(root)  # warm-up
        steps: list[dict[str, float]] = []
        bare: list[float] = []
        for n in range(ROUNDS):
            bare.append(bare_render(root))
            steps.append(add_once(root, f"Extra{n}"))
    median = {key: statistics.median(s[key] for s in steps) for key in steps[0]}
    bare_s = statistics.median(bare)
    without_migration = median["edit"] + median["render"]
    print(f"\nkitgen add repository on a service with 10 entities (median of {ROUNDS})")
    print(f"  manifest edit + validate   {median['edit'] * 1e3:8.0f} ms")
    print(f"  copier render              {median['render'] * 1e3:8.0f} ms")
    print(f"  migration (autogenerate)   {median['migration'] * 1e3:8.0f} ms")
    print(f"  bare copier update render  {bare_s * 1e3:8.0f} ms")
    ratio = without_migration / bare_s
    verdict = "PASS" if ratio <= 1.25 else "MISS"
    print(f"  add without migration / bare render: {ratio:.2f}x (target <= 1.25x) {verdict}")


if __name__ == "__main__":
    main()
