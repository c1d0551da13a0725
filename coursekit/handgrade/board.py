"""What the grading page shows for one question: the rubric, every answer with its grade, the groups.

:func:`question_board` puts together the rubric (source notebook), the grades (gradebook), the
answers (autograded notebooks) and the groups, as plain data the page's script reads as JSON.
Students appear as "答案 #n", numbered in an order that does not follow their ids; the ids are in
the data, and the page shows them only when the TA asks.
"""

from __future__ import annotations

import hashlib

from coursekit.config import CourseConfig
from coursekit.handgrade.answers import read_answers
from coursekit.handgrade.comments import parse_comment
from coursekit.handgrade.gradebook import CellGrade, read_grades, version
from coursekit.handgrade.groups import DEFAULT_THRESHOLD, group_answers
from coursekit.handgrade.render import answer_html
from coursekit.handgrade.rubric import (Rubric, hand_graded_questions, load_current_rubric, rubric_problems)

#: The states of an answer on the page.
UNGRADED, GRADED, ADJUSTED, OTHER, UNREADABLE = "ungraded", "graded", "adjusted", "other", "unreadable"


def anonymous_order(students: list[str], assignment: str) -> dict[str, int]:
    """student id -> 1, 2, …: numbers that keep the page anonymous (not alphabetical)."""
    keyed = sorted(students, key=lambda s: hashlib.sha1(f"{assignment}/{s}".encode()).hexdigest())
    return {student: k for k, student in enumerate(keyed, start=1)}


def answer_state(grade: CellGrade, rubric: Rubric) -> tuple[str, list[str], str]:
    """(state, ticked ids in rubric order, the TA's own comment) of one grade."""
    marks = parse_comment(grade.comment)
    known = {i.id for i in rubric.items}
    ticked = rubric.ordered(set(marks.ticked) & known)
    if grade.manual_score is None:
        return UNGRADED, ticked, marks.comment
    if not marks.structured:
        return OTHER, [], marks.comment  # graded in formgrader: a score, perhaps a comment
    if abs(rubric.score(set(ticked)) - grade.manual_score) > 1e-9:
        return ADJUSTED, ticked, marks.comment
    return GRADED, ticked, marks.comment


def rubric_data(rubric: Rubric) -> dict:
    return {"assignment": rubric.assignment, "question": rubric.question, "max_points": rubric.max_points,
            "version": rubric.version, "problems": rubric_problems(rubric),
            "prompt_html": answer_html(rubric.prompt),
            "items": [{"id": i.id, "points": i.points, "text": i.text, "wrong": i.wrong,
                       "html": answer_html(i.text)} for i in rubric.items]}


def question_board(config: CourseConfig, assignment: str, question: str,
                   threshold: float = DEFAULT_THRESHOLD) -> dict:
    """Everything the page needs for one question, as JSON-ready data."""
    rubric = load_current_rubric(config, assignment, question)
    grades = read_grades(config, assignment, question)
    students = sorted(grades)
    answers = read_answers(config, assignment, question, students)
    numbers = anonymous_order(students, assignment)
    rows = {}
    for student in students:
        grade, answer = grades[student], answers.get(student)
        state, ticked, comment = answer_state(grade, rubric)
        if answer is None:
            state = UNREADABLE
        rows[student] = {"student": student, "number": numbers[student], "state": state, "ticked": ticked,
                         "comment": comment, "score": grade.manual_score, "version": version(grade, answer),
                         "html": answer_html(answer.text) if answer else "",
                         "text": answer.text if answer else ""}
    groups = group_answers({s: a.text for s, a in answers.items()}, prompt=rubric.prompt, threshold=threshold)
    group_data = [{"kind": g.kind, "members": list(g.members)} for g in groups]
    unreadable = [s for s in students if s not in answers]
    if unreadable:
        group_data.append({"kind": UNREADABLE, "members": unreadable})
    graded = sum(1 for s in students if grades[s].manual_score is not None)
    return {"rubric": rubric_data(rubric), "answers": rows, "groups": group_data,
            "progress": {"graded": graded, "total": len(rows)}}


def progress(config: CourseConfig) -> list[dict]:
    """Every hand-graded question of every assignment with its graded / total answers."""
    found = []
    for assignment in config.assignments:
        try:
            questions = hand_graded_questions(config, assignment)
        except OSError:
            continue
        for question in questions:
            grades = read_grades(config, assignment, question)
            graded = sum(1 for g in grades.values() if g.manual_score is not None)
            found.append({"assignment": assignment, "question": question, "graded": graded, "total": len(grades)})
    return found
