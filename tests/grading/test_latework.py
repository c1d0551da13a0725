"""coursekit.grading.latework and coursekit.grading.gradetable on a small gradebook made here."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
from nbgrader.api import Gradebook

from coursekit.config import load_config
from coursekit.grading.gradetable import grade_rows, grade_table
from coursekit.grading.latework import zero_late_work

ROOT = Path(__file__).resolve().parents[2]
DUE = dt.datetime(2026, 12, 14, 15, 59)


@pytest.fixture
def course(tmp_path, alembic_on_path):
    """A course folder with the real course.toml and a gradebook: ann on time, bob a day late."""
    shutil.copy(ROOT / "course.toml", tmp_path / "course.toml")
    config = load_config(tmp_path / "course.toml")
    points = config.assignment("lab2").points
    with Gradebook(f"sqlite:///{tmp_path / 'gradebook.db'}") as gradebook:
        gradebook.add_assignment("lab2", duedate=DUE)
        gradebook.add_notebook("lab2", "lab2")
        for gid, value in points.items():
            manual = gid.startswith("answer_")
            gradebook.add_grade_cell(gid, "lab2", "lab2", max_score=value, cell_type="markdown" if manual else "code")
            if manual:
                gradebook.add_solution_cell(gid, "lab2", "lab2")
        for student, delay in (("ann", dt.timedelta(hours=-1)), ("bob", dt.timedelta(days=1))):
            gradebook.add_student(student)
            gradebook.add_submission("lab2", student, timestamp=DUE + delay)
            for gid, value in points.items():
                grade = gradebook.find_grade(gid, "lab2", "lab2", student)
                if gid.startswith("answer_"):
                    grade.manual_score = 3 if gid == "answer_q1" else None
                else:
                    grade.auto_score = 0 if gid == "test_dropout_scaling" else value
                    grade.needs_manual_grade = False  # as nbgrader leaves an autograded test cell
        gradebook.db.commit()
    return config


def test_late_work_scores_zero_including_hand_grades_and_only_once(course):
    with Gradebook(f"sqlite:///{course.root / 'gradebook.db'}") as gradebook:
        assert zero_late_work(gradebook, "lab2") == ["bob"]
        bob = gradebook.find_submission("lab2", "bob")
        assert bob.score == 79 and bob.late_submission_penalty == 79, "76 autograded + 3 by hand, all of it"
        assert gradebook.find_submission("lab2", "ann").late_submission_penalty in (0, None)
        assert zero_late_work(gradebook, "lab2") == [], "already applied: nothing changes"
        assert zero_late_work(gradebook, "another") == []


def test_the_grade_table_reads_every_part_and_the_late_penalty(course):
    with Gradebook(f"sqlite:///{course.root / 'gradebook.db'}") as gradebook:
        zero_late_work(gradebook, "lab2")
    grade_ids, rows = grade_rows(course, "lab2")
    assert grade_ids == list(course.assignment("lab2").points)
    ann, bob = rows
    assert (ann["student"], ann["auto"], ann["max_auto"]) == ("ann", 76, 80)
    assert ann["cells"]["test_dropout_scaling"] == 0 and ann["cells"]["test_relu"] == 3
    assert ann["cells"]["answer_q2"] is None and ann["manual_pending"], "a 思考题 not yet graded"
    assert bob["late_penalty"] == 79
    table = grade_table(course, "lab2")
    lines = table.splitlines()
    assert lines[3].split()[:3] == ["ann", "76/80", "3"] and lines[4].split()[:2] == ["bob", "76/80"], lines
    assert lines[3].split().count("0") == 1, "one lost part"
    assert lines[4].endswith("思考题 to grade by hand, late (-79)") and len(lines) == 5
