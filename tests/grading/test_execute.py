"""coursekit.grading.execute: nbgrader's execute step on small notebooks, in a real (unsandboxed) kernel.

Only instructor cells and answer cells run; a cell of the student's own does not; the verdict of a
graded cell is the judge's; tampering stops everything before it runs."""

from __future__ import annotations

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from coursekit.grading.execute import GuardedExecute


def meta(grade_id: str, *, grade=False, solution=False, locked=False, points=None) -> dict:
    values = {"grade_id": grade_id, "grade": grade, "solution": solution, "locked": locked, "schema_version": 3}
    if points is not None:
        values["points"] = points
    return {"nbgrader": values}


def notebook(answer: str, added: str = "print('exploring')") -> nbformat.NotebookNode:
    return new_notebook(cells=[
        new_code_cell("import torch\nfrom coursekit.lab.parts import check", metadata=meta("setup", locked=True)),
        new_code_cell(answer, metadata=meta("l2_penalty", solution=True)),
        new_code_cell(added),  # the student's own cell
        new_code_cell('"""l2_penalty."""\ncheck("test_l2_penalty", l2_penalty)\n'
                      'check("test_l2_penalty", l2_penalty, cases="hidden")',
                      metadata=meta("test_l2_penalty", grade=True, locked=True, points=6)),
    ])


def run(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    executor = GuardedExecute(timeout=120)
    nb, _ = executor.preprocess(nb, {"metadata": {"path": "."}})
    return nb


def texts(cell) -> list[str]:
    return [o.get("text") or f"{o.get('ename')}: {o.get('evalue')}" for o in cell.outputs]


RIGHT = "def l2_penalty(w):\n    return (w ** 2).sum() / 2"


def test_a_right_answer_passes_and_the_students_own_cell_does_not_run():
    nb = run(notebook(RIGHT, added="check = lambda *args, **kwargs: None  # planted, never run"))
    added, graded = nb.cells[2], nb.cells[3]
    assert any("评分时不运行你自己添加的单元格" in t for t in texts(added))
    assert [o.output_type for o in graded.outputs] == ["stream"] and "通过" in graded.outputs[0].text
    assert not any(o.get("data", {}) for o in graded.outputs), "the measurement is taken out of the notebook"


def test_a_wrong_answer_fails_with_the_judges_message():
    nb = run(notebook("def l2_penalty(w):\n    return (w ** 2).sum()"))
    graded = nb.cells[3]
    assert graded.outputs[-1].output_type == "error" and graded.outputs[-1].ename == "CheckFailed"
    assert "平方和的一半" in graded.outputs[-1].evalue


@pytest.mark.parametrize("attack", ["import coursekit.lab.parts as p\np.judge = lambda m: None",
                                    "check = lambda *args, **kwargs: None"])
def test_tampering_in_an_answer_cell_runs_nothing_and_fails_every_graded_cell(attack):
    nb = run(notebook(RIGHT + "\n" + attack))
    assert nb.cells[1].outputs == [], "the answer cell did not run"
    error = nb.cells[3].outputs[-1]
    assert error.ename == "TamperingDetected" and "答案单元格 l2_penalty 第 3 行" in error.evalue
