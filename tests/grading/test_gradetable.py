"""coursekit.grading.gradetable: the grade table read from nbgrader's gradebook, without the submissions
that could not be graded (listed with their reason below the table instead)."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import sys
from pathlib import Path

import pytest
from nbgrader.api import Gradebook

from coursekit.config import load_config
from coursekit.grading.gradetable import grade_rows, grade_table
from coursekit.grading.report import record_grading_failures

ROOT = Path(__file__).resolve().parents[2]
DUE = dt.datetime(2026, 12, 14, 15, 59)


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """ann: every test passed, the 思考题 graded by hand; cid: one test lost, no 思考题 graded yet;
    bea: nbgrader kept a submission it could not grade. (Read only by the tests: made once.)"""
    tmp_path = tmp_path_factory.mktemp("gradetable")
    with pytest.MonkeyPatch.context() as patch:  # nbgrader runs `alembic` from PATH to create the gradebook
        patch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
        return make_course(tmp_path)


def make_course(tmp_path: Path):
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
        for student in ("ann", "bea", "cid"):
            gradebook.add_student(student)
            gradebook.add_submission("lab2", student, timestamp=DUE - dt.timedelta(hours=1))
            for gid, value in points.items():
                grade = gradebook.find_grade(gid, "lab2", "lab2", student)
                if gid.startswith("answer_"):
                    grade.manual_score = value if student == "ann" else None
                    grade.needs_manual_grade = student != "ann"
                else:
                    grade.auto_score = 0 if (student, gid) == ("cid", "test_sigmoid") else value
                    grade.needs_manual_grade = False
        gradebook.db.commit()
    record_grading_failures(config, "lab2", [], {"bea": "lab2.ipynb 是空文件（0 字节）"})
    return config


def test_rows_hold_every_part_and_leave_out_what_could_not_be_graded(course):
    points = course.assignment("lab2").points
    grade_ids, rows = grade_rows(course, "lab2")
    assert grade_ids == list(points)
    assert [row["student"] for row in rows] == ["ann", "cid"], "bea could not be graded"
    ann, cid = rows
    auto = sum(v for gid, v in points.items() if not gid.startswith("answer_"))
    assert (ann["auto"], ann["max_auto"], ann["manual_pending"]) == (auto, auto, False)
    assert ann["score"] == ann["max_score"] == sum(points.values())
    assert cid["auto"] == auto - points["test_sigmoid"] and cid["cells"]["test_sigmoid"] == 0
    assert cid["manual_pending"] and all(cid["cells"][gid] is None for gid in points if gid.startswith("answer_"))


def test_the_table_has_a_line_per_graded_submission_and_the_reasons_below(course):
    points = course.assignment("lab2").points
    tests = [gid for gid in points if gid.startswith("test_")]
    auto = sum(v for gid, v in points.items() if not gid.startswith("answer_"))
    lines = grade_table(course, "lab2").splitlines()
    header = lines[1].split()
    assert header == ["student", "auto", *(gid.removeprefix("test_") for gid in tests), "status"]
    assert set(lines[2].replace(" ", "")) == {"-"}, "the rule under the header"
    ann, cid = lines[3].split(), lines[4].split()
    assert ann == ["ann", f"{auto:g}/{auto:g}", *(f"{points[g]:g}" for g in tests), "graded"]
    assert cid[:2] == ["cid", f"{auto - points['test_sigmoid']:g}/{auto:g}"]
    assert cid[2 + tests.index("test_sigmoid")] == "0" and lines[4].endswith("思考题 to grade by hand")
    assert lines[5:] == ["bea: could not be graded: lab2.ipynb 是空文件（0 字节）"]
    assert len({len(line) for line in lines[1:5]}) <= 2, "columns padded to one width (the last may be shorter)"
