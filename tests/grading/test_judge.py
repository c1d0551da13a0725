"""coursekit.grading.judge: the grader measures each part itself, in workers that ran only the part's cells."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from dataclasses import dataclass

from coursekit.grading.judge import GraderError, Judge
from dlcourse.lab2 import ASSIGNMENT
from dlcourse.lab2.l2_penalty import L2Penalty
from coursekit.partkit.part import Assignment, Context, WorkerGroup

SETUP = "import math\nimport torch\nfrom torch import nn\n"
L2 = "def l2_penalty(w):\n    return (w * w).sum() / 2\n"
DROPOUT = ("def dropout_layer(X, dropout):\n    if not 0 <= dropout <= 1:\n        raise ValueError(dropout)\n"
           "    if dropout == 1:\n        return torch.zeros_like(X)\n"
           "    return (torch.rand(X.shape) > dropout).to(X.dtype) * X / (1 - dropout)\n")
ACTIVATIONS = ("class MyReLU:\n    def __call__(self, x):\n        return torch.where(x > 0, x, torch.zeros_like(x))\n"
               "    def derivative(self, x):\n        return (x > 0).to(x.dtype)\n")


def cell(gid: str | None, source: str, *, answer: bool = False, graded: bool = False) -> nbformat.NotebookNode:
    meta = {} if gid is None else {"nbgrader": {"grade_id": gid, "solution": answer, "grade": graded,
                                                "locked": not answer, "points": 1 if graded else 0}}
    return nbformat.v4.new_code_cell(source, metadata=meta)


def judged(tmp_path: Path, answers: dict[str, str], graded: list[str], added: str = "",
           assignment: Assignment = ASSIGNMENT) -> dict[str, str]:
    """The verdict lines of the graded cells, for a notebook of these answer cells."""
    cells = [cell("setup", SETUP), *(cell(gid, src, answer=True) for gid, src in answers.items())]
    if added:
        cells.append(cell(None, added))
    judge = Judge(assignment)
    judge.review(cells)
    judge.start(cells, None, tmp_path, cell_timeout=30)
    verdicts = {}
    try:
        for gid in graded:
            test = cell(gid, f'check("{gid}", None)', graded=True)
            judge.grade(test)
            last = test.outputs[-1]
            verdicts[gid] = "pass" if last.output_type == "stream" else last.evalue
    finally:
        judge.close()
    return verdicts


def test_a_right_answer_passes_and_a_wrong_one_says_why(tmp_path):
    assert judged(tmp_path, {"l2_penalty": L2}, ["test_l2_penalty"]) == {"test_l2_penalty": "pass"}
    wrong = judged(tmp_path, {"l2_penalty": L2.replace(" / 2", "")}, ["test_l2_penalty"])["test_l2_penalty"]
    assert "平方和的一半" in wrong


def test_a_forbidden_shortcut_fails_its_part_and_the_experiments_that_run_it(tmp_path):
    source = "import torch.nn.functional as F\ndef dropout_layer(X, dropout):\n    return F.dropout(X, dropout)\n"
    verdicts = judged(tmp_path, {"dropout_layer": source}, ["test_dropout_keep_rate", "test_dropout_experiment"])
    assert "不允许" in verdicts["test_dropout_keep_rate"]
    assert "这个实验运行你的 dropout_layer" in verdicts["test_dropout_experiment"]


def test_tampering_costs_only_the_parts_of_its_own_todo(tmp_path):
    verdicts = judged(tmp_path, {"activations": ACTIVATIONS + "import gc\n", "l2_penalty": L2},
                      ["test_relu", "test_l2_penalty"])
    assert "答案单元格 activations 伸手去改评分进程" in verdicts["test_relu"] and "import gc" in verdicts["test_relu"]
    assert verdicts["test_l2_penalty"] == "pass"


def test_cells_a_student_added_cost_nothing_and_are_named_when_an_answer_needs_them(tmp_path):
    added = "import dlcourse.lab2 as p\np.judge = lambda m: None\ndef half(v):\n    return v / 2\n"
    verdicts = judged(tmp_path, {"l2_penalty": "def l2_penalty(w):\n    return half((w * w).sum())\n",
                                 "dropout_layer": DROPOUT}, ["test_l2_penalty", "test_dropout_scaling"], added=added)
    assert verdicts["test_dropout_scaling"] == "pass"
    assert "half 没有定义在答案单元格 l2_penalty 里" in verdicts["test_l2_penalty"]


def test_an_experiment_that_runs_an_unfinished_function_fails_and_says_where_to_look(tmp_path):
    verdicts = judged(tmp_path, {"l2_penalty": "def l2_penalty(w):\n    raise NotImplementedError()\n"},
                      ["test_l2_penalty", "test_weight_decay"])
    assert "还没有实现" in verdicts["test_l2_penalty"]
    assert "NotImplementedError" in verdicts["test_weight_decay"] and "先改好它" in verdicts["test_weight_decay"]
    assert "还没有完成" in verdicts["test_weight_decay"]


@pytest.mark.parametrize("mask, words", [
    ("(torch.rand(X.shape) > dropout)", None),
    ("(torch.rand(X.shape[-1]) > dropout)", "每一行都相同"),
    ("(torch.frac(torch.arange(X.numel()) * 0.618).reshape(X.shape) > dropout)", "完全相同的掩码"),
    ("(torch.frac(next_block(X.numel()) * 0.6180339887).reshape(X.shape) > dropout)", "torch.manual_seed 相同时"),
])
def test_the_mask_must_come_from_torchs_generator_and_be_independent(tmp_path, mask, words):
    source = DROPOUT.replace("(torch.rand(X.shape) > dropout)", mask)
    # a golden-ratio sequence that goes on from call to call, never touching torch's generator
    source = "calls = [0]\ndef next_block(n):\n    calls[0] += n\n    return torch.arange(calls[0] - n, calls[0])\n" + source
    verdict = judged(tmp_path, {"dropout_layer": source}, ["test_dropout_fresh_masks"])["test_dropout_fresh_masks"]
    assert verdict == "pass" if words is None else words in verdict, verdict


@dataclass(frozen=True)
class _BuggyJudge(L2Penalty):
    def judge(self, data, which, secret=None):
        return data["no such key"]


def test_a_bug_in_a_judge_is_a_grading_error_not_a_lost_point(tmp_path):
    buggy = Assignment("buggy", (_BuggyJudge("test_l2_penalty", "l2_penalty", "l2_penalty", "l2_penalty"),),
                       {"l2_penalty": WorkerGroup(("l2_penalty",))})
    with pytest.raises(GraderError, match="test_l2_penalty.*KeyError"):
        judged(tmp_path, {"l2_penalty": L2}, ["test_l2_penalty"], assignment=buggy)


def test_a_run_of_the_course_alone_is_made_once_and_kept(tmp_path):
    import dataclasses

    from dlcourse.training import History
    made = []

    def compute():
        made.append(1)
        return History(epochs=[1, 2], train_loss=[0.1 + 0.2, 1 / 3], train_acc=[0.5, 0.75], test_loss=[2.0, 1.0],
                       test_acc=[0.25, 0.5])

    def _cached(folder, name, key, make):
        return Context(None, None, b"secret", folder).cached(name, key, make, dump=dataclasses.asdict,
                                                            load=lambda d: History(**d))

    first = _cached(tmp_path, "run", ["settings", 0], compute)
    again = _cached(tmp_path, "run", ["settings", 0], compute)
    assert again == first and len(made) == 1  # bit for bit: floats survive the JSON
    assert _cached(tmp_path, "run", ["settings", 1], compute) == first and len(made) == 2  # another key
    for kept in tmp_path.glob("run-*.json"):
        kept.write_text("{not json")
    assert _cached(tmp_path, "run", ["settings", 0], compute) == first and len(made) == 3  # unreadable: made again
    assert _cached(None, "run", ["settings", 0], compute) == first and len(made) == 4  # no folder: always made
