"""A scratch course with the sample submissions, autograded once per session by the real nbgrader."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from coursekit.config import load_config
from coursekit.release import copy_course
from coursekit.samples import GOLDEN_SAMPLES, write_samples

ROOT = Path(__file__).resolve().parents[1]


def mirror_path() -> Path:
    env = os.environ.get("COURSE_DATA_MIRROR")
    return Path(env).resolve() if env else ROOT.parent / "shared" / "datasets"


def coursekit(config_path: Path, *args: str) -> subprocess.CompletedProcess:
    """Run `python -m coursekit --config ... ARGS` in the scratch course, as an instructor would."""
    # MPLBACKEND=Agg on purpose: an instructor's shell may have it, and feedback must keep its figures.
    env = {**os.environ, "COURSE_DATA_MIRROR": str(mirror_path()), "MPLBACKEND": "Agg"}
    return subprocess.run([sys.executable, "-m", "coursekit", "--config", str(config_path), *args],
                          cwd=config_path.parent, env=env, capture_output=True, text=True)


def run_step(config_path: Path, *args: str) -> subprocess.CompletedProcess:
    result = coursekit(config_path, *args)
    assert result.returncode == 0, f"coursekit {args} failed:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
    return result


@pytest.fixture(scope="session")
def graded_course(tmp_path_factory) -> Path:
    """A scratch class, graded by the real nbgrader through `coursekit`; returns its course.toml.

    Students: the demo's samples (reference, blank, partial), the golden single-bug
    submissions (coursekit.samples.GOLDEN_SAMPLES), `late` (the partial notebook, submitted a
    day after the due date) and `broken` (a file that is not JSON).
    """
    config_path = copy_course(ROOT, tmp_path_factory.mktemp("graded-course"), with_release=False)
    for step in ("setup-data", "build", "samples"):
        run_step(config_path, step)
    config = load_config(config_path)
    notebook = config.assignment("lab2").notebook
    write_samples(config.directory("release") / "lab2" / notebook, config.directory("source") / "lab2" / notebook,
                  config.directory("submitted"), "lab2", timestamp="2026-12-01 00:00:00.000000 UTC",
                  samples=GOLDEN_SAMPLES)
    submitted = config_path.parent / "submitted"
    late = submitted / "late" / "lab2"
    shutil.copytree(submitted / "partial" / "lab2", late)
    due = load_config(config_path).assignment("lab2").due
    (late / "timestamp.txt").write_text(
        (due + dt.timedelta(days=1)).astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f UTC") + "\n")
    broken = submitted / "broken" / "lab2"
    broken.mkdir(parents=True)
    (broken / "lab2.ipynb").write_text('{"cells": [ this is not json', encoding="utf-8")
    result = coursekit(config_path, "autograde")
    assert result.returncode == 2, result.stderr[-3000:]
    total = 5 + len(GOLDEN_SAMPLES)
    assert f"could not autograde 1 of {total} submission(s): broken ({total - 1} graded)" in result.stderr
    for step in ("feedback", "report"):
        run_step(config_path, step)
    return config_path


@pytest.fixture(scope="session")
def graded_config(graded_course):
    return load_config(graded_course)
