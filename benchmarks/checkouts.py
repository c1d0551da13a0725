"""What the grading benchmarks share: the checkouts they time side by side, in scratch copies.

``grade_class.py`` and ``grading_phases.py`` time this checkout of the course and, optionally,
another one (``--baseline-root DIR --baseline-python PYTHON``, e.g. ``git worktree add /tmp/before
main`` with its own ``make install``) in the same run, each in a scratch copy with its release built
and the sample submissions written, with MNIST from ``--mirror``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from coursekit.authoring.release import copy_course

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Checkout:
    """One checkout of the course and the Python whose coursekit is that checkout's."""

    label: str
    root: Path
    python: str


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """--rounds, --mirror, --baseline-root, --baseline-python."""
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--mirror", type=Path,
                        default=Path(os.environ.get("COURSE_DATA_MIRROR", ROOT.parent / "shared" / "datasets")))
    parser.add_argument("--baseline-root", type=Path, help="another checkout of the course, timed in the same run")
    parser.add_argument("--baseline-python", help="the Python whose coursekit is that checkout's")
    parser.add_argument("--reuse-experiments", action="store_true",
                        help="keep [grading] reuse_experiments on: experiments of answers graded before are read back "
                             "(off by default: the samples share most answers, a real class does not)")


def checkouts(args: argparse.Namespace, this: str, baseline: str) -> list[Checkout]:
    """This checkout (labelled `this`), then the baseline (labelled `baseline`) when one is given."""
    found = [Checkout(this, ROOT, sys.executable)]
    if args.baseline_root:
        found.append(Checkout(baseline, args.baseline_root.resolve(), args.baseline_python or sys.executable))
    return found


def environment(args: argparse.Namespace, checkout: Checkout) -> dict[str, str]:
    """The environment of that checkout's commands: MNIST from the mirror, its Python's bin first on PATH,
    and no NBGRADER_EXECUTION inherited (it would switch the notebook's run profile)."""
    env = {**os.environ, "COURSE_DATA_MIRROR": str(args.mirror.resolve())}
    env.pop("NBGRADER_EXECUTION", None)
    env["PATH"] = str(Path(checkout.python).parent) + os.pathsep + env.get("PATH", "")
    return env


def prepare(checkout: Checkout, scratch: Path, env: dict[str, str], reuse_experiments: bool = False) -> Path:
    """A scratch copy of the checkout's course with its release built and the samples written; its course.toml.
    Unless ``reuse_experiments``, every experiment is run for every submission (``[grading] reuse_experiments``
    off, where the checkout has the key)."""
    config_path = copy_course(checkout.root, scratch, with_release=False)
    if not reuse_experiments:
        text = config_path.read_text(encoding="utf-8")
        config_path.write_text(text.replace("\nreuse_experiments = true", "\nreuse_experiments = false"),
                               encoding="utf-8")
    for step in ("setup-data", "build", "samples"):
        subprocess.run([checkout.python, "-m", "coursekit", "--config", str(config_path), step],
                       cwd=scratch, env=env, check=True, capture_output=True)
    return config_path


def load() -> str:
    """The load average (1, 5, 15 minutes): the machine may be shared, and the figures depend on it."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])
