"""What kind of cell a notebook cell is for the grader, and the outputs the grader writes into cells.

The kinds come from nbgrader's own metadata helpers (``nbgrader.utils``); the sanitize step
(:class:`coursekit.grading.execute.RepairTestCells`, then nbgrader's OverwriteCells) has already put
every instructor cell's metadata back from the gradebook, so a student cannot change a cell's kind.
"""

from __future__ import annotations

from nbformat import NotebookNode
from nbgrader.utils import is_grade, is_locked, is_solution

#: Prefix of the notes the grader adds to a cell's output (the feedback summary collects them).
NOTE_PREFIX = "[评分程序]"


def is_trusted(cell: NotebookNode) -> bool:
    """An instructor-written code cell: locked by nbgrader and not a solution cell."""
    return cell.cell_type == "code" and is_locked(cell) and not is_solution(cell)


def is_answer(cell: NotebookNode) -> bool:
    """A code cell the student answers in (an nbgrader solution cell)."""
    return cell.cell_type == "code" and is_solution(cell)


def is_graded_test(cell: NotebookNode) -> bool:
    """An autograded test cell."""
    return cell.cell_type == "code" and is_grade(cell) and not is_solution(cell)


def grade_id(cell: NotebookNode) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def error_output(ename: str, evalue: str) -> NotebookNode:
    return NotebookNode(output_type="error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])


def note_output(text: str) -> NotebookNode:
    return NotebookNode(output_type="stream", name="stderr", text=f"{NOTE_PREFIX} {text}\n")
