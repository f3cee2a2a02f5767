"""`kitgen fleet update` against a sequential `copier update` loop over the same services,
its cost per service at 24 and at 96 services, and the peak memory of its workers.

Every arm starts from its own fresh copy of a fleet built once (``tests/fleet/_build.py``:
real git repositories, local edits, four conflicting services, template released to 1.1.0),
so no arm sees another's work. The fleets live in the system's temporary directory, like
a developer's clones on disk; ``kitgen fleet update`` renders in ``/dev/shm`` when it can
(``scratch_dir()`` in ``kitgen.fleet._workers``), a plain ``copier update`` in ``$TMPDIR``.

Run from the repository root (``tests`` must be importable):

    .venv/bin/python benchmarks/bench_fleet.py            # 24 and 96 services, 2 rounds
    .venv/bin/python benchmarks/bench_fleet.py --quick    # smoke run: 24 services, 1 round
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.fleet

from _report import Report

from tests.fleet._build import Fleet, FleetService, build_fleet, copy_fleet

REPO = Path(__file__).resolve().parents[1]
VERSION = "1.1.0"
JOBS = 2
TARGET = 0.45  # fleet update / sequential copier loop, same services
FLAT = 1.25  # seconds per service at 96 / at 24
SHM = Path("/dev/shm")
# What copier itself cannot update: a dirty tree, no answers file, an unknown _commit.
NOT_UPDATABLE = ("dirty", "not-a-service", "unknown-commit")

# The baseline: what a developer would type, one repository after the other.
LOOP = """
copier=$1; version=$2; logs=$3; shift 3
for repo in "$@"; do
  (cd "$repo" && "$copier" update --defaults --vcs-ref "$version" --conflict inline) \\
    >"$logs/${repo##*/}.log" 2>&1 || echo "exit $? in $repo"
done
"""

_started = time.perf_counter()


def log(message: str) -> None:
    """Progress on stderr; the results go to stdout at the end."""
    print(f"[{time.perf_counter() - _started:6.0f}s] {message}", file=sys.stderr, flush=True)


@dataclass
class Arm:
    """One timed run of one arm on its own copy of the fleet."""

    seconds: float
    problems: list[str] = field(default_factory=list)


def updatable(fleet: Fleet) -> list[FleetService]:
    """The services both arms run on: every one that `copier update` can update."""
    return [service for service in fleet.services if service.kind not in NOT_UPDATABLE]


def fresh_copy(blueprint: Fleet, scratch: Path, label: str) -> Fleet:
    root = Path(tempfile.mkdtemp(prefix=f"{label}-", dir=scratch))
    copy = copy_fleet(blueprint, root)
    os.sync()  # the copy's writes must not be flushed during the timed section
    return copy


def discard(fleet: Fleet) -> None:
    shutil.rmtree(fleet.root, ignore_errors=True)
    os.sync()


def script(name: str) -> str:
    """A console script of the running virtual environment (next to its python)."""
    return str(Path(sys.executable).with_name(name))


def base_env() -> dict[str, str]:
    # Like the fleet tests: no VIRTUAL_ENV, and kitgen picks its own scratch location.
    drop = ("VIRTUAL_ENV", "KITGEN_SCRATCH_DIR")
    return {key: value for key, value in os.environ.items() if key not in drop}


def fleet_command(services: list[FleetService]) -> list[str]:
    only = [arg for service in services for arg in ("--only", service.name)]
    command = ["fleet", "update", "--to", VERSION, "--jobs", str(JOBS), "--json", *only]
    return [script("kitgen"), *command]


def run_fleet(blueprint: Fleet, scratch: Path, services: list[FleetService]) -> Arm:
    """`kitgen fleet update` (the console script) in the fleet's directory, fresh cache."""
    fleet = fresh_copy(blueprint, scratch, "fleet")
    env = base_env()
    env["KITGEN_CACHE_DIR"] = tempfile.mkdtemp(prefix="kitgen-cache-", dir=scratch)
    start = time.perf_counter()
    result = subprocess.run(
        fleet_command(services),
        cwd=fleet.root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=3600,
    )
    arm = Arm(time.perf_counter() - start)
    try:
        reports = {item["name"]: item for item in json.loads(result.stdout)["services"]}
    except (ValueError, KeyError, TypeError):
        tail = " | ".join(result.stderr.strip().splitlines()[-10:])
        arm.problems.append(f"fleet update exited {result.returncode}, no JSON report: {tail}")
        reports = {}
    for service in services if reports else []:
        report = reports.get(service.name)
        outcome = report["outcome"] if report else "(missing)"
        if outcome != service.expected:
            reason = f" ({report['stage']}: {report['reason']})" if report else ""
            arm.problems.append(
                f"fleet update: {service.name} ({service.kind}) {outcome}, "
                f"expected {service.expected}{reason}"
            )
    conflicts = any(service.expected == "conflicts" for service in services)
    if reports and result.returncode != (1 if conflicts else 0):
        arm.problems.append(f"fleet update exited {result.returncode}")
    shutil.rmtree(env["KITGEN_CACHE_DIR"], ignore_errors=True)
    discard(fleet)
    return arm


