"""Grade a class of 8 submissions several ways, side by side in one run, and compare throughput.

1. plain nbgrader: ``nbgrader autograde lab2 --force`` (all students, one after another, in one
   process, as nbgrader does it; no sandbox; the course's nbgrader_config.py);
2. ``coursekit grade --force --workers 1`` (sandbox on);
3. ``coursekit grade --force --workers 2`` (sandbox on);
4. with ``--baseline-root DIR --baseline-python PYTHON`` (another checkout of the course, e.g.
   ``git worktree add /tmp/before main`` with its own ``make install``): that checkout's
   ``coursekit grade`` with 1 and 2 workers, in a scratch course of its own.

The 8 submissions are the reference, the blank notebook, the partial one and five golden
single-bug variants (coursekit.authoring.samples). Each configuration runs ``--rounds`` times in
rotation (1, 2, 3, 1, 2, 3 ...), so load from other work on the machine falls on all of them alike;
the table shows the median wall time and submissions per minute, then the ratios the targets are
about: ``coursekit grade`` with 2 workers against plain sequential nbgrader (target >= 2x on 2
cores), 2 workers against 1, and this checkout against the baseline. Then, for ``coursekit grade``,
what each submission took inside the class run (the seconds its journal line records: checks,
sandbox, grading), medians over the rounds, and the overhead ratio blank / reference there. The
load average is printed before and after.

With ``--copies K`` the class is the same 8 submissions K times over (students ``reference``,
``reference-2`` ...): a class of 8 is mostly its start-up and its last submission, a larger one
shows the throughput a real class gets. ``--skip-one-worker`` leaves out the 1-worker runs.

    python benchmarks/grade_class.py [--rounds 3] [--copies 1] [--skip-one-worker] [--mirror PATH]
                                     [--baseline-root DIR --baseline-python PYTHON]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import checkouts
from checkouts import Checkout, load

CLASS_SIZE = 8

#: Written by the Python of the checkout being measured (the baseline's may differ from this one's).
PREPARE = """
import sys
from pathlib import Path
from coursekit.config import load_config
from coursekit.authoring.samples import write_samples
from dlcourse.lab2.samples import GOLDEN_SAMPLES
config = load_config(sys.argv[1])
notebook = config.assignment("lab2").notebook
write_samples(config.directory("release") / "lab2" / notebook, config.directory("source") / "lab2" / notebook,
              config.directory("submitted"), "lab2", timestamp="2026-12-01 00:00:00.000000 UTC",
              samples=GOLDEN_SAMPLES[:int(sys.argv[2])])
"""


def prepare(checkout: Checkout, scratch: Path, env: dict[str, str], copies: int, reuse: bool = False) -> Path:
    """A scratch copy of the checkout's course: release built, the 3 samples and 5 golden variants written,
    each `copies` times (the copies under the student ids ``<id>-2``, ``<id>-3`` ...)."""
    config_path = checkouts.prepare(checkout, scratch, env, reuse)
    subprocess.run([checkout.python, "-c", PREPARE, str(config_path), str(CLASS_SIZE - 3)], cwd=scratch, env=env,
                   check=True, capture_output=True)
    submitted = scratch / "submitted"
    for student in sorted(path.name for path in submitted.iterdir()):
        for copy in range(2, copies + 1):
            shutil.copytree(submitted / student, submitted / f"{student}-{copy}")
    return config_path


def submission_seconds(config_path: Path) -> dict[str, float]:
    """Each student's seconds in the last run, from its journal (the last line of each student wins)."""
    journal = config_path.parent / "autograded" / ".coursekit-lab2-journal.jsonl"
    seconds: dict[str, float] = {}
    for line in journal.read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        seconds[entry["student"]] = entry["seconds"]
    return seconds


def original(student: str) -> str:
    """The sample a student id is a copy of (``reference-2`` -> ``reference``): copies are pooled."""
    stem, _, number = student.rpartition("-")
    return stem if stem and number.isdigit() else student


