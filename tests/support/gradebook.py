"""A scratch gradebook as nbgrader's autograde leaves it: an assignment, its notebook's graded and answer
cells (from the release notebook's metadata) and a submission of each student."""

from __future__ import annotations

from collections.abc import Iterable

from nbformat import NotebookNode

from coursekit.grading.nbgrader_settings import open_gradebook


def register_submissions(config, assignment: str, release: NotebookNode, students: Iterable[str]) -> None:
    notebook = config.assignment(assignment).notebook.removesuffix(".ipynb")
    with open_gradebook(config) as gradebook:
        gradebook.update_or_create_assignment(assignment)
        gradebook.update_or_create_notebook(notebook, assignment)
        for cell in release.cells:
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("grade"):
                gradebook.update_or_create_grade_cell(meta["grade_id"], notebook, assignment,
                                                      max_score=meta["points"], cell_type=cell.cell_type)
            if meta.get("solution"):
                gradebook.update_or_create_solution_cell(meta["grade_id"], notebook, assignment)
        for student in students:
            gradebook.update_or_create_student(student)
            gradebook.add_submission(assignment, student)