def run_loop(
    blueprint: Fleet, scratch: Path, services: list[FleetService], tmpdir: Path | None
) -> Arm:
    """The sequential shell loop of `copier update` (the .venv's script), one repo at a time."""
    fleet = fresh_copy(blueprint, scratch, "loop")
    logs = fleet.root / "copier-logs"
    logs.mkdir()
    env = base_env()
    if tmpdir is not None:
        env["TMPDIR"] = str(tmpdir)
    repos = [str(fleet.repo(service)) for service in services]
    start = time.perf_counter()
    result = subprocess.run(
        ["bash", "-c", LOOP, "loop", script("copier"), VERSION, str(logs), *repos],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=3600,
    )
    arm = Arm(time.perf_counter() - start)
    arm.problems += [f"copier update {line}" for line in result.stdout.splitlines()]
    for service in services:
        repo = fleet.repo(service)
        if f"_commit: {VERSION}" not in (repo / ".copier-answers.yml").read_text():
            arm.problems.append(f"copier loop: {service.name} is not on {VERSION}")
        marked = "<<<<<<<" in (repo / "README.md").read_text()
        if marked != (service.expected == "conflicts"):
            arm.problems.append(f"copier loop: {service.name} conflict markers: {marked}")
    discard(fleet)
    return arm


def warm_up(blueprint: Fleet, scratch: Path) -> list[str]:
    """Page cache, .pyc files and the template's git objects, for both arms alike."""
    services = updatable(blueprint)
    fleet = run_fleet(blueprint, scratch, services[:1])
    loop = run_loop(blueprint, scratch, services[1:2], None)
    return [f"warm-up: {text}" for text in fleet.problems + loop.problems]


