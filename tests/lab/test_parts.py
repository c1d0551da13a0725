"""dlcourse.parts and the grader's Judge: measured in the kernel, judged outside it."""

from __future__ import annotations

import linecache

import pytest
import torch
from torch import nn

from dlcourse import lab2 as parts
from coursekit.partkit.checks import CheckFailed
from dlcourse.lab2 import PARTS


class MyReLU:
    def __call__(self, x):
        return x.clamp(min=0)

    def derivative(self, x):
        return (x > 0).to(x.dtype)


class MySigmoid:
    def __call__(self, x):
        z = torch.exp(-x.abs())
        return torch.where(x >= 0, 1 / (1 + z), z / (1 + z))

    def derivative(self, x):
        s = self(x)
        return s * (1 - s)


class MyTanh:
    def __call__(self, x):
        return 2 * MySigmoid()(2 * x) - 1

    def derivative(self, x):
        return 1 - self(x) ** 2


class Network(nn.Module):
    def __init__(self, input_dim, output_dim, activation_name, num_layers=5, num_hiddens=100):
        super().__init__()
        if activation_name not in ("relu", "sigmoid", "tanh"):
            raise ValueError(activation_name)
        self.activation = {"relu": MyReLU, "sigmoid": MySigmoid, "tanh": MyTanh}[activation_name]()
        self.input_layer = nn.Linear(input_dim, num_hiddens)
        self.layers = nn.ModuleList([nn.Linear(num_hiddens, num_hiddens) for _ in range(num_layers)])
        self.output_layer = nn.Linear(num_hiddens, output_dim)

    def forward(self, X):
        h = self.activation(self.input_layer(X))
        for layer in self.layers:
            h = self.activation(layer(h))
        return self.output_layer(h)


def l2_penalty(w):
    return (w * w).sum() / 2


def dropout_layer(X, dropout):
    if not 0 <= dropout <= 1:
        raise ValueError(dropout)
    if dropout == 1:
        return torch.zeros_like(X)
    return (torch.rand_like(X) >= dropout).to(X.dtype) * X / (1 - dropout)


def dead_unit_fraction(H):
    """Another correct way: a unit is dead when its column sums to 0 in absolute value; a Python float."""
    return int((H.abs().sum(dim=0) == 0).sum()) / H.shape[1]


ANSWERS = {"MyReLU": MyReLU, "MySigmoid": MySigmoid, "MyTanh": MyTanh, "Network": Network,
           "dead_unit_fraction": dead_unit_fraction, "l2_penalty": l2_penalty, "dropout_layer": dropout_layer}
FUNCTION_PARTS = [gid for gid, part in PARTS.items() if not part.runs]


@pytest.mark.parametrize("gid", FUNCTION_PARTS)
@pytest.mark.parametrize("which", ["visible", "hidden"])
def test_an_equivalent_correct_answer_passes_every_part(gid, which):
    measurement = parts.measure(gid, ANSWERS[PARTS[gid].definition], which)
    assert parts.judge(measurement) is None


@pytest.mark.parametrize("gid, wrong, words", [
    ("test_relu", type("Abs", (MyReLU,), {"__call__": lambda self, x: x.abs()}), "期望"),
    ("test_relu", type("Builtin", (MyReLU,), {"__call__": lambda self, x: torch.relu(x)}), "现成的实现（relu）"),
    ("test_sigmoid", type("Naive", (MySigmoid,), {"__call__": lambda self, x: 1 / (1 + torch.exp(-x)) * 1.0
                                                    if x.dtype == torch.float64 else torch.exp(x) / (1 + torch.exp(x))}),
     "有限数"),
    ("test_tanh_derivative", type("Half", (MyTanh,), {"derivative": lambda self, x: (1 - self(x) ** 2).float()}),
     "dtype"),
    ("test_l2_penalty", lambda w: (w * w).sum(), "平方和的一半"),
    ("test_dead_units", lambda H: (H == 0).float().mean(), "等于 0 的元素所占的比例"),
    ("test_dead_units", lambda H: (H == 0).any(dim=0).float().mean(), "要对每一张都输出 0"),
    ("test_dead_units", lambda H: (H == 0).all(dim=1).float().mean(), "方向反了"),
    ("test_dead_units", lambda H: (H <= 0).all(dim=0).float().mean(), "负数"),
    ("test_dead_units", lambda H: (H == 0).all(dim=0).sum(), "个数"),
    ("test_dead_units", lambda H: (H == 0).all(dim=0), "0 到 1 之间的数"),
    ("test_dead_units", lambda H: H.abs_().eq(0).all(dim=0).float().mean(), "原地"),
    ("test_dropout_scaling", lambda X, p: (torch.rand_like(X) >= p).to(X.dtype) * X, "1 - dropout"),
    ("test_dropout_keep_rate", lambda X, p: (torch.rand_like(X) < p).to(X.dtype) * X / (1 - p), "保留下来的比例"),
    ("test_dropout_fresh_masks",
     lambda X, p: (torch.rand(X.shape, generator=torch.Generator().manual_seed(0)) >= p).to(X.dtype) * X / (1 - p),
     "相同的掩码"),
    ("test_dropout_contract", lambda X, p: X.mul_(2) if p else X, "原地"),
    ("test_dropout_edges", lambda X, p: X * 1.0, "全 0"),
    ("test_dropout_keep_rate", lambda X, p: torch.nn.functional.dropout(X, p), "现成的实现（dropout）"),
])
@pytest.mark.parametrize("which", ["visible", "hidden"])  # a student sees each classic mistake before submitting
def test_a_wrong_answer_fails_with_a_message_in_words(gid, wrong, words, which):
    message = parts.judge(parts.measure(gid, wrong, which))
    assert message is not None and words in message, message


