"""The grade table printed after grading: one row per submission, one column per graded cell."""

from __future__ import annotations

from coursekit.config import CourseConfig
from coursekit.grading.nbgrader_settings import open_gradebook
from coursekit.grading.report import read_grading_failures


def grade_rows(config: CourseConfig, name: str) -> tuple[list[str], list[dict]]:
    """(grade ids in notebook order, one dict per submission) read from nbgrader's gradebook."""
    assignment = config.assignment(name)
    notebook = assignment.notebook.removesuffix(".ipynb")
    grade_ids = list(assignment.points)
    rows = []
    failed = read_grading_failures(config, name)
    with open_gradebook(config) as gradebook:
        for submission in sorted(gradebook.assignment_submissions(name), key=lambda s: s.student.id):
            student = submission.student.id
            if student in failed:  # nbgrader keeps a record of a submission it failed to grade
                continue
            cells = {}
            for gid in grade_ids:
                grade = gradebook.find_grade(gid, notebook, name, student)
                cells[gid] = None if grade.needs_manual_grade else grade.score
            rows.append({
                "student": student,
                "auto": submission.code_score,
                "max_auto": submission.max_code_score,
                "score": submission.score,
                "max_score": submission.max_score,
                "manual_pending": submission.needs_manual_grade,
                "late_penalty": submission.late_submission_penalty,
                "cells": cells,
            })
    return grade_ids, rows


def grade_table(config: CourseConfig, name: str) -> str:
    """A plain-text table: student, autograded score, each test cell's score."""
    grade_ids, rows = grade_rows(config, name)
    tests = [gid for gid in grade_ids if gid.startswith("test_")]
    header = ["student", "auto"] + [gid.removeprefix("test_") for gid in tests] + ["status"]
    lines = [header]
    for row in rows:
        status = "思考题 to grade by hand" if row["manual_pending"] else "graded"
        if row["late_penalty"]:
            status += f", late (-{row['late_penalty']:g})"
        lines.append([row["student"], f"{row['auto']:g}/{row['max_auto']:g}"]
                     + [_fmt(row["cells"][gid]) for gid in tests] + [status])
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    text = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths)) for line in lines]
    text.insert(1, "  ".join("-" * width for width in widths))
    text += [f"{student}: could not be graded: {reason}" for student, reason in
             sorted(read_grading_failures(config, name).items())]
    return f"Grades for '{name}' (autograded points; 思考题 are graded by hand in formgrader)\n" + "\n".join(text)


def _fmt(score: float | None) -> str:
    return "-" if score is None else f"{score:g}"