# -- peak memory of the workers ----------------------------------------------------------


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def _is_worker(pid: int) -> bool:
    try:
        return b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _vm_hwm_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def probe_memory(root: Path, names: list[str]) -> dict[str, object]:
    """`update_fleet` in this (fresh) process, with the worker processes sampled in /proc.

    Two numbers per run, both peak resident set sizes, neither a sum:

    * per worker: ``VmHWM`` (high-water mark of the resident set) of each multiprocessing
      worker, read every 50 ms while it lives. It covers the worker's own Python process:
      interpreter, kitgen, Copier, Jinja and the service being rendered. Not the ``git``
      processes the worker starts, which are separate processes. Being a high-water mark,
      a peak between two samples is still seen at the next one.
    * ``RUSAGE_CHILDREN.ru_maxrss``: the largest peak of any single descendant process
      this process has waited for: the workers, their ``git`` children and the planning
      ``git`` calls. A cross-check that no other process outgrew the workers.
    """
    from kitgen.fleet import UpdateOptions, load_inventory, update_fleet

    entries = load_inventory(root / "fleet.yaml").select(only=names)
    peaks: dict[int, int] = {}
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            for pid in filter(_is_worker, _children(os.getpid())):
                hwm = _vm_hwm_kib(pid)
                if hwm is not None:
                    peaks[pid] = max(peaks.get(pid, 0), hwm)
            stop.wait(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    workdir = Path(tempfile.mkdtemp(prefix="kitgen-work-", dir=root))
    start = time.perf_counter()
    run = update_fleet(entries, UpdateOptions(to=VERSION, jobs=JOBS, workdir=workdir))
    seconds = time.perf_counter() - start
    stop.set()
    sampler.join()
    return {
        "seconds": seconds,
        "workers_kib": sorted(peaks.values(), reverse=True),
        "children_maxrss_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
        "self_maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "outcomes": {report.name: str(report.outcome) for report in run.services},
    }


def measure_memory(blueprint: Fleet, scratch: Path, services: list[FleetService]) -> list[str]:
    """Run :func:`probe_memory` in a fresh interpreter, so that RUSAGE_CHILDREN covers only
    that run's processes; the lines to print."""
    fleet = fresh_copy(blueprint, scratch, "memory")
    names = [service.name for service in services]
    result = subprocess.run(
        [sys.executable, __file__, "--probe-memory", str(fleet.root), *names],
        cwd=REPO,
        env=base_env(),
        capture_output=True,
        text=True,
        check=False,
        timeout=3600,
    )
    discard(fleet)
    if result.returncode != 0:
        return [f"  memory probe failed (exit {result.returncode}): {result.stderr[-2000:]}"]
    data = json.loads(result.stdout.strip().splitlines()[-1])
    workers = ", ".join(f"{kib / 1024:.0f} MiB" for kib in data["workers_kib"])
    lines = [
        f"  per worker process, peak RSS (VmHWM): {workers or 'none seen'}",
        "  largest single child process (RUSAGE_CHILDREN ru_maxrss): "
        f"{data['children_maxrss_kib'] / 1024:.0f} MiB",
        "  coordinating process (RUSAGE_SELF; update_fleet + this script's imports): "
        f"{data['self_maxrss_kib'] / 1024:.0f} MiB",
        f"  (in-process update_fleet of the same {len(names)} services took "
        f"{data['seconds']:.1f} s)",
    ]
    wrong = [
        f"{service.name}: {data['outcomes'].get(service.name, '(missing)')}"
        for service in services
        if data["outcomes"].get(service.name) != service.expected
    ]
    if wrong:
        lines.append(f"  UNEXPECTED outcomes in the memory run: {', '.join(wrong)}")
    return lines


# -- the report ----------------------------------------------------------------------------


def timed_rounds(
    arms: dict[str, Callable[[], Arm]], rounds: int, problems: list[str]
) -> dict[str, list[float]]:
    """Seconds per arm, one sample per round; the order of the arms flips every round."""
    samples: dict[str, list[float]] = {name: [] for name in arms}
    for number in range(rounds):
        order = list(arms) if number % 2 == 0 else list(reversed(arms))
        for name in order:
            log(f"round {number + 1}/{rounds}: {name}")
            arm = arms[name]()
            log(f"  {arm.seconds:.1f} s, {len(arm.problems)} problem(s)")
            samples[name].append(arm.seconds)
            problems += [f"round {number + 1}, {name}: {text}" for text in arm.problems]
    return samples


def show(samples: list[float]) -> str:
    return ", ".join(f"{value:.1f}" for value in samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="24 services only, one round")
    parser.add_argument("--rounds", type=int, default=2, help="alternated rounds at 24 (2)")
    parser.add_argument("--probe-memory", nargs="+", metavar="ARG", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.probe_memory:
        root, *names = args.probe_memory
        print(json.dumps(probe_memory(Path(root), names)))
        return
    rounds = 1 if args.quick else max(1, args.rounds)
    default_tmp = Path(tempfile.gettempdir())
    problems: list[str] = []
    load_before = os.getloadavg()[0]

    with tempfile.TemporaryDirectory(prefix="kitgen-bench-fleet-") as tmp:
        scratch = Path(tmp)
        log(f"building the 24-service fleet in {scratch}")
        fleet24 = build_fleet(scratch / "blueprint-24", 24, jobs=JOBS)
        services24 = updatable(fleet24)
        log("warm-up")
        problems += warm_up(fleet24, scratch)
        arms: dict[str, Callable[[], Arm]] = {
            "fleet": lambda: run_fleet(fleet24, scratch, services24),
            "loop": lambda: run_loop(fleet24, scratch, services24, None),
            "loop-shm": lambda: run_loop(fleet24, scratch, services24, SHM),
        }
        samples = timed_rounds(arms, rounds, problems)
        log("memory: update_fleet in-process, 24-service fleet")
        memory = measure_memory(fleet24, scratch, services24)
        shutil.rmtree(fleet24.root, ignore_errors=True)

        fleet96_s: float | None = None
        services96: list[FleetService] = []
        if not args.quick:
            log("building the 96-service fleet")
            fleet96 = build_fleet(scratch / "blueprint-96", 96, jobs=JOBS)
            services96 = updatable(fleet96)
            log("96 services: fleet update")
            arm = run_fleet(fleet96, scratch, services96)
            log(f"  {arm.seconds:.1f} s")
            fleet96_s = arm.seconds
            problems += [f"96 services: {text}" for text in arm.problems]

    fleet_s, loop_s, shm_s = (statistics.median(samples[name]) for name in arms)
    left_out = ", ".join(
        f"{service.name} ({service.kind})"
        for service in fleet24.services
        if service.kind in NOT_UPDATABLE
    )
    print(
        f"\nkitgen fleet update --to {VERSION} --jobs {JOBS} vs a sequential shell loop of "
        f"`copier update --defaults --vcs-ref {VERSION} --conflict inline`"
    )
    print(
        f"  24-service fleet; both arms run on exactly the same {len(services24)} services "
        f"(fleet update with --only each of them); left out of both: {left_out}"
    )
    print(
        f"  each arm on its own fresh copy of the fleet (in {default_tmp}); wall time, median of "
        f"{rounds} round(s), arms alternated; loop TMPDIR = {default_tmp} unless noted"
    )
    report = Report(f"fleet update ({JOBS} workers, {os.cpu_count()} CPUs)")
    report.ratio("24 services: fleet update / copier loop", fleet_s, loop_s, TARGET, "s")
    per24 = fleet_s / len(services24)
    per96 = fleet96_s / len(services96) if fleet96_s is not None else None
    if per96 is not None:
        report.ratio("per service: 96 / 24 services", per96, per24, FLAT, "s")
    report.print()
    print(f"\n  rounds, seconds: fleet [{show(samples['fleet'])}]  loop [{show(samples['loop'])}]")
    per_round = zip(samples["fleet"], samples["loop"], strict=True)
    print(f"  rounds, fleet / loop: [{', '.join(f'{a / b:.3f}' for a, b in per_round)}]")
    print(f"\nsecondary (not the target): the loop with TMPDIR={SHM}, kitgen's scratch location")
    print(f"  rounds, seconds: loop TMPDIR={SHM} [{show(samples['loop-shm'])}]")
    print(f"  fleet update / loop (TMPDIR={SHM})       {fleet_s / shm_s:5.2f}x  (parallelism)")
    print(f"  loop (TMPDIR={SHM}) / loop (TMPDIR={default_tmp})  {shm_s / loop_s:5.2f}x  (scratch)")
    if fleet96_s is not None and per96 is not None:
        print("\nper-service cost (fleet update wall time / services updated)")
        print(f"  24-service fleet: {fleet_s:7.1f} s / {len(services24)} = {per24:5.2f} s")
        print(
            f"  96-service fleet: {fleet96_s:7.1f} s / {len(services96)} = {per96:5.2f} s  (1 run)"
        )
    print(f"\npeak memory, 24-service fleet, update_fleet(jobs={JOBS}) in a fresh interpreter")
    for line in memory:
        print(line)
    load_after = os.getloadavg()[0]
    print(f"\n1-minute load average at start / end: {load_before:.2f} / {load_after:.2f}")
    if problems:
        print("\nUNEXPECTED (the timings above include these runs):")
        for text in problems:
            print(f"  {text}")


if __name__ == "__main__":
    main()