def test_unfinished_code_says_so():
    class Blank:
        def __call__(self, x):
            raise NotImplementedError()
    assert "还没有实现" in parts.judge(parts.measure("test_relu", Blank, "visible"))


def test_the_visible_cases_hold_one_case_of_every_kind_the_hidden_ones_grade():
    visible = parts.cases("test_sigmoid", "visible")
    assert {x.dtype for x in visible} == {torch.float32, torch.float64}
    assert any(x.dim() == 0 for x in visible) and any(x.numel() == 0 for x in visible)
    assert max(x.abs().max().item() for x in visible if x.numel()) >= 1e3
    hidden = parts.cases("test_sigmoid", "hidden")
    assert len(hidden) > len(visible) and all(any(torch.equal(v, h) for h in hidden) for v in visible)


def test_the_kernel_and_the_grader_make_the_same_cases():
    for gid in FUNCTION_PARTS:
        first, second = parts.cases(gid, "hidden"), parts.cases(gid, "hidden")
        assert repr(first) == repr(second), gid


def test_experiments_are_judged_on_their_thresholds():
    vanishing = {"first_layer": {"relu": 1e-2, "sigmoid": 1e-3, "tanh": 1e-2}, "hidden_layers": 6}
    message = parts.judge({"grade_id": "test_gradient_vanishing", "cases": "visible", "data": vanishing})
    assert message and "100" in message
    vanishing["first_layer"]["sigmoid"] = 1e-6
    assert parts.judge({"grade_id": "test_gradient_vanishing", "cases": "visible", "data": vanishing}) is None


def weight_decay(plain_test: float, penalised_test: float, penalised_norm: float = 0.1) -> str | None:
    runs = [{"init": "default", "lambd": 0.0, "weight_norm": 0.33, "test_loss": 0.09},
            {"init": "zero", "lambd": 0.0, "weight_norm": 0.2, "test_loss": plain_test},
            {"init": "zero", "lambd": 1.0, "weight_norm": penalised_norm, "test_loss": penalised_test}]
    return parts.judge({"grade_id": "test_weight_decay", "cases": "visible", "data": {"runs": runs}})


def test_weight_decay_is_judged_against_the_zero_initialisation_baseline():
    assert weight_decay(0.034, 0.021) is None
    assert "0.8" in weight_decay(0.034, 0.030)                 # lower, but not by enough
    assert "‖w‖" in weight_decay(0.034, 0.021, penalised_norm=0.25)
    assert "nan" in weight_decay(0.034, float("nan"))


def test_relu_death_needs_h1_units_killed_by_training_and_no_dead_tanh_unit():
    def death(killed_h1, tanh=0, dead_relu=40, loss=0.9):
        return parts.judge({"grade_id": "test_relu_death", "cases": "visible",
                            "data": {"dead_units": {"relu": dead_relu, "tanh": tanh}, "lr": 0.6,
                                     "killed": {"relu": [killed_h1, 0, 30], "tanh": [0, 0, 0]},
                                     "final_loss": {"relu": loss, "tanh": 0.8}}})
    assert death(5) is None
    assert "发散" in death(100, dead_relu=300, loss=float("nan"))  # every unit "dead" because training blew up
    assert "h1 里只有 2 个" in death(2) and "至少 3" in death(2)   # many dead units elsewhere do not count
    assert "tanh" in death(5, tanh=1)


