"""coursekit.grading.feedback: the summary table and the hiding of hidden tests, on small notebooks."""

from __future__ import annotations

import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from coursekit.grading.feedback import HideHiddenTests, SummarizeGrades, part_label, remove_hidden_region, student_message
from tests.cells import graded

TEST_SOURCE = '''"""f: doubles its input."""
with explain("f"):
    assert_close("f(x)", f(x), 2 * x, x)
    ### BEGIN HIDDEN TESTS
    secret_case_that_must_not_show()
    ### END HIDDEN TESTS'''


def failed_test_cell():
    cell = graded(new_code_cell(TEST_SOURCE), "test_f", 5, 0.0)
    cell.outputs = [new_output("error", ename="CheckFailed", evalue="f(x) 的结果不对：期望 4，得到 5",
                               traceback=["\x1b[31m----> 5 secret_case_that_must_not_show()\x1b[0m"])]
    return cell


def test_hidden_region_is_replaced_by_a_note():
    shown = remove_hidden_region(TEST_SOURCE)
    assert "secret_case" not in shown and "HIDDEN" not in shown
    assert "    # （隐藏测试：评分时运行，代码不显示）" in shown.splitlines()
    assert shown.splitlines()[2] == '    assert_close("f(x)", f(x), 2 * x, x)'


def test_a_hidden_region_without_its_end_marker_stops_feedback_as_nbgrader_does():
    with pytest.raises(RuntimeError, match="No end hidden tests"):
        remove_hidden_region(TEST_SOURCE.replace("    ### END HIDDEN TESTS", ""))


def test_tracebacks_of_test_cells_become_their_message():
    cell, _ = HideHiddenTests().preprocess_cell(failed_test_cell(), {}, 0)
    assert cell.outputs[0]["traceback"] == ["CheckFailed: f(x) 的结果不对：期望 4，得到 5"]
    assert "secret_case" not in cell.source
    student = new_code_cell("def f(x):\n    ### BEGIN HIDDEN TESTS is just a comment here\n    return x")
    student.metadata["nbgrader"] = {"solution": True, "grade": False, "grade_id": "f"}
    untouched, _ = HideHiddenTests().preprocess_cell(student, {}, 1)
    assert "return x" in untouched.source, "the student's own code is never cut"


def test_summary_lists_every_graded_part_with_its_status():
    answer = graded(new_markdown_cell("my answer"), "answer_q1", 4, None, solution=True)
    passed = graded(new_code_cell('"""g: works."""\npass'), "test_g", 3, 3.0)
    nb = new_notebook(cells=[new_markdown_cell("# Lab"), failed_test_cell(), passed, answer])
    nb, _ = SummarizeGrades().preprocess(nb, {"nbgrader": {"score": 3.0, "max_score": 12.0, "late_penalty": 0}})
    summary = nb.cells[0].source
    assert summary.startswith("## 成绩概要")
    summary = summary.replace("\u00a0", " ")
    assert "| f: doubles its input. | 0 / 5 | ✗ f(x) 的结果不对：期望 4，得到 5 |" in summary
    assert "| g: works. | 3 / 3 | ✓ 通过 |" in summary
    assert "| 思考题 1（人工评分） | – / 4 | ○ 待助教评分 |" in summary
    assert "**总分：3 / 12**" in summary


def test_labels_and_messages():
    assert part_label(failed_test_cell()) == "f: doubles its input."
    assert student_message(failed_test_cell()) == "f(x) 的结果不对：期望 4，得到 5"
    assert student_message(new_code_cell("x = 1")) is None


def test_status_line_keeps_the_hint():
    from coursekit.grading.feedback import status_line

    message = ("f(x) 的结果不对：在 x = 2 处期望 4，得到 5（输入 [1, 2, 3, 4, 5, 6, ...] (dtype=float32, shape=(9,))；"
               "容差 rtol=1e-05）。提示：记得乘以 2。")
    assert status_line(message) == "f(x) 的结果不对：在 x = 2 处期望 4，得到 5 提示：记得乘以 2。"
    assert status_line("没有提示的消息") == "没有提示的消息"
