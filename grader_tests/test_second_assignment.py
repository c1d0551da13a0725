"""A second assignment of the same course (numerical stability: Xavier initialisation), released, graded
as a class, given feedback, reported and compared for similarity by the same engine, through its own
parts (dlcourse.stability) and nothing else."""

from __future__ import annotations

import pytest

from coursekit.authoring.release import copy_course
from coursekit.config import load_config
from coursekit.grading.gradetable import grade_rows
from grader_tests.conftest import ROOT, coursekit, run_step, share_secret

NAME = "stability"
AUTOGRADED = {"test_xavier_range": 3, "test_xavier_variance": 3, "test_layer_variances": 5, "test_depth_experiment": 5}


@pytest.fixture(scope="module")
def stability(tmp_path_factory):
    config_path = copy_course(ROOT, tmp_path_factory.mktemp("stability-course"), with_release=False)
    share_secret(config_path)
    run_step(config_path, "build", NAME)
    run_step(config_path, "samples", NAME)
    result = coursekit(config_path, "grade", NAME, "--workers", "2")
    assert result.returncode == 0, result.stderr[-3000:]
    steps = {step: run_step(config_path, step, NAME).stdout for step in ("feedback", "report", "similarity")}
    return load_config(config_path), steps


def feedback_text(config, student: str) -> str:
    from bs4 import BeautifulSoup
    page = config.directory("feedback") / student / NAME / f"{NAME}.html"
    return BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser").get_text()


def test_the_reference_scores_full_marks_the_blank_zero_and_the_partial_its_own_parts(stability):
    stability, _ = stability
    points = stability.assignment(NAME).points
    assert {gid: points[gid] for gid in AUTOGRADED} == AUTOGRADED
    _, rows = grade_rows(stability, NAME)
    rows = {row["student"]: row for row in rows}
    assert set(rows) == {"reference", "blank", "partial"}
    assert {gid: rows["reference"]["cells"][gid] for gid in AUTOGRADED} == {g: float(p) for g, p in AUTOGRADED.items()}
    assert {gid: rows["blank"]["cells"][gid] for gid in AUTOGRADED} == dict.fromkeys(AUTOGRADED, 0.0)
    lost = {"test_layer_variances", "test_depth_experiment"}
    assert {gid: rows["partial"]["cells"][gid] for gid in AUTOGRADED} == \
        {gid: 0.0 if gid in lost else float(p) for gid, p in AUTOGRADED.items()}


def test_the_feedback_says_why_each_mark_was_lost(stability):
    stability, _ = stability
    text = feedback_text(stability, "partial")
    assert "不要把输入 X 本身的方差算进去" in text
    assert "还没有实现" in feedback_text(stability, "blank")


def test_the_report_and_the_similarity_report_cover_the_assignment(stability):
    config, steps = stability
    assert "3 graded, 0 could not be graded" in steps["report"]
    assert all(gid in steps["report"] for gid in AUTOGRADED), steps["report"]
    assert "median 6" in steps["report"] and "max 16" in steps["report"]
    similarity = (config.root / "reports" / NAME / "similarity.html").read_text(encoding="utf-8")
    assert "reference" in similarity and "partial" in similarity


@pytest.fixture(scope="module")
def served_stability(tmp_path_factory):
    """`coursekit serve stability`: two students submit through nbgrader's exchange; the service grades each
    submission in the sandbox and releases its feedback."""
    import subprocess
    import sys

    import nbformat

    from coursekit.authoring.samples import make_submission
    from coursekit.service.journal import Journal, journal_path
    from dlcourse.stability.samples import SAMPLES
    from grader_tests.test_service import start_service, wait_for
    from tests.support.classroom import stop_service, submit

    base = tmp_path_factory.mktemp("served-stability")
    config_path = copy_course(ROOT, base / "course", with_release=False)
    text = config_path.read_text(encoding="utf-8")
    for old, new in (("poll_seconds = 2", "poll_seconds = 0.5"), ("due = 2026-12-21", "due = 2099-12-21")):
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    config_path.write_text(text, encoding="utf-8")
    run_step(config_path, "build", NAME)
    subprocess.run([sys.executable, "-m", "nbgrader", "release_assignment", NAME], cwd=config_path.parent,
                   check=True, capture_output=True)
    config = load_config(config_path)
    release = nbformat.read(config.directory("release") / NAME / f"{NAME}.ipynb", as_version=4)
    source = nbformat.read(config.directory("source") / NAME / f"{NAME}.ipynb", as_version=4)
    samples = {s.student: s for s in SAMPLES}
    journal = Journal(journal_path(config, NAME))
    service = start_service(config_path, base / "service.log", NAME)
    try:
        attempts = {student: submit(config, base / "homes" / student, student, NAME,
                                    {f"{NAME}.ipynb": nbformat.writes(make_submission(release, source,
                                                                                      samples[student])).encode()})
                    for student in ("reference", "partial")}
        released = lambda: {e["student"] for e in journal.lines() if e["event"] == "released"}
        wait_for("both students' feedback", lambda: set(attempts) <= released(), service)
    finally:
        stop_service(service)
    return config, attempts


def test_serve_grades_the_second_assignment_on_submit_and_releases_its_feedback(served_stability):
    from coursekit.service.watcher import feedback_page
    from grader_tests.test_feedback_and_report import page_text
    config, attempts = served_stability
    reference = page_text(feedback_page(config, attempts["reference"], f"{NAME}.ipynb"))
    partial = page_text(feedback_page(config, attempts["partial"], f"{NAME}.ipynb"))
    assert "总分：16 / 20" in reference, reference[:400]
    assert "总分：6 / 20" in partial and "不要把输入 X 本身的方差算进去" in partial
    _, rows = grade_rows(config, NAME)
    assert {row["student"]: row["score"] for row in rows} == {"reference": 16.0, "partial": 6.0}
