"""A scratch course with the sample submissions, autograded once per session by the real nbgrader."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from coursekit.config import load_config
from coursekit.authoring.release import copy_course
from coursekit.authoring.samples import write_samples
from dlcourse.lab2.samples import GOLDEN_SAMPLES

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


#: The grader's secret of the scratch classes that grade the same submission and compare the results
#: (each course otherwise draws its own at its first grading, and so its own hidden cases).
SHARED_SECRET = "5ec7e7" * 10 + "ab12"
_STORE: list[Path] = []  # the session's experiment store, once made


def session_experiment_store() -> Path:
    """One folder of kept experiment results for the whole test session (removed at its end)."""
    if not _STORE:
        import atexit
        import tempfile
        _STORE.append(Path(tempfile.mkdtemp(prefix="coursekit-test-experiments-")))
        atexit.register(shutil.rmtree, _STORE[0], True)
    return _STORE[0]


def share_secret(config_path: Path) -> None:
    """Give a scratch course the shared grading secret (coursekit.grading.secret) and the session's
    experiment store ([grading] experiment_store): the scratch classes grade the same sample code many
    times, and each experiment's run is kept by all of its inputs (coursekit.grading.reuse), so a class
    reads back what an earlier one ran instead of running it again (CI's time). Only the same code, the
    same limits and this secret meet a kept result; tests/grading/test_reuse.py tests the key."""
    import re
    from coursekit.grading.secret import FILE_NAME
    path = config_path.parent / FILE_NAME
    path.write_text(SHARED_SECRET + "\n")
    path.chmod(0o600)
    text, count = re.subn(r'(?m)^experiment_store = ""', f'experiment_store = "{session_experiment_store()}"',
                          config_path.read_text(encoding="utf-8"))
    assert count == 1, "course.toml has no experiment_store line"
    config_path.write_text(text, encoding="utf-8")


def feedback_text(config, student: str) -> str:
    """The text of a student's feedback page (what they read, without the HTML)."""
    from bs4 import BeautifulSoup
    page = config.directory("feedback") / student / "lab2" / "lab2.html"
    return BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser").get_text()


def run_step(config_path: Path, *args: str) -> subprocess.CompletedProcess:
    result = coursekit(config_path, *args)
    assert result.returncode == 0, f"coursekit {args} failed:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
    return result


def released_course(folder: Path, replacements: tuple[tuple[str, str], ...]) -> Path:
    """A scratch course with these lines of course.toml replaced (each exactly once), lab2 built and
    released into its exchange by `nbgrader release_assignment`; returns its course.toml."""
    config_path = copy_course(ROOT, folder, with_release=False)
    share_secret(config_path)
    text = config_path.read_text(encoding="utf-8")
    for old, new in replacements:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    config_path.write_text(text, encoding="utf-8")
    for step in ("setup-data", "build lab2"):
        run_step(config_path, *step.split())
    subprocess.run([sys.executable, "-m", "nbgrader", "release_assignment", "lab2"], cwd=config_path.parent,
                   check=True, capture_output=True)
    return config_path


@pytest.fixture(scope="session")
def graded_course(tmp_path_factory) -> Path:
    """A scratch class, graded by the real nbgrader through `coursekit grade` (2 parallel workers, in
    the sandbox); returns its course.toml.

    Students: the demo's samples (reference, blank, partial), the golden single-bug
    submissions (coursekit.authoring.samples.GOLDEN_SAMPLES), `late` (the partial notebook, submitted a
    day after the due date) and `broken` (a file that is not JSON).
    """
    config_path = copy_course(ROOT, tmp_path_factory.mktemp("graded-course"), with_release=False)
    share_secret(config_path)
    for step in ("setup-data", "build lab2", "samples"):
        run_step(config_path, *step.split())
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
    result = coursekit(config_path, "grade", "--workers", "2")
    (config_path.parent / "grade.log").write_text(result.stdout + "\n" + result.stderr, encoding="utf-8")
    assert result.returncode == 2, result.stderr[-3000:]
    total = 5 + len(GOLDEN_SAMPLES)
    assert f"could not autograde 1 of {total} submission(s): broken ({total - 1} graded)" in result.stderr
    for step in ("feedback", "report"):
        run_step(config_path, step)
    return config_path


@pytest.fixture(scope="session")
def graded_config(graded_course):
    return load_config(graded_course)


#: Limits of the scratch course that grades the broken and malicious submissions: short enough
#: that a hung cell costs seconds, generous enough for honest cells on a busy 2-core machine. The process
#: limit is low enough that the fork bomb reaches it in a few seconds of its cell's time even there (each
#: fork of a kernel with torch loaded costs ~10 ms idle, several times that on a loaded CI machine; at the
#: course's 512 the bomb's cell could run out of time before the limit stopped it).
ADVERSARIAL_LIMITS = {"cell_timeout": 30, "notebook_timeout": 420, "memory_limit_mb": 3072, "max_processes": 128}


def set_grading_limits(config_path: Path, **limits: int) -> None:
    """Rewrite [grading] values of a scratch course.toml."""
    import re
    text = config_path.read_text(encoding="utf-8")
    for key, value in limits.items():
        text, count = re.subn(rf"(?m)^{key} = \S+", f"{key} = {value}", text)
        assert count == 1, key
    config_path.write_text(text, encoding="utf-8")


@pytest.fixture(scope="session")
def adversarial_course(tmp_path_factory) -> Path:
    """A scratch class of broken and malicious submissions (grader_tests/adversarial.py), graded
    once by `coursekit grade` with 2 workers in the sandbox; returns its course.toml."""
    from grader_tests.adversarial import CASES, reference_notebook, write_case

    config_path = copy_course(ROOT, tmp_path_factory.mktemp("adversarial-course"), with_release=False)
    set_grading_limits(config_path, **ADVERSARIAL_LIMITS)
    for step in ("setup-data", "build lab2"):
        run_step(config_path, *step.split())
    config = load_config(config_path)
    notebook = config.assignment("lab2").notebook
    reference = reference_notebook(config.directory("release") / "lab2" / notebook,
                                   config.directory("source") / "lab2" / notebook)
    blank = nbformat.read(config.directory("release") / "lab2" / notebook, as_version=4)
    submitted = config.directory("submitted")
    # The reference is graded too: the escape case tries to read its folder.
    for case in (*CASES,):
        write_case(submitted / case.student / "lab2", reference, case, "2026-12-01 00:00:00.000000 UTC", blank)
    from grader_tests.adversarial import Case
    write_case(submitted / "reference" / "lab2", reference,
               Case("reference", "honest", lambda nb: {"lab2.ipynb": nbformat_dump(nb)}),
               "2026-12-01 00:00:00.000000 UTC")
    result = coursekit(config_path, "grade", "--workers", "2")
    (config_path.parent / "grade.log").write_text(result.stdout + "\n" + result.stderr, encoding="utf-8")
    assert result.returncode == 2, result.stderr[-3000:]
    run_step(config_path, "feedback")
    return config_path


def nbformat_dump(nb) -> bytes:
    import nbformat
    return nbformat.writes(nb).encode("utf-8")
