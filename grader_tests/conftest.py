"""A scratch course with the sample submissions, autograded once per session by the real nbgrader."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from coursekit.config import load_config
from coursekit.release import copy_course

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


@pytest.fixture(scope="session")
def graded_course(tmp_path_factory) -> Path:
    """setup-data, build, samples, autograde, feedback in a scratch course; returns its course.toml."""
    config_path = copy_course(ROOT, tmp_path_factory.mktemp("graded-course"), with_release=False)
    for step in ("setup-data", "build", "samples", "autograde", "feedback"):
        result = coursekit(config_path, step)
        assert result.returncode == 0, f"coursekit {step} failed:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
    return config_path


@pytest.fixture(scope="session")
def graded_config(graded_course):
    return load_config(graded_course)
