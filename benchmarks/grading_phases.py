"""Where one submission's grading time goes, phase by phase, and what one submission costs.

In one run, in scratch copies of the course, ``--rounds`` times in rotation:
``coursekit grade lab2 --student S --force --workers 1`` (sandbox on, 1 torch thread) for the
blank, partial and reference samples, with this checkout and, given ``--baseline-root DIR
--baseline-python PYTHON``, with another checkout (e.g. ``git worktree add /tmp/before main`` and
its own ``make install``). Prints

1. the median wall time of the command for each sample and checkout, the overhead ratio
   blank / reference (the blank notebook runs almost nothing, so its time is start-up), and
   this checkout against the baseline;
2. this checkout's phases of each sample (medians over the rounds), from the
   ``[coursekit phases]`` lines each grading writes into its log (coursekit.grading.phases):
   wall time, CPU time of the grader's processes, CPU time of the sandboxed kernel; the command's
   own start-up and end (the ``coursekit grade`` process outside the submission) is the command's
   wall time minus the submission's.

    python benchmarks/grading_phases.py [--rounds 3] [--students blank reference partial]
        [--baseline-root DIR --baseline-python PYTHON]
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

import checkouts
from checkouts import load
from coursekit.grading.phases import Phase, parse


def median_phases(runs: list[list[Phase]]) -> list[Phase]:
    """Each phase's median over the runs (in the order of the first run; absent counts as 0)."""
    names = list(dict.fromkeys(p.name for run in runs for p in run))
    table = [{p.name: p for p in run} for run in runs]
    result = []
    for name in names:
        got = [t.get(name, Phase(name, 0.0, 0.0, 0.0)) for t in table]
        result.append(Phase(name, statistics.median(p.wall for p in got), statistics.median(p.cpu for p in got),
                            statistics.median(p.kernel_cpu for p in got)))
    return result


def print_phases(student: str, phases: list[Phase], command: float) -> None:
    coordinator = [p for p in phases if p.name.startswith("coordinator") or p.name.startswith("grading process (")]
    inside = [p for p in phases if p not in coordinator]
    submission = sum(p.wall for p in coordinator)
    print(f"\n{student}: phases (median of the rounds)           wall      CPU grader  CPU kernel")
    print(f"  {'coursekit grade outside the submission':<44} {command - submission:7.2f} s")
    for phase in [p for p in coordinator if not p.name.startswith("grading process (")]:
        print(f"  {phase.name:<44} {phase.wall:7.2f} s  {phase.cpu:7.2f} s")
    for phase in inside:
        print(f"  {phase.name:<44} {phase.wall:7.2f} s  {phase.cpu:7.2f} s  {phase.kernel_cpu:7.2f} s")
    cells = [p for p in inside if " cell " in p.name]
    print(f"  {'(all cells)':<44} {sum(p.wall for p in cells):7.2f} s  {sum(p.cpu for p in cells):7.2f} s  "
          f"{sum(p.kernel_cpu for p in cells):7.2f} s")
    print(f"  {'(the submission, coordinator included)':<44} {submission:7.2f} s  "
          f"{sum(p.cpu for p in phases):7.2f} s  {sum(p.kernel_cpu for p in inside):7.2f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    checkouts.add_arguments(parser)
    parser.add_argument("--students", nargs="+", default=["blank", "reference", "partial"])
    args = parser.parse_args()
    versions = {c.label: c for c in checkouts.checkouts(args, this="this checkout", baseline="baseline")}
    walls: dict[tuple[str, str], list[float]] = {}
    phases: dict[str, list[list[Phase]]] = {}
    print(f"{args.rounds} round(s), machine: {os.cpu_count()} cores, load average {load()}", flush=True)
    with tempfile.TemporaryDirectory() as scratch_dir:
        courses = {}
        for label, checkout in versions.items():
            env = checkouts.environment(args, checkout)
            courses[label] = (checkouts.prepare(checkout, Path(scratch_dir) / label.replace(" ", "-"), env,
                                                args.reuse_experiments),
                              checkout.python, env)
        for round_number in range(args.rounds):
            for student in args.students:
                for label, (config_path, python, env) in courses.items():
                    command = [python, "-m", "coursekit", "--config", str(config_path), "grade", "lab2",
                               "--student", student, "--force", "--workers", "1"]
                    started = time.perf_counter()
                    result = subprocess.run(command, cwd=config_path.parent, env=env, capture_output=True, text=True)
                    wall = time.perf_counter() - started
                    if result.returncode != 0:
                        raise SystemExit(f"{' '.join(command)} failed:\n{result.stderr[-3000:]}")
                    walls.setdefault((label, student), []).append(wall)
                    if label == "this checkout":
                        log = config_path.parent / "autograded" / ".coursekit-lab2-logs" / f"{student}.log"
                        phases.setdefault(student, []).append(parse(log.read_text(encoding="utf-8")))
                    print(f"  round {round_number + 1}: {label}: {student}: {wall:.1f} s (load {load()})", flush=True)
    medians = {key: statistics.median(values) for key, values in walls.items()}
    print(f"\n`coursekit grade --student S --workers 1`, median wall time of {args.rounds} round(s)")
    print(f"  {'':<16}" + "".join(f"{label:>16}" for label in versions))
    for student in args.students:
        print(f"  {student:<16}" + "".join(f"{medians[(label, student)]:>15.1f}s" for label in versions))
    for label in versions:
        if "blank" in args.students and "reference" in args.students:
            ratio = medians[(label, "blank")] / medians[(label, "reference")]
            print(f"  overhead ratio blank / reference, {label}: {ratio:.2f} (target <= 0.3)")
    if args.baseline_root:
        for student in args.students:
            before, now = medians[("baseline", student)], medians[("this checkout", student)]
            print(f"  {student}: {before:.1f} s before, {now:.1f} s now ({before / now:.2f}x)")
    for student in args.students:
        if phases.get(student) and any(phases[student]):
            print_phases(student, median_phases(phases[student]), medians[("this checkout", student)])
    print(f"\nload average at the end: {load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
