"""coursekit.grading.execute: nbgrader's execute step on small notebooks, in a real (unsandboxed) kernel.

Only instructor cells and answer cells run in the kernel; a cell of the student's own does not; a
graded cell does not run there either: its outputs are the judge's (coursekit.grading.judge)."""

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
        new_code_cell("import torch\nfrom dlcourse.lab2 import check", metadata=meta("setup", locked=True)),
        new_code_cell(answer, metadata=meta("l2_penalty", solution=True)),
        new_code_cell(added),  # the student's own cell
        new_code_cell('"""l2_penalty."""\ncheck("test_l2_penalty", l2_penalty)\n'
                      'check("test_l2_penalty", l2_penalty, cases="hidden")',
                      metadata=meta("test_l2_penalty", grade=True, locked=True, points=6)),
    ])


def run(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    executor = GuardedExecute(timeout=120)
    nb, _ = executor.preprocess(nb, {"metadata": {"path": "."}, "nbgrader": {"assignment": "lab2"}})
    return nb


def texts(cell) -> list[str]:
    return [o.get("text") or f"{o.get('ename')}: {o.get('evalue')}" for o in cell.outputs]


RIGHT = "def l2_penalty(w):\n    return (w ** 2).sum() / 2"


def test_a_right_answer_passes_and_the_students_own_cell_does_not_run():
    nb = run(notebook(RIGHT, added="check = lambda *args, **kwargs: None  # planted, never run"))
    added, graded = nb.cells[2], nb.cells[3]
    assert any("评分时不运行你自己添加的单元格" in t for t in texts(added))
    assert [o.output_type for o in graded.outputs] == ["stream"] and "通过" in graded.outputs[0].text


def test_a_wrong_answer_fails_with_the_judges_message():
    nb = run(notebook("def l2_penalty(w):\n    return (w ** 2).sum()"))
    graded = nb.cells[3]
    assert graded.outputs[-1].output_type == "error" and graded.outputs[-1].ename == "CheckFailed"
    assert "平方和的一半" in graded.outputs[-1].evalue


def test_tampering_in_an_answer_cell_fails_its_todo_with_the_line():
    nb = run(notebook(RIGHT + "\nimport gc"))
    error = nb.cells[3].outputs[-1]
    assert error.ename == "CheckFailed" and "答案单元格 l2_penalty 伸手去改评分进程" in error.evalue
    assert "第 3 行`import gc`" in error.evalue


@pytest.fixture
def sandboxed(tmp_path, monkeypatch):
    """A sandbox prepared as `coursekit grade` prepares it for one submission (its spec in the
    environment); yields the kernel's working folder, which does not exist outside."""
    import shutil
    from pathlib import Path

    from coursekit.config import load_config
    from coursekit.grading import sandbox
    from coursekit.grading.classgrade import kernel_environment
    if shutil.which("bwrap") is None:
        pytest.skip("bubblewrap is not installed (apt-get install bubblewrap)")
    root = Path(__file__).resolve().parents[2]
    config = load_config(root / "course.toml")
    workdir = tmp_path / "autograded" / "ann" / "lab2"
    private, extra = sandbox.prepare(f"unit-{tmp_path.name}", memory_mb=config.memory_limit_mb,
                                     max_processes=config.sandbox.max_processes, max_file_mb=8, tmp_mb=16,
                                     read_only=[str(root / "coursekit"), str(root / "dlcourse"), str(config.path)],
                                     env=kernel_environment(config, 1), workdir=str(workdir))
    for name, value in extra.items():
        monkeypatch.setenv(name, value)
    try:
        yield workdir
    finally:
        sandbox.cleanup(private)


def test_a_kernel_started_before_sanitizing_grades_the_same_and_is_stopped(sandboxed):
    from nbclient.util import run_sync

    from coursekit.grading import execute
    assert execute.prestart_kernel(), "the sandbox's kernel is launched at once"
    km = execute._prestarted
    nb = notebook(RIGHT)
    nb.cells.insert(1, nbformat.v4.new_code_cell("import os\nprint(os.getcwd())\n"
                                                 "print(get_ipython().history_manager.hist_file)",
                                                 metadata=meta("where", locked=True)))
    nb = run(nb)
    assert execute._prestarted is None, "taken by the execute step"
    assert texts(nb.cells[1]) == [f"{sandboxed}\n:memory:\n"], \
        "it works in the submission's folder, inside the sandbox, with IPython's history in memory"
    assert [o.output_type for o in nb.cells[4].outputs] == ["stream"] and "通过" in nb.cells[4].outputs[0].text
    assert not run_sync(km.is_alive)(), "stopped once the last cell ran"


def test_without_a_sandbox_no_kernel_is_started_early(monkeypatch):
    from coursekit.grading import execute
    monkeypatch.delenv("COURSEKIT_SANDBOX", raising=False)
    assert not execute.prestart_kernel() and execute._prestarted is None