def run(command: list[str], cwd: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stderr[-3000:]}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    checkouts.add_arguments(parser)
    parser.add_argument("--copies", type=int, default=1, help="each of the 8 submissions this many times")
    parser.add_argument("--skip-one-worker", action="store_true", help="time 2 workers only")
    args = parser.parse_args()
    size = CLASS_SIZE * args.copies
    with tempfile.TemporaryDirectory() as scratch_dir:
        setups: dict[str, tuple[list[str], Path, dict[str, str]]] = {}
        for checkout in checkouts.checkouts(args, this="", baseline="baseline "):
            env = checkouts.environment(args, checkout)
            config_path = prepare(checkout, Path(scratch_dir) / (checkout.label.strip() or "current"), env, args.copies,
                                  args.reuse_experiments)
            python, label = checkout.python, checkout.label
            kit = [python, "-m", "coursekit", "--config", str(config_path), "grade", "--force"]
            if not label:
                setups["plain nbgrader autograde (sequential, no sandbox)"] = (
                    [python, "-m", "nbgrader", "autograde", "lab2", "--force"], config_path.parent, env)
            if not args.skip_one_worker:
                setups[f"{label}coursekit grade, 1 worker (sandbox)"] = ([*kit, "--workers", "1"], config_path.parent, env)
            setups[f"{label}coursekit grade, 2 workers (sandbox)"] = ([*kit, "--workers", "2"], config_path.parent, env)
        times: dict[str, list[float]] = {name: [] for name in setups}
        each: dict[str, dict[str, list[float]]] = {name: {} for name in setups if "coursekit" in name}
        print(f"{size} submissions, {args.rounds} round(s), machine: {os.cpu_count()} cores, "
              f"load average {load()}", flush=True)
        for round_number in range(args.rounds):
            for name, (command, cwd, env) in setups.items():
                times[name].append(run(command, cwd, env))
                if name in each:
                    for student, seconds in submission_seconds(cwd / "course.toml").items():
                        each[name].setdefault(original(student), []).append(seconds)
                print(f"  round {round_number + 1}: {name}: {times[name][-1]:.1f} s (load {load()})", flush=True)
    medians = {name: statistics.median(values) for name, values in times.items()}
    print(f"\n{'setup':<60} {'median':>8} {'subm./min':>10}")
    for name, seconds in medians.items():
        print(f"{name:<60} {seconds:>7.1f}s {size / seconds * 60:>10.2f}")
    plain_name, two_name = "plain nbgrader autograde (sequential, no sandbox)", "coursekit grade, 2 workers (sandbox)"
    plain, two = medians[plain_name], medians[two_name]
    print(f"\ncoursekit grade, 2 workers vs plain sequential nbgrader: {plain / two:.2f}x throughput (target >= 2x)")
    print("  round by round (the two run one after the other): "
          + ", ".join(f"{p / t:.2f}x" for p, t in zip(times[plain_name], times[two_name])))
    if not args.skip_one_worker:
        one = medians["coursekit grade, 1 worker (sandbox)"]
        print(f"coursekit grade, 1 worker vs plain sequential nbgrader: {plain / one:.2f}x throughput")
        print(f"2 workers vs 1 worker: {one / two:.2f}x throughput")
    print("\nwhat one submission took inside the class run (journal seconds), medians:")
    for name, students in each.items():
        per = {student: statistics.median(values) for student, values in sorted(students.items())}
        print(f"  {name}: " + ", ".join(f"{student} {seconds:.1f} s" for student, seconds in per.items()))
        if "blank" in per and "reference" in per:  # the originals, not their copies
            print(f"    overhead ratio blank / reference: {per['blank'] / per['reference']:.2f} (target <= 0.3)")
    if args.baseline_root:
        for workers in ("2 workers",) if args.skip_one_worker else ("1 worker", "2 workers"):
            before = medians[f"baseline coursekit grade, {workers} (sandbox)"]
            now = medians[f"coursekit grade, {workers} (sandbox)"]
            print(f"coursekit grade, {workers}: {before:.1f} s before, {now:.1f} s now: {before / now:.2f}x")
    print(f"load average at the end: {load()}")
    return 0 if plain / two >= 2 else 1


if __name__ == "__main__":
    sys.exit(main())
