"""The demo's samples get exactly the marks they deserve, each lost mark with a reason."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat

from coursekit.grading.gradetable import grade_rows

EXPECTED = json.loads((Path(__file__).parent / "files" / "expected_scores.json").read_text(encoding="utf-8"))
TESTS = list(EXPECTED["full"])
# Which autograded cells each submission loses (all others score full points).
EXPECTED_LOST = {
    "reference": set(),
    "blank": set(TESTS),
    **{student: set(lost) for student, lost in EXPECTED["lost"].items()},
    "late": set(EXPECTED["lost"]["partial"]),  # the partial notebook, a day late
}


def rows_by_student(config):
    _, rows = grade_rows(config, "lab2")
    return {row["student"]: row for row in rows}


def test_each_sample_scores_exactly_what_it_deserves(graded_config):
    rows = rows_by_student(graded_config)
    points = graded_config.assignment("lab2").points
    assert EXPECTED["full"] == {gid: points[gid] for gid in TESTS}, "expected_scores.json agrees with course.toml"
    assert set(rows) == set(EXPECTED_LOST)
    for student, lost in EXPECTED_LOST.items():
        cells = rows[student]["cells"]
        expected = {gid: (0.0 if gid in lost else float(EXPECTED["full"][gid])) for gid in TESTS}
        assert {gid: cells[gid] for gid in TESTS} == expected, student
        assert rows[student]["auto"] == sum(expected.values())
    assert rows["reference"]["auto"] == rows["reference"]["max_auto"] == 80
    assert rows["partial"]["auto"] == 70
    # late_policy = "zero": the late copy keeps its test results, and its penalty is its whole score
    assert rows["late"]["late_penalty"] == rows["late"]["score"] >= 70
    assert rows["partial"]["late_penalty"] == 0


def failure_messages(config, student) -> dict[str, str]:
    """grade_id -> the error the test cell raised, from the autograded notebook."""
    path = config.directory("autograded") / student / "lab2" / "lab2.ipynb"
    messages = {}
    for cell in nbformat.read(path, as_version=4).cells:
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        for output in cell.get("outputs", []):
            if output.output_type == "error" and gid in TESTS:
                messages[gid] = f"{output.ename}: {output.evalue}"
    return messages


def test_every_lost_mark_has_a_reason_in_words(graded_config):
    for student, lost in EXPECTED_LOST.items():
        messages = failure_messages(graded_config, student)
        assert set(messages) == lost, student
        for gid, message in messages.items():
            assert message.startswith("CheckFailed: "), (student, gid, message)
            assert len(message) > 30, (student, gid, message)
    blank = failure_messages(graded_config, "blank")
    assert "还没有实现" in blank["test_relu"] and "MyReLU" in blank["test_relu"]
    assert "没有完成" in blank["test_dropout_experiment"]
    partial = failure_messages(graded_config, "partial")
    assert "1 - dropout" in partial["test_dropout_scaling"] and "期望" in partial["test_dropout_scaling"]
    assert "没有通过 test_dropout_scaling" in partial["test_dropout_experiment"], "the experiment names the part to fix"
    relu = failure_messages(graded_config, "unfinished_relu")
    assert "MyReLU" in relu["test_gradient_vanishing"] and "test_relu" in relu["test_gradient_vanishing"]
    tanh = failure_messages(graded_config, "tanh_builtin")
    assert "torch.tanh" in tanh["test_tanh"] and "不允许" in tanh["test_tanh"]


def test_feedback_html_exists_and_shows_the_reason_and_the_figures(graded_config):
    feedback = graded_config.directory("feedback") / "partial" / "lab2" / "lab2.html"
    html = feedback.read_text(encoding="utf-8")
    assert "1 - dropout" in html
    assert html.count("data:image/png;base64") >= 4, "the experiments' figures are embedded"
    for student in EXPECTED_LOST:
        assert (graded_config.directory("feedback") / student / "lab2" / "lab2.html").is_file()

