"""coursekit.service.visible: under the `visible` policy, parts with hidden tests say nothing before the due date."""

from __future__ import annotations

from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from coursekit.grading.feedback import WITHHELD, HideHiddenTests, SummarizeGrades
from coursekit.service.visible import WithholdHiddenResults
from tests.cells import graded

HIDDEN = '''"""f: doubles its input (5 points)."""
check("test_f", f)
### BEGIN HIDDEN TESTS
check("test_f", f, cases="hidden")
### END HIDDEN TESTS'''
EXPERIMENT = '''"""experiment: the gap narrows (6 points)."""
result = run_experiment()
check("test_experiment", result)'''


def notebook():
    hidden = graded(new_code_cell(HIDDEN), "test_f", 5, 0.0, locked=True)
    hidden.outputs = [new_output("error", ename="CheckFailed", evalue="f(x=-7.5) 应为 -15，得到 15（隐藏输入）",
                                 traceback=["secret"])]
    experiment = graded(new_code_cell(EXPERIMENT), "test_experiment", 6, 0.0, locked=True)
    experiment.outputs = [new_output("stream", name="stdout", text="gap 0.41 -> 0.39\n"),
                          new_output("error", ename="CheckFailed", evalue="dropout 没有缩小差距", traceback=[])]
    passed = graded(new_code_cell('"""g (3 points)."""\ncheck("test_g", g)\n### BEGIN HIDDEN TESTS\nx\n### END HIDDEN TESTS'),
                    "test_g", 3, 3.0, locked=True)
    passed.outputs = [new_output("stream", name="stdout", text="[评分程序] g：通过。\n")]
    return new_notebook(cells=[new_markdown_cell("# Lab"), hidden, experiment, passed])


def feedback(nb):
    resources = {"nbgrader": {"score": 3.0, "max_score": 14.0}}
    for step in (WithholdHiddenResults(), SummarizeGrades(), HideHiddenTests()):
        nb, resources = step.preprocess(nb, resources)
    return nb


def test_parts_with_hidden_tests_show_neither_points_nor_messages():
    nb = feedback(notebook())
    summary = nb.cells[0].source.replace("\u00a0", " ")
    rows = {line.split("|")[1].strip(): line for line in summary.splitlines() if line.startswith("| ") and "部分" not in line}
    assert "– / 5" in rows["f: doubles its input (5 points)."] and WITHHELD in rows["f: doubles its input (5 points)."]
    assert "– / 3" in rows["g (3 points)."], "a pass is withheld too: it would tell the hidden result"
    assert "0 / 6" in rows["experiment: the gap narrows (6 points)."] and "dropout 没有缩小差距" in summary
    assert "总分" not in summary, "the total would tell the hidden parts' result"
    text = str(nb)
    assert "15（隐藏输入）" not in text and "通过。" not in text and "secret" not in text
    hidden_cell = nb.cells[2]
    assert [o.get("text") for o in hidden_cell.outputs] == [f"[评分程序] {WITHHELD}。\n"]
    assert "cases=\"hidden\"" not in hidden_cell.source, "the hidden tests' code is removed as in every feedback"
    experiment = nb.cells[3]
    assert [o["output_type"] for o in experiment.outputs] == ["stream", "error"], "the experiment keeps its result"


def test_without_the_step_the_summary_is_the_usual_one():
    nb = notebook()
    resources = {"nbgrader": {"score": 3.0, "max_score": 14.0}}
    nb, _ = SummarizeGrades().preprocess(nb, resources)
    summary = nb.cells[0].source
    assert "总分：3 / 14" in summary and WITHHELD not in summary
    assert "隐藏输入" in summary, "outcomes: every failure message is shown"
