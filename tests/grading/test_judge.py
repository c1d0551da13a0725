"""coursekit.grading.judge: the grader turns measurements into verdicts in its own process."""

from __future__ import annotations

import nbformat
import pytest
import torch

from coursekit.grading.judge import Judge
from coursekit.lab import parts


def l2_penalty(w):
    return (w * w).sum() / 2


def dropout_layer(X, dropout):
    if not 0 <= dropout <= 1:
        raise ValueError(dropout)
    if dropout == 1:
        return torch.zeros_like(X)
    return (torch.rand_like(X) >= dropout).to(X.dtype) * X / (1 - dropout)


def graded_cell(gid: str, outputs: list) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(f'check("{gid}", l2_penalty)',
                                     metadata={"nbgrader": {"grade": True, "grade_id": gid, "locked": True,
                                                            "points": 6, "solution": False}})
    cell.outputs = [nbformat.from_dict(o) for o in outputs]
    return cell


def sent(gid: str, answer, which: str) -> dict:
    return {"output_type": "display_data", "metadata": {},
            "data": {parts.MIME: parts.encode(parts.measure(gid, answer, which))}}


def verdict(cell) -> list[str]:
    judge = Judge()
    judge.review([cell])
    judge.verdict(cell)
    return [o.output_type + ":" + (o.get("name") or o.get("ename") or "") for o in cell.outputs]


def test_the_judge_passes_a_cell_whose_measurements_pass():
    cell = graded_cell("test_l2_penalty", [
        {"output_type": "stream", "name": "stderr", "text": "a warning\n"},
        sent("test_l2_penalty", l2_penalty, "visible"), sent("test_l2_penalty", l2_penalty, "hidden")])
    assert verdict(cell) == ["stream:stdout", "stream:stdout"], "no measurement left, no stderr to zero the cell"


@pytest.mark.parametrize("outputs, words", [
    ([], "没有完成"),
    (["visible"], "没有完成"),
    (["hidden", "hidden"], "不是它自己的"),
    (["visible", "hidden", "error"], "Boom"),
    (["wrong"], "平方和的一半"),
])
def test_the_judge_fails_missing_duplicated_wrong_or_crashed_measurements(outputs, words):
    made = []
    for kind in outputs:
        if kind == "error":
            made.append({"output_type": "error", "ename": "RuntimeError", "evalue": "Boom", "traceback": []})
        elif kind == "wrong":
            made.append(sent("test_l2_penalty", lambda w: (w * w).sum(), "hidden"))
        else:
            made.append(sent("test_l2_penalty", l2_penalty, kind))
    cell = graded_cell("test_l2_penalty", made)
    assert verdict(cell)[-1] == "error:CheckFailed"
    assert words in cell.outputs[-1].evalue


def test_a_forbidden_shortcut_fails_its_part_and_the_experiments_that_run_it():
    answer = nbformat.v4.new_code_cell("import torch.nn.functional as F\ndef dropout_layer(X, dropout):\n"
                                       "    return F.dropout(X, dropout)\n",
                                       metadata={"nbgrader": {"grade_id": "dropout_layer", "solution": True,
                                                              "grade": False, "locked": False}})
    judge = Judge()
    assert judge.review([answer]) == []
    cell = graded_cell("test_dropout_keep_rate", [sent("test_dropout_keep_rate", dropout_layer, "hidden")])
    judge.verdict(cell)
    assert "不允许" in cell.outputs[-1].evalue
    experiment = graded_cell("test_dropout_experiment", [])
    judge.verdict(experiment)
    assert "这个实验运行你的 dropout_layer" in experiment.outputs[-1].evalue


def test_tampering_in_any_cell_is_reported_with_its_line():
    added = nbformat.v4.new_code_cell("import coursekit.lab.parts as p\np.judge = lambda m: None\n")
    assert any("你添加的单元格 第 1 行" in line for line in Judge().review([added]))