def test_hidden_cases_come_from_the_graders_secret():
    """Without the secret (a student's notebook) the hidden cases are not those the grader uses."""
    for gid in ("test_dead_units", "test_relu", "test_l2_penalty"):
        public = [tuple(x.shape) for x in parts.cases(gid, "hidden")]
        secret = [tuple(x.shape) for x in parts.cases(gid, "hidden", b"course secret")]
        again = [tuple(x.shape) for x in parts.cases(gid, "hidden", b"course secret")]
        assert secret == again and secret != public
    assert parts.judge(parts.measure("test_dead_units", ANSWERS["dead_unit_fraction"], "hidden")) is None


def notebook_cell(source: str, name: str):
    """Run `source` as ipykernel runs a cell: its text is in linecache under the cell's file name."""
    linecache.cache[name] = (len(source), None, source.splitlines(True), name)
    namespace: dict = {"torch": torch}
    exec(compile(source, name, "exec"), namespace)  # noqa: S102
    return namespace


def test_check_judges_in_the_notebook():
    unfinished = notebook_cell("def l2_penalty(w):\n    raise NotImplementedError()\n", "<cell-l2>")["l2_penalty"]
    with pytest.raises(CheckFailed, match="还没有实现"):
        parts.check("test_l2_penalty", unfinished)
    shortcut = notebook_cell("import torch.nn.functional as F\ndef dropout_layer(X, dropout):\n"
                             "    return F.dropout(X, dropout)\n", "<cell-dropout>")["dropout_layer"]
    with pytest.raises(CheckFailed, match="不允许的写法.*F.dropout"):
        parts.check("test_dropout_keep_rate", shortcut)
    reaching = notebook_cell("import gc\ndef l2_penalty(w):\n    return (w * w).sum() / 2\n", "<cell-l2-gc>")["l2_penalty"]
    with pytest.raises(CheckFailed, match="答案单元格 l2_penalty 伸手去改评分进程.*import gc"):
        parts.check("test_l2_penalty", reaching)


def test_a_visible_check_names_a_helper_from_a_cell_grading_does_not_run():
    namespace = notebook_cell("def helper(x):\n    return (x > 0).to(x.dtype)\nEPS = 0.0\n", "<cell-added>")
    linecache.cache["<cell-acts>"] = (1, None, ["x"], "<cell-acts>")
    source = "def l2_penalty(w):\n    return (w * w).sum() / 2 + EPS\n"
    linecache.cache["<cell-l2-eps>"] = (len(source), None, source.splitlines(True), "<cell-l2-eps>")
    exec(compile(source, "<cell-l2-eps>", "exec"), namespace)  # noqa: S102 -- the answer cell, same namespace
    with pytest.raises(CheckFailed, match="EPS 没有定义在答案单元格 l2_penalty 里"):
        parts.check("test_l2_penalty", namespace["l2_penalty"])
    own = notebook_cell("EPS = 0.0\ndef l2_penalty(w):\n    return (w * w).sum() / 2 + EPS\n", "<cell-l2-own>")
    parts.check("test_l2_penalty", own["l2_penalty"])


def test_dead_unit_fraction_may_return_a_numpy_float():
    import numpy as np
    answer = lambda H: np.float64((H == 0).all(dim=0).double().mean().item())  # noqa: E731
    assert parts.judge(parts.measure("test_dead_units", answer, "hidden")) is None
    count_as_bool = lambda H: bool((H == 0).all(dim=0).any())  # noqa: E731
    assert parts.judge(parts.measure("test_dead_units", count_as_bool, "visible")) is not None


def _dropout_with(keep, scale):
    def dropout_layer(X, dropout):
        if not 0 <= dropout <= 1:
            raise ValueError(dropout)
        if dropout in (0, 1):
            return X if dropout == 0 else torch.zeros_like(X)
        return keep(torch.rand(X.shape), dropout).to(X.dtype) * X / scale(dropout)
    return dropout_layer


@pytest.mark.parametrize("gid, mistake", [
    ("test_dropout_keep_rate", _dropout_with(lambda r, p: r < p, lambda p: 1 - p)),   # keep and drop swapped
    ("test_dropout_scaling", _dropout_with(lambda r, p: r > p, lambda p: p)),          # scaled by 1/p
])
def test_the_visible_dropout_checks_catch_the_mistakes_p_half_hides(gid, mistake):
    assert all(p != 0.5 for p, _ in parts.cases(gid, "visible"))
    assert parts.judge(parts.measure(gid, mistake, "visible")) is not None
    correct = _dropout_with(lambda r, p: r > p, lambda p: 1 - p)
    assert parts.judge(parts.measure(gid, correct, "visible")) is None
