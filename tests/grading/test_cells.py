"""coursekit.grading.cells: which kind of cell the grader sees (nbgrader's metadata), and the outputs it writes."""

from __future__ import annotations

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell

from coursekit.grading.cells import (NOTE_PREFIX, error_output, grade_id, is_answer, is_graded_test, is_trusted,
                                     note_output)


def nbgrader(cell, **meta):
    cell.metadata["nbgrader"] = {"grade": False, "solution": False, "locked": False, **meta}
    return cell


#: name -> (cell, (trusted, answer, graded test))
KINDS = {
    "plain code a student added": (new_code_cell("x = 1"), (False, False, False)),
    "locked instructor code": (nbgrader(new_code_cell("setup()"), locked=True, grade_id="setup"), (True, False, False)),
    "answer cell": (nbgrader(new_code_cell("def f(): ..."), solution=True, grade_id="f"), (False, True, False)),
    "locked test cell": (nbgrader(new_code_cell("assert f()"), grade=True, locked=True, grade_id="test_f"),
                         (True, False, True)),
    "graded answer cell": (nbgrader(new_code_cell("..."), grade=True, solution=True, grade_id="g"), (False, True, False)),
    "written answer (markdown)": (nbgrader(new_markdown_cell("..."), grade=True, solution=True, grade_id="answer_q1"),
                                  (False, False, False)),
    "locked markdown": (nbgrader(new_markdown_cell("# Lab"), locked=True, grade_id="intro"), (False, False, False)),
}


@pytest.mark.parametrize("name", KINDS)
def test_each_kind_of_cell(name):
    cell, expected = KINDS[name]
    assert (is_trusted(cell), is_answer(cell), is_graded_test(cell)) == expected


def test_grade_id_of_a_cell_with_and_without_nbgrader_metadata():
    assert grade_id(KINDS["locked test cell"][0]) == "test_f"
    assert grade_id(new_code_cell("x = 1")) is None


def test_the_outputs_are_valid_notebook_outputs_that_say_what_they_say():
    error, note = error_output("CheckFailed", "f(2) 应为 4"), note_output("跳过")
    assert (error.ename, error.evalue, error.traceback) == ("CheckFailed", "f(2) 应为 4", ["CheckFailed: f(2) 应为 4"])
    assert (note.name, note.text) == ("stderr", f"{NOTE_PREFIX} 跳过\n")
    cell = new_code_cell("f(2)", outputs=[error, note])
    nb = nbformat.v4.new_notebook(cells=[cell])
    nbformat.validate(nb)  # what nbgrader and nbconvert read back
    assert nbformat.reads(nbformat.writes(nb), as_version=4).cells[0].outputs == [error, note]
