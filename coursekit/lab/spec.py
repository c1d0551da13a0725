"""The autograded parts of Lab 2 and their thresholds: one table, read by the notebook's checks
(:mod:`coursekit.lab.parts`), the grader (:mod:`coursekit.grading.execute`) and the tests.

Points live in course.toml (``[assignments.lab2.points]``); a test checks that both name the same
grade ids. This module imports nothing heavy, so the grader can read it before torch is loaded.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Hoeffding: P(|kept fraction - (1 - p)| >= t) <= 2 exp(-2 n t^2) for n independent draws.
#: (128, 256) with t = 0.02: n = 32768, <= 8.4e-12; (8, 32, 32) with t = 0.035: n = 8192, <= 3.9e-9.
#: Over every statistical test of the dropout parts a correct answer fails with probability < 1e-7.
KEEP_RATE_TOLERANCE = {(128, 256): 0.02, (8, 32, 32): 0.035}
#: (rtol, atol) of every comparison with a reference (torch.allclose), per dtype.
TOLERANCES = {"float32": (1e-5, 1e-6), "float64": (1e-9, 1e-12)}
#: The experiments' thresholds (stated in the notebook next to each experiment).
VANISHING_RATIO = 100        # ReLU's input-layer gradient >= 100 x sigmoid's
MIN_KILLED_H1_UNITS = 3      # training at the large learning rate kills >= 3 units of h1 (alive before, then 0 on every training image)
WEIGHT_DECAY_TEST_GAIN = 0.8  # from w = 0, L2 with the profile's lambda ends at <= 0.8 x the test loss of lambda = 0
#: |dead_unit_fraction(H) - the true fraction| allowed (a fraction of at most a few hundred units).
FRACTION_TOLERANCE = 1e-6


@dataclass(frozen=True)
class Part:
    """One autograded cell: what it grades and what the student reads when it fails.

    grade_id: the cell's nbgrader id; todo: the answer cell whose code it grades; definition: the
    name it grades; runs: for an experiment, the parts whose code it runs (the feedback names
    the failing ones first); kind: which measure/judge pair.
    """

    grade_id: str
    todo: str
    definition: str
    kind: str
    title: str
    runs: tuple[str, ...] = ()
    hidden: bool = True


PARTS: dict[str, Part] = {p.grade_id: p for p in (
    Part("test_relu", "activations", "MyReLU", "value", "MyReLU 的函数值"),
    Part("test_relu_derivative", "activations", "MyReLU", "derivative", "MyReLU.derivative"),
    Part("test_sigmoid", "activations", "MySigmoid", "value", "MySigmoid 的函数值"),
    Part("test_sigmoid_derivative", "activations", "MySigmoid", "derivative", "MySigmoid.derivative"),
    Part("test_tanh", "activations", "MyTanh", "value", "MyTanh 的函数值"),
    Part("test_tanh_derivative", "activations", "MyTanh", "derivative", "MyTanh.derivative"),
    Part("test_network_forward", "network", "Network", "forward", "Network.forward 的输出"),
    Part("test_network_backward", "network", "Network", "backward", "Network 的反向传播和构造检查"),
    Part("test_gradient_vanishing", "network", "Network", "vanishing", "梯度消失实验", hidden=False,
         runs=("test_relu", "test_sigmoid", "test_tanh", "test_network_forward")),
    Part("test_dead_units", "dead_units", "dead_unit_fraction", "dead_units", "dead_unit_fraction"),
    Part("test_relu_death", "network", "Network", "death", "ReLU 死亡实验", hidden=False,
         runs=("test_relu", "test_tanh", "test_network_forward")),
    Part("test_l2_penalty", "l2_penalty", "l2_penalty", "l2", "l2_penalty"),
    Part("test_weight_decay", "l2_penalty", "l2_penalty", "weight_decay", "权重衰减实验", hidden=False,
         runs=("test_l2_penalty",)),
    Part("test_dropout_keep_rate", "dropout_layer", "dropout_layer", "keep_rate", "dropout_layer 的保留比例"),
    Part("test_dropout_scaling", "dropout_layer", "dropout_layer", "scaling", "dropout_layer 的 1/(1-p) 缩放"),
    Part("test_dropout_edges", "dropout_layer", "dropout_layer", "edges", "dropout_layer 的 p = 0、p = 1 和报错"),
    Part("test_dropout_fresh_masks", "dropout_layer", "dropout_layer", "fresh_masks", "dropout_layer 的随机掩码"),
    Part("test_dropout_contract", "dropout_layer", "dropout_layer", "contract",
         "dropout_layer 的形状、dtype、设备和输入不变"),
    Part("test_dropout_experiment", "dropout_layer", "dropout_layer", "dropout_experiment", "Dropout 实验",
         hidden=False, runs=("test_dropout_scaling", "test_dropout_keep_rate")),
)}


#: The names the student's answers define (the graded definitions).
DEFINITIONS = frozenset(part.definition for part in PARTS.values())


#: Stand-ins for the activation classes while the network parts are graded: Network.forward is graded
#: on its own, with PyTorch's activations, whatever state the activations TODO is in.
REFERENCE_ACTIVATIONS = '''import torch


class MyReLU:
    def __call__(self, x):
        return torch.relu(x)


class MySigmoid:
    def __call__(self, x):
        return torch.sigmoid(x)


class MyTanh:
    def __call__(self, x):
        return torch.tanh(x)
'''


@dataclass(frozen=True)
class WorkerGroup:
    """The cells one grading worker runs (after the course's setup cell): answer cells by grade id,
    and course code in between (``reference``, run right before the answer cells)."""

    answers: tuple[str, ...]
    reference: str = ""


#: Which worker answers each part's calls (coursekit.lab.serve): a part's verdict can depend only on
#: the cells of its worker.
WORKERS: dict[str, WorkerGroup] = {
    "activations": WorkerGroup(("activations",)),
    "network": WorkerGroup(("network",), reference=REFERENCE_ACTIVATIONS),
    "experiments_mlp": WorkerGroup(("activations", "network")),
    "dead_units": WorkerGroup(("dead_units",)),
    "l2_penalty": WorkerGroup(("l2_penalty",)),
    "dropout_layer": WorkerGroup(("dropout_layer",)),
}


def worker_of(part: Part) -> str:
    """The worker group whose calls grade ``part``."""
    if part.kind in ("vanishing", "death"):
        return "experiments_mlp"
    return part.todo
