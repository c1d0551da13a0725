"""How robust are the hidden experiment checks? Pass counts over many seeds.

For each seed, the experiment is run with the reference solution, and with one typical wrong answer
per experiment. A good check passes for the reference on every seed and fails for the wrong answer on
every seed. At ``--profile grading`` it is run as the grader runs it (the part's own Experiment.run: the
experiment in this process, the student's functions answered by grading workers, dropout masks seeded
from a secret, here one per seed): that is what makes the marks trustworthy. At the cpu and full
scales the instructor notebook is replayed (coursekit.authoring.replay): that is what makes the
notebook's text true for the student who runs them (the same criteria, stated next to each experiment).

    python benchmarks/experiment_robustness.py [--profile grading] [--seeds 20] [--wrong-seeds 5] [--check ...]
    python benchmarks/experiment_robustness.py --profile cpu --seeds 5 --wrong-seeds 0
    python benchmarks/experiment_robustness.py --profile full --seeds 1 --wrong-seeds 0   # slow on a CPU

At the grading profile the death check also runs a control: the reference at lr 0.01 must fail it
(death caused by the large learning rate is what it measures).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from coursekit.authoring.replay import experiment_cells, replay
from dlcourse.lab2 import ASSIGNMENT as LAB2
from dlcourse.lab2.samples import EXPERIMENT_MISTAKES as WRONG

EXPERIMENT_CELLS = experiment_cells(LAB2)

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "source" / "lab2" / "lab2.ipynb"
CHECKS = list(WRONG)
#: Cells that train without being checked (the concise versions run at the cpu and full scales only).
UNCHECKED = frozenset({"run_weight_decay_concise", "run_dropout_concise"})


#: A control: the death check must measure death caused by the large learning rate, so the reference
#: trained at a small one fails it (on at least SMALL_LR_FAILS of 20 seeds). Run at the grading profile.
SMALL_LR = 0.01
SMALL_LR_FAILS = 18


def run_check(check: str, seed: int, profile: str, edits=None, lr: float | None = None) -> bool:
    """Whether the check passed for `seed` (as the grader runs it at the grading profile); ``lr``
    replaces the experiment's learning rate (grading profile only)."""
    if profile == "grading":
        return judged(check, seed, edits or {}, lr)
    return replayed(check, seed, profile, edits)


def judged(check: str, seed: int, edits, lr: float | None = None) -> bool:
    """The experiment as the grader runs it: in this process, with the answers in a grading worker."""
    import os

    os.environ["NBGRADER_EXECUTION"] = "autograde"  # as nbgrader sets it in the grading process: no progress bars

    import nbformat

    from coursekit.authoring.replay import solution_text
    from coursekit.config import load_config
    from coursekit.grading.workers import Workers
    from dlcourse import lab2
    from coursekit.partkit.part import Context, ExperimentFailed
    nb = nbformat.read(SOURCE, as_version=4)
    sources = {c.metadata.get("nbgrader", {}).get("grade_id"): c.source for c in nb.cells}
    part = lab2.ASSIGNMENT.part(check)
    group = lab2.ASSIGNMENT.groups[part.worker]
    cells = [("setup", sources["setup"])] + [(gid, edits.get(gid, str)(solution_text(sources[gid])))
                                              for gid in group.answers]
    config = load_config()
    profile = config.profiles["grading"].replace(seed=seed)
    if lr is not None:
        profile = profile.replace(relu_death={**profile.relu_death, "lr": lr})
    workers = Workers(None)
    try:
        worker = workers.start(check, cells, ops=lab2.ASSIGNMENT.worker_ops)
        result = part.run(worker, Context(profile, config, f"robustness {seed}".encode()))
    except ExperimentFailed:
        return False
    finally:
        workers.close()
    return lab2.judge({"grade_id": check, "cases": "hidden", "data": part.measurement(result)}) is None


def replayed(check: str, seed: int, profile: str, edits=None) -> bool:
    """Replay up to `check`, skipping the other experiments, and say whether it passed."""
    skip = frozenset(EXPERIMENT_CELLS[other] for other in CHECKS if other != check) | UNCHECKED
    return replay(SOURCE, seed=seed, edits=edits, stop_after=check, skip=skip, profile=profile)[check].passed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="grading", choices=("grading", "cpu", "full"), help="run profile")
    parser.add_argument("--seeds", type=int, default=20, help="seeds for the reference solution")
    parser.add_argument("--wrong-seeds", type=int, default=5, help="seeds for each wrong answer")
    parser.add_argument("--check", action="append", choices=CHECKS, help="only this check (repeatable)")
    args = parser.parse_args()
    ok = True
    began = time.perf_counter()
    print(f"profile {args.profile}")
    print(f"{'check':<26} {'reference passes':>17} {'wrong answer fails':>19}  wrong answer")
    for check in args.check or CHECKS:
        started = time.perf_counter()
        passes = sum(run_check(check, seed, args.profile) for seed in range(args.seeds))
        description, edits = WRONG[check]
        caught = sum(not run_check(check, seed, args.profile, edits) for seed in range(args.wrong_seeds))
        ok &= passes == args.seeds and caught == args.wrong_seeds
        print(f"{check:<26} {passes:>11}/{args.seeds:<5} {caught:>13}/{args.wrong_seeds:<5}  {description}"
              f"  ({time.perf_counter() - started:.0f} s)", flush=True)
        if check == "test_relu_death" and args.profile == "grading":
            fails = sum(not run_check(check, seed, args.profile, lr=SMALL_LR) for seed in range(args.seeds))
            needed = round(SMALL_LR_FAILS * args.seeds / 20)
            ok &= fails >= needed
            print(f"{'  the reference at lr ' + str(SMALL_LR):<26} {'':>17} {fails:>13}/{args.seeds:<5}  "
                  f"(a control: at least {needed} must fail)", flush=True)
    print(f"total {time.perf_counter() - began:.0f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
