"""coursekit.handgrade.gradebook and board: grades written as formgrader writes them, stale pages refused."""

from __future__ import annotations

import pytest

from coursekit.grading.nbgrader_settings import open_gradebook
from coursekit.handgrade.board import ADJUSTED, GRADED, OTHER, UNGRADED, question_board
from coursekit.handgrade.comments import parse_comment
from coursekit.handgrade.gradebook import (Decision, GradeMissing, StaleGrade, read_grades, rescore, version,
                                           write_grades)
from coursekit.handgrade.rubric import load_current_rubric, set_item_points

from conftest import write_answer


def decisions(board, *students):
    return [Decision(s, board["answers"][s]["version"]) for s in students]


def formgrader_view(config, student, question="answer_q1"):
    """What formgrader and generate_feedback read: nbgrader's Grade and Comment of the cell."""
    with open_gradebook(config) as gradebook:
        grade = gradebook.find_grade(question, "lab2", "lab2", student)
        comment = gradebook.find_comment(question, "lab2", "lab2", student)
        return grade.manual_score, grade.needs_manual_grade, comment.manual_comment, grade.score


def test_the_board_lists_every_answer_anonymously_with_groups(course):
    board = question_board(course, "lab2", "answer_q1")
    assert sorted(board["answers"]) == ["alice", "bob", "carol", "dave"]
    assert sorted(a["number"] for a in board["answers"].values()) == [1, 2, 3, 4]
    assert board["progress"] == {"graded": 0, "total": 4}
    assert all(a["state"] == UNGRADED for a in board["answers"].values())
    groups = [(g["kind"], sorted(g["members"])) for g in board["groups"]]
    assert ("similar", ["alice", "bob"]) in groups and ("blank", ["dave"]) in groups
    assert [i["id"] for i in board["rubric"]["items"]] == list("ABCDEF")
    assert board["rubric"]["items"][0]["html"].startswith("<p>指出多层线性映射")


def test_a_group_decision_is_nbgraders_manual_score_and_comment(course):
    board = question_board(course, "lab2", "answer_q1")
    written = write_grades(course, load_current_rubric(course, "lab2", "answer_q1"),
                           decisions(board, "alice", "bob"), {"A", "B"}, "好")
    assert written.score == 3 and set(written.versions) == {"alice", "bob"}
    for student in ("alice", "bob"):
        score, needs, comment, total = formgrader_view(course, student)
        assert (score, needs, total) == (3, False, 3)
        assert parse_comment(comment).ticked == {"A", "B"} and comment.endswith("**助教评语：** 好")
    assert formgrader_view(course, "carol")[:3] == (None, True, None)
    board = question_board(course, "lab2", "answer_q1")
    assert board["progress"]["graded"] == 2 and board["answers"]["alice"]["state"] == GRADED
    assert board["answers"]["alice"]["ticked"] == ["A", "B"] and board["answers"]["alice"]["version"] == written.versions["alice"]


def test_a_stale_decision_writes_nothing(course):
    board = question_board(course, "lab2", "answer_q1")
    rubric = load_current_rubric(course, "lab2", "answer_q1")
    write_grades(course, rubric, decisions(board, "bob"), {"A"})  # the other TA, first
    with pytest.raises(StaleGrade) as refused:
        write_grades(course, rubric, decisions(board, "alice", "bob"), {"A", "B", "C"})
    assert refused.value.students == ["bob"] and "没有保存任何改动" in str(refused.value)
    assert formgrader_view(course, "alice")[0] is None, "nothing of the refused write"
    assert formgrader_view(course, "bob")[0] == 2


def test_an_answer_graded_again_after_the_page_loaded_is_stale(course):
    board = question_board(course, "lab2", "answer_q1")
    write_answer(course, "carol", {"answer_q1": "重新提交：线性层合并后等价于一层。"})
    with pytest.raises(StaleGrade):
        write_grades(course, load_current_rubric(course, "lab2", "answer_q1"), decisions(board, "carol"), {"A"})


def test_unknown_student_is_refused(course):
    with pytest.raises(GradeMissing, match="nobody"):
        write_grades(course, load_current_rubric(course, "lab2", "answer_q1"), [Decision("nobody", "x")], {"A"})


def test_changing_an_items_points_rescores_every_answer_that_has_it(course):
    board = question_board(course, "lab2", "answer_q1")
    old = load_current_rubric(course, "lab2", "answer_q1")
    write_grades(course, old, decisions(board, "alice", "bob"), {"A", "B"})
    write_grades(course, old, decisions(board, "carol"), {"C", "D"})
    with open_gradebook(course) as gradebook:  # bob's score changed by hand in formgrader
        gradebook.find_grade("answer_q1", "lab2", "lab2", "bob").manual_score = 3.5
        gradebook.db.commit()
    new = set_item_points(course, "lab2", "answer_q1", "B", 0.5, old.version)
    done = rescore(course, old, new, "B")
    assert (done.rescored, done.rewritten, done.kept) == (["alice"], ["carol"], ["bob"])
    assert formgrader_view(course, "alice")[0] == 2.5 and "- ✓ [B] +0.5 " in formgrader_view(course, "alice")[2]
    assert formgrader_view(course, "carol")[0] == 0 and "未得 +0.5" in formgrader_view(course, "carol")[2]
    assert formgrader_view(course, "bob")[0] == 3.5
    states = {s: a["state"] for s, a in question_board(course, "lab2", "answer_q1")["answers"].items()}
    assert states == {"alice": GRADED, "bob": ADJUSTED, "carol": GRADED, "dave": UNGRADED}


def test_a_grade_from_formgrader_is_shown_with_its_words(course):
    with open_gradebook(course) as gradebook:
        gradebook.find_grade("answer_q1", "lab2", "lab2", "dave").manual_score = 0
        gradebook.find_comment("answer_q1", "lab2", "lab2", "dave").manual_comment = "没有作答"
        gradebook.db.commit()
    answer = question_board(course, "lab2", "answer_q1")["answers"]["dave"]
    assert (answer["state"], answer["comment"], answer["score"]) == (OTHER, "没有作答", 0)
    grades = read_grades(course, "lab2", "answer_q1")
    assert version(grades["dave"], None) != answer["version"], "the answer's text is part of the version"
