"""The grading service under a class's load: latency from Submit to feedback, nothing lost, nothing twice.

A scratch course (built and released with nbgrader) and ``coursekit serve`` in it; a simulated class
submits through nbgrader's own exchange code (``tests/support/classroom.py``):

1. **steady**: ``--students`` students submit once each, at ``--rate`` submissions per minute on
   average (seeded Poisson arrivals: bunches happen, as in a lab room), a mix of right (the
   reference), partial (the golden single-bug submissions), wrong (the blank notebook and the
   experiment mistakes) and broken (not JSON, empty, renamed) notebooks;
2. **burst**: once that has drained, ``--burst`` of them submit again at the same moment;
3. with ``--kill``, the service is killed with SIGKILL halfway through the steady phase and
   started again at once (as systemd's ``Restart=always`` would).

The service grades with ``[grading] workers`` local workers, or on a Dask cluster: ``--scheduler
ADDRESS`` names a running one (its workers must see this machine's temporary folder), and
``--dask-workers N`` starts ``dask scheduler`` and N ``dask worker``s (one thread each) on loopback
for the run (``tests/support/dask_cluster.py``). Compare the burst's drain time between runs made
one after the other on the same machine: the ratio says more than the seconds.

"Feedback available" is measured the way the student's Fetch Feedback finds it: the page named by
the hash of the submission's secret appears in the exchange. Printed: median / p95 / max latency per
phase, the burst's drain time, submissions lost (no page) and graded or released twice (the
service's journal), and the load average (the machine may be shared: the figures depend on it).

    python benchmarks/feedback_service.py [--students 60] [--rate 6] [--burst 20] [--kill] [--seed 0]
    python benchmarks/feedback_service.py --students 6 --rate 12 --burst 3      # a short run
    python benchmarks/feedback_service.py --students 6 --rate 12 --burst 6 --dask-workers 2
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the simulated class lives with the tests (tests/support/), not in the package
    sys.path.insert(0, str(ROOT))

from coursekit.authoring.release import copy_course  # noqa: E402
from coursekit.authoring.samples import Sample, make_submission  # noqa: E402
from dlcourse.lab2.samples import DEMO_SAMPLES, EXPERIMENT_MISTAKES, GOLDEN_SAMPLES  # noqa: E402
from coursekit.config import load_config  # noqa: E402
from coursekit.service.journal import Journal, journal_path  # noqa: E402
from tests.support.classroom import feedback_released, stop_service, submit  # noqa: E402
from tests.support.dask_cluster import LoopbackCluster  # noqa: E402

DRAIN_TIMEOUT = 1800  # seconds: after this, whatever has no page counts as lost


@dataclass
class Submitted:
    student: str
    kind: str          # right / partial / wrong / broken
    phase: str         # steady / burst
    attempt: object
    at: float          # time.time() just before nbgrader submit
    answered: float | None = None


def class_mix(release, source) -> list[tuple[str, dict[str, bytes]]]:
    """(kind, files) in the order students take them: 4 right, 3 partial, 2 wrong, 1 broken in every 10."""
    def notebook(sample: Sample) -> dict[str, bytes]:
        return {"lab2.ipynb": nbformat.writes(make_submission(release, source, sample)).encode()}
    partial = [notebook(s) for s in (DEMO_SAMPLES[2], *GOLDEN_SAMPLES)]
    wrong = [notebook(DEMO_SAMPLES[1])] + [notebook(Sample(f"mistake-{gid}", what, edits=edits))
                                           for gid, (what, edits) in EXPERIMENT_MISTAKES.items()]
    broken = [{"lab2.ipynb": b'{"cells": [ this is not json'}, {"lab2.ipynb": b""},
              {"Lab2-copy.ipynb": partial[0]["lab2.ipynb"]}]
    right = notebook(DEMO_SAMPLES[0])
    pattern = ["right", "partial", "right", "wrong", "partial", "right", "broken", "partial", "right", "wrong"]
    pools = {"right": [right], "partial": partial, "wrong": wrong, "broken": broken}
    counters = {kind: 0 for kind in pools}
    mix = []
    for kind in pattern:
        pool = pools[kind]
        mix.append((kind, pool[counters[kind] % len(pool)]))
        counters[kind] += 1
    return mix


def prepare(scratch: Path, env: dict[str, str]) -> Path:
    config_path = copy_course(ROOT, scratch, with_release=False)
    text = config_path.read_text(encoding="utf-8")
    config_path.write_text(text.replace("due = 2026-", "due = 2099-"), encoding="utf-8")  # always on time
    for step in ("setup-data", "build"):
        subprocess.run([sys.executable, "-m", "coursekit", "--config", str(config_path), step],
                       cwd=scratch, env=env, check=True, capture_output=True)
    subprocess.run([sys.executable, "-m", "nbgrader", "release_assignment", "lab2"], cwd=scratch, env=env,
                   check=True, capture_output=True)
    return config_path


def start(config_path: Path, env: dict[str, str], log: Path, scheduler: str | None) -> subprocess.Popen:
    with log.open("a") as out:
        return subprocess.Popen([sys.executable, "-m", "coursekit", "--config", str(config_path), "serve",
                                 *(["--scheduler", scheduler] if scheduler else [])],
                                cwd=config_path.parent, env=env, stdout=out, stderr=subprocess.STDOUT)


def children_gone(folder: Path, timeout: float = 120) -> bool:
    """Wait until no process names the scratch course (the killed service's nbgrader and kernels)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = False
        for proc in Path("/proc").iterdir():
            if proc.name.isdigit() and int(proc.name) != os.getpid():
                try:
                    if str(folder).encode() in (proc / "cmdline").read_bytes():
                        alive = True
                        break
                except OSError:
                    continue
        if not alive:
            return True
        time.sleep(0.2)
    return False


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=60, help="students in the class (one steady submission each)")
    parser.add_argument("--rate", type=float, default=6.0, help="steady submissions per minute (Poisson arrivals)")
    parser.add_argument("--burst", type=int, default=20, help="submissions at the same moment after the steady phase")
    parser.add_argument("--kill", action="store_true", help="SIGKILL the service halfway through and restart it")
    parser.add_argument("--seed", type=int, default=0)
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--scheduler", help="grade on the Dask scheduler at this address (default: local workers)")
    where.add_argument("--dask-workers", type=int, help="start a Dask scheduler and this many workers on loopback "
                                                        "and grade there")
    parser.add_argument("--mirror", default=os.environ.get("COURSE_DATA_MIRROR", str(ROOT.parent / "shared" / "datasets")))
    parser.add_argument("--keep", action="store_true", help="keep the scratch course (its path is printed)")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    if args.burst > args.students:
        parser.error("--burst cannot exceed --students (the burst is the class's second submissions)")
    if args.dask_workers is not None and args.dask_workers < 1:
        parser.error("--dask-workers must be at least 1")

    env = {**os.environ, "COURSE_DATA_MIRROR": str(Path(args.mirror).resolve()), "MPLBACKEND": "Agg"}
    os.environ["COURSE_DATA_MIRROR"] = env["COURSE_DATA_MIRROR"]
    scratch = Path(tempfile.mkdtemp(prefix="coursekit-service-bench-"))
    config_path = prepare(scratch / "course", env)
    config = load_config(config_path)
    release = nbformat.read(config.directory("release") / "lab2" / "lab2.ipynb", as_version=4)
    source = nbformat.read(config.directory("source") / "lab2" / "lab2.ipynb", as_version=4)
    mix = class_mix(release, source)
    journal = Journal(journal_path(config, "lab2"))
    log = scratch / "service.log"
    rng = random.Random(args.seed)
    loads: list[tuple[float, float]] = []  # (time, 1-minute load average), every 5 s
    cluster = None
    scheduler = args.scheduler
    if args.dask_workers:
        cluster = LoopbackCluster(scratch / "cluster", env)
        try:
            cluster.add_workers(args.dask_workers)
            cluster.wait_for_workers(args.dask_workers)
        except BaseException:
            cluster.close()
            raise
        scheduler = cluster.address
    grading = (f"{args.dask_workers} Dask worker(s) on loopback" if args.dask_workers
               else f"the Dask cluster at {scheduler}" if scheduler else f"{config.workers} local worker(s)")
    print(f"[bench] scratch course {config_path.parent}; {args.students} students at {args.rate}/min, "
          f"burst {args.burst}, kill {'yes' if args.kill else 'no'}, grading with {grading}; "
          f"load average at start {os.getloadavg()}", flush=True)

    for number in (signal.SIGINT, signal.SIGTERM):  # an interrupted run still stops its service
        signal.signal(number, lambda *_: sys.exit(130))
    service = start(config_path, env, log, scheduler)
    submissions: list[Submitted] = []
    down_seconds = 0.0
    killed_at: float | None = None

    def poll() -> None:
        now = time.time()
        for s in submissions:
            if s.answered is None and feedback_released(config, s.attempt, "lab2.ipynb"):
                s.answered = now
        if not loads or now - loads[-1][0] >= 5:
            loads.append((now, os.getloadavg()[0]))

    def wait_until(moment: float) -> None:
        while time.time() < moment:
            poll()
            time.sleep(min(0.25, max(0.0, moment - time.time())))

    def drain(phase: str) -> float:
        started = time.time()
        while any(s.answered is None for s in submissions if s.phase == phase) and time.time() - started < DRAIN_TIMEOUT:
            poll()
            time.sleep(0.25)
        return time.time()

    def hand_in(student: str, kind: str, files: dict[str, bytes], phase: str) -> None:
        home = scratch / "homes" / student
        for old in (home / "lab2").glob("*.ipynb"):
            old.unlink()  # a renamed notebook replaces the student's file, as in their folder
        at = time.time()
        submissions.append(Submitted(student, kind, phase, submit(config, home, student, "lab2", files), at))

    try:
        # 1. steady arrivals
        next_at = time.time() + 2
        for i in range(args.students):
            wait_until(next_at)
            kind, files = mix[i % len(mix)]
            hand_in(f"s{i:03d}", kind, files, "steady")
            if args.kill and i == args.students // 2:
                service.send_signal(signal.SIGKILL)
                service.wait()
                killed_at = time.time()
                if not children_gone(config_path.parent):
                    print("[bench] WARNING: processes of the killed service are still running", flush=True)
                service = start(config_path, env, log, scheduler)
                down_seconds = time.time() - killed_at
                print(f"[bench] service killed with SIGKILL after submission {i + 1} and restarted", flush=True)
            next_at += rng.expovariate(args.rate / 60)
        steady_end = drain("steady")
        # 2. a burst: the first --burst students hand in again, all at once
        burst_start = time.time()
        for i in range(args.burst):
            kind, files = mix[(i + 3) % len(mix)]
            hand_in(f"s{i:03d}", kind, files, "burst")
        burst_end = drain("burst")
    finally:
        stop_service(service)
        if cluster is not None:
            cluster.close()

    events = journal.lines()
    per_attempt: dict[str, list[str]] = {}
    for event in events:
        per_attempt.setdefault(event["attempt"], []).append(event["event"])
    twice = sorted(name for name, kinds in per_attempt.items() if kinds.count("graded") > 1 or kinds.count("released") > 1)
    lost = [s for s in submissions if s.answered is None or s.attempt.name not in per_attempt]
    deferred = sum(1 for kinds in per_attempt.values() if "deferred" in kinds)
    load_values = [load for _, load in loads]
    results = {"students": args.students, "rate_per_min": args.rate, "burst": args.burst, "killed": args.kill,
               "grading": grading,
               "submissions": len(submissions), "lost": len(lost), "graded_or_released_twice": len(twice),
               "deferred": deferred, "service_down_seconds": round(down_seconds, 1),
               "load_average_mean": round(statistics.mean(load_values), 2) if load_values else None,
               "load_average_end": os.getloadavg(), "phases": {}}
    if killed_at is not None:  # the steady phase in three groups: before, across and after the kill
        for s in submissions:
            if s.phase == "steady":
                s.phase = ("steady, answered before the kill" if s.answered is not None and s.answered < killed_at
                           else "steady, in the service at the kill" if s.at < killed_at
                           else "steady, submitted after the kill")
    phases = list(dict.fromkeys(s.phase for s in submissions))
    print(f"\n{'phase':36} {'kind':8} {'n':>4} {'median s':>9} {'p95 s':>7} {'max s':>7}")
    for phase in phases:
        done = [s for s in submissions if s.phase == phase and s.answered is not None]
        rows = [("all", done)] + [(k, [s for s in done if s.kind == k]) for k in ("right", "partial", "wrong", "broken")]
        for kind, group in rows:
            if not group:
                continue
            latencies = [s.answered - s.at for s in group]
            print(f"{phase:36} {kind:8} {len(group):4d} {statistics.median(latencies):9.1f} "
                  f"{percentile(latencies, 0.95):7.1f} {max(latencies):7.1f}")
            if kind == "all":
                results["phases"][phase] = {"n": len(group), "median_s": round(statistics.median(latencies), 1),
                                            "p95_s": round(percentile(latencies, 0.95), 1),
                                            "max_s": round(max(latencies), 1)}
    results["burst_drain_s"] = round(burst_end - burst_start, 1)
    results["steady_span_s"] = round(steady_end - submissions[0].at, 1) if submissions else None
    print(f"\nburst of {args.burst}: drained {burst_end - burst_start:.1f} s after it was submitted")
    print(f"lost (no feedback page): {len(lost)}   graded or released twice: {len(twice)}   deferred: {deferred}")
    if args.kill:
        print(f"service down for {down_seconds:.1f} s (SIGKILL, its children ended, restarted)")
    print(f"load average: mean {results['load_average_mean']} during the run (1-min samples), "
          f"{os.getloadavg()} at the end; the machine may be shared with other work")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1), encoding="utf-8")
    if not args.keep:
        import shutil
        shutil.rmtree(scratch, ignore_errors=True)
    else:
        print(f"[bench] kept {scratch}")
    return 1 if lost or twice else 0


if __name__ == "__main__":
    sys.exit(main())
