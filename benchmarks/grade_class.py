"""Grade a class of 8 submissions three ways, side by side in one run, and compare throughput.

1. plain nbgrader: ``nbgrader autograde lab2 --force`` (all students, one after another, as
   nbgrader does it; no sandbox);
2. ``coursekit grade --force --workers 1`` (sandbox on);
3. ``coursekit grade --force --workers 2`` (sandbox on).

The 8 submissions are the reference, the blank notebook, the partial one and five golden
single-bug variants. Each configuration runs ``--rounds`` times in rotation (1, 2, 3, 1, 2, 3 ...)
in one scratch course; the table shows the median wall time, submissions per minute, and the
ratios the targets are about: 2 workers / 1 worker throughput (target >= 1.8x) and 1 worker vs
plain nbgrader (target: within 10 %). Run it on a quiet machine: other work on the 2 cores
distorts the ratios.

    python benchmarks/grade_class.py [--rounds 2] [--mirror PATH]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from coursekit.config import load_config
from coursekit.authoring.release import copy_course
from coursekit.authoring.samples import GOLDEN_SAMPLES, write_samples

ROOT = Path(__file__).resolve().parents[1]
CLASS_SIZE = 8


def prepare(scratch: Path, env: dict[str, str]) -> Path:
    config_path = copy_course(ROOT, scratch, with_release=False)
    for step in ("setup-data", "build", "samples"):
        subprocess.run([sys.executable, "-m", "coursekit", "--config", str(config_path), step],
                       cwd=scratch, env=env, check=True, capture_output=True)
    config = load_config(config_path)
    notebook = config.assignment("lab2").notebook
    write_samples(config.directory("release") / "lab2" / notebook, config.directory("source") / "lab2" / notebook,
                  config.directory("submitted"), "lab2", timestamp="2026-12-01 00:00:00.000000 UTC",
                  samples=GOLDEN_SAMPLES[:CLASS_SIZE - 3])
    return config_path


def run(command: list[str], cwd: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stderr[-3000:]}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--mirror", type=Path,
                        default=Path(os.environ.get("COURSE_DATA_MIRROR", ROOT.parent / "shared" / "datasets")))
    args = parser.parse_args()
    env = {**os.environ, "COURSE_DATA_MIRROR": str(args.mirror.resolve()),
           "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")}
    env.pop("NBGRADER_EXECUTION", None)
    with tempfile.TemporaryDirectory() as scratch_dir:
        scratch = Path(scratch_dir)
        config_path = prepare(scratch, env)
        kit = [sys.executable, "-m", "coursekit", "--config", str(config_path), "grade", "--force"]
        setups = {
            "plain nbgrader autograde (sequential, no sandbox)":
                [sys.executable, "-m", "nbgrader", "autograde", "lab2", "--force"],
            "coursekit grade, 1 worker (sandbox)": [*kit, "--workers", "1"],
            "coursekit grade, 2 workers (sandbox)": [*kit, "--workers", "2"],
        }
        times: dict[str, list[float]] = {name: [] for name in setups}
        print(f"{CLASS_SIZE} submissions, {args.rounds} round(s), machine: {os.cpu_count()} cores", flush=True)
        for round_number in range(args.rounds):
            for name, command in setups.items():
                times[name].append(run(command, scratch, env))
                print(f"  round {round_number + 1}: {name}: {times[name][-1]:.1f} s", flush=True)
    medians = {name: statistics.median(values) for name, values in times.items()}
    print(f"\n{'setup':<52} {'median':>8} {'subm./min':>10}")
    for name, seconds in medians.items():
        print(f"{name:<52} {seconds:>7.1f}s {CLASS_SIZE / seconds * 60:>10.2f}")
    plain, one, two = medians.values()
    speedup = one / two
    overhead = one / plain - 1
    print(f"\n2 workers vs 1 worker throughput: {speedup:.2f}x (target >= 1.8x)")
    print(f"1 worker vs plain nbgrader: {overhead * 100:+.1f} % time (target within 10 %)")
    return 0 if speedup >= 1.8 and abs(overhead) <= 0.10 else 1


if __name__ == "__main__":
    sys.exit(main())
