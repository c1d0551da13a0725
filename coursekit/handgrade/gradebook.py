"""Hand grades in nbgrader's gradebook: the manual score of the answer cell and its comment.

A grade written here is what formgrader writes (``Grade.manual_score``, ``needs_manual_grade``,
``Comment.manual_comment``), so formgrader, feedback, the late policy, grades, export and the class
report read it unchanged. The gradebook is the only store: which items an answer has is read back
from its comment (:mod:`coursekit.handgrade.comments`).

Every answer the page shows carries a version (:func:`version`: its score, its comment and the
answer's text). A write names the versions it was decided on; if any answer changed since (another
TA graded it, formgrader changed it, the student's notebook was graded again), nothing is written
and :class:`StaleGrade` says which answers changed. Writes of one server are serialized by a lock,
and each write is one database transaction.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass

from coursekit.config import CourseConfig
from coursekit.grading.nbgrader_settings import open_gradebook
from coursekit.handgrade.answers import Answer, read_answer
from coursekit.handgrade.comments import format_comment, parse_comment
from coursekit.handgrade.rubric import Rubric

_write_lock = threading.Lock()


class StaleGrade(RuntimeError):
    """Answers that changed since the page loaded them: nothing was written."""

    def __init__(self, students: list[str]) -> None:
        super().__init__(f"{len(students)} 份答案在页面加载后已被修改（另一位助教评过分，或重新评测过）；"
                         "没有保存任何改动，请刷新后再评")
        self.students = students


class GradeMissing(LookupError):
    """A student with no submission of the assignment in the gradebook."""


@dataclass(frozen=True)
class Decision:
    """A grade to write: whose answer, and the version the TA saw."""

    student: str
    version: str


@dataclass(frozen=True)
class CellGrade:
    """One student's grade of the question, as the gradebook has it."""

    student: str
    manual_score: float | None
    auto_score: float | None
    max_score: float
    comment: str | None

    @property
    def graded(self) -> bool:
        return self.manual_score is not None or self.auto_score is not None


def version(grade: CellGrade, answer: Answer | None) -> str:
    """What a page's decision was made on: the grade's score, its comment and the answer's text."""
    text = f"{grade.manual_score!r}\n{grade.comment or ''}\n{answer.digest if answer else '-'}"
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:12]


def _rows(gradebook, assignment: str, question: str, students: list[str] | None = None):
    """(student id, Grade, Comment) of every submission of the assignment that has this cell."""
    from nbgrader.api import (Assignment, BaseCell, Comment, Grade, GradeCell, SubmittedAssignment,
                              SubmittedNotebook)
    db = gradebook.db
    query = (db.query(SubmittedAssignment.student_id, Grade, GradeCell.max_score)
             .join(SubmittedNotebook, Grade.notebook_id == SubmittedNotebook.id)
             .join(SubmittedAssignment, SubmittedNotebook.assignment_id == SubmittedAssignment.id)
             .join(Assignment, SubmittedAssignment.assignment_id == Assignment.id)
             .join(GradeCell, Grade.cell_id == GradeCell.id)
             .filter(Assignment.name == assignment, GradeCell.name == question))
    if students is not None:
        query = query.filter(SubmittedAssignment.student_id.in_(students))
    grades = query.all()
    comments = dict(db.query(Comment.notebook_id, Comment)
                    .join(BaseCell, Comment.cell_id == BaseCell.id)
                    .filter(BaseCell.name == question,
                            Comment.notebook_id.in_([g.notebook_id for _, g, _ in grades]))
                    .all()) if grades else {}
    return [(student, grade, max_score, comments.get(grade.notebook_id)) for student, grade, max_score in grades]


def _cell_grade(student: str, grade, max_score, comment) -> CellGrade:
    return CellGrade(student, grade.manual_score, grade.auto_score, float(max_score or 0),
                     comment.manual_comment if comment is not None else None)


def read_grades(config: CourseConfig, assignment: str, question: str) -> dict[str, CellGrade]:
    """Every submission's grade of the question, by student id."""
    with open_gradebook(config) as gradebook:
        return {student: _cell_grade(student, grade, max_score, comment)
                for student, grade, max_score, comment in _rows(gradebook, assignment, question)}


@dataclass(frozen=True)
class Written:
    """What a write did: the grades written, by student, with their new versions."""

    versions: dict[str, str]
    score: float


def write_grades(config: CourseConfig, rubric: Rubric, decisions: list[Decision], ticked: set[str],
                 comment: str = "") -> Written:
    """Give every decided answer the score of the `ticked` items and their comment, in one transaction.

    Raises StaleGrade (nothing written) when any answer's version is not the one decided on,
    GradeMissing for a student without a submission, RubricError for an unknown item.
    """
    text = format_comment(rubric, ticked, comment)
    score = rubric.score(ticked)
    students = [d.student for d in decisions]
    with _write_lock, open_gradebook(config) as gradebook:
        rows = {student: (grade, max_score, comment_row)
                for student, grade, max_score, comment_row in _rows(gradebook, rubric.assignment, rubric.question,
                                                                    students)}
        missing = sorted(set(students) - set(rows))
        if missing:
            raise GradeMissing(f"no submission of {rubric.assignment} in the gradebook for: {', '.join(missing)}")
        answers = {s: read_answer(config, rubric.assignment, rubric.question, s) for s in students}
        stale = [d.student for d in decisions
                 if version(_cell_grade(d.student, *rows[d.student]), answers[d.student]) != d.version]
        if stale:
            raise StaleGrade(stale)
        versions = {}
        try:
            for student in students:
                grade, max_score, comment_row = rows[student]
                _put(grade, comment_row, score, text)
                versions[student] = version(_cell_grade(student, grade, max_score, comment_row), answers[student])
            gradebook.db.commit()
        except Exception:
            gradebook.db.rollback()
            raise
    return Written(versions, score)


def _put(grade, comment_row, score: float | None, text: str | None) -> None:
    """What formgrader's grade and comment handlers do."""
    grade.manual_score = score
    grade.needs_manual_grade = grade.manual_score is None and grade.auto_score is None
    if comment_row is not None:
        comment_row.manual_comment = text


@dataclass(frozen=True)
class Rescored:
    """What changing an item's points did."""

    rescored: list[str]       # answers with the item ticked: score and comment rewritten
    rewritten: list[str]      # other answers graded with items: comment rewritten (the item's points in it)
    kept: list[str]           # score set by hand elsewhere (it is not their items' score): left as they are


def rescore(config: CourseConfig, old: Rubric, new: Rubric, item_id: str) -> Rescored:
    """After an item's points changed from `old` to `new`: every answer graded with items gets the
    new score and comment; an answer whose score is not its items' score (changed in formgrader)
    is left as it is, and listed."""
    rescored, rewritten, kept = [], [], []
    with _write_lock, open_gradebook(config) as gradebook:
        try:
            for student, grade, _max, comment_row in _rows(gradebook, old.assignment, old.question):
                marks = parse_comment(comment_row.manual_comment if comment_row is not None else None)
                if not marks.structured or grade.manual_score is None:
                    continue
                if abs(grade.manual_score - old.score(marks.ticked)) > 1e-9:
                    kept.append(student)
                    continue
                ticked = {i for i in marks.ticked if any(item.id == i for item in new.items)}
                _put(grade, comment_row, new.score(ticked), format_comment(new, ticked, marks.comment))
                (rescored if item_id in ticked else rewritten).append(student)
            gradebook.db.commit()
        except Exception:
            gradebook.db.rollback()
            raise
    return Rescored(sorted(rescored), sorted(rewritten), sorted(kept))
