"""The depth experiment: the variance of every layer's output through a deep linear network, for
weights drawn from N(0, 1), from N(0, 0.01²) and by the student's ``xavier_uniform``; the variances are
measured by the student's ``layer_variances``.

With n inputs per layer, each layer multiplies the variance by n·Var(w): 256 for N(0, 1) (it explodes),
0.0256 for N(0, 0.01²) (it vanishes), 1 for Xavier when fan_in = fan_out = n (it stays).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from coursekit.partkit.checks import CheckFailed
from coursekit.partkit.part import Asker, Context, Experiment
from coursekit.partkit.remote import tensor

DEPTH = 10         # linear layers
WIDTH = 256        # units per layer (fan_in = fan_out)
NUM_EXAMPLES = 512  # rows of X
SCHEMES = ("N(0, 1)", "N(0, 0.01²)", "Xavier")


@dataclass(frozen=True)
class Settings:
    """steady_factor: Xavier keeps every layer's variance within this factor of the input's (the reference
    stays within 1.15 on seeds 0–19); N(0, 1) must end above ``exploded``, N(0, 0.01²) below ``vanished``
    (256¹⁰ ≈ 1e24, 0.0256¹⁰ ≈ 1e-16)."""

    steady_factor: float = 4.0
    exploded: float = 1e12
    vanished: float = 1e-10


def run_depth(xavier_uniform: Callable[[int, int], torch.Tensor],
              layer_variances: Callable[[list[torch.Tensor], torch.Tensor], torch.Tensor], *, seed: int = 0
              ) -> dict[str, list[float]]:
    """scheme -> the variance of the input and of every layer's output (DEPTH + 1 numbers)."""
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(NUM_EXAMPLES, WIDTH, generator=g)
    draws = {"N(0, 1)": lambda: torch.randn(WIDTH, WIDTH, generator=g),
             "N(0, 0.01²)": lambda: torch.randn(WIDTH, WIDTH, generator=g) * 0.01,
             "Xavier": lambda: xavier_uniform(WIDTH, WIDTH)}
    result = {}
    for scheme in SCHEMES:
        weights = [draws[scheme]() for _ in range(DEPTH)]
        result[scheme] = [float(X.var()), *(float(v) for v in layer_variances(weights, X))]
    return result


def plot_depth(result: dict[str, list[float]]):
    """The variance of every layer's output, one line per initialisation. Labels are English, as in
    dlcourse.plotting: they render with matplotlib's default font on every machine (no CJK font needed)."""
    import matplotlib.pyplot as plt
    figure, ax = plt.subplots(figsize=(6, 3.5))
    for scheme, values in result.items():
        ax.semilogy(range(len(values)), values, marker="o", label=scheme)
    ax.set_xlabel("layer (0 = input)")
    ax.set_ylabel("variance of the output")
    ax.set_title(f"{DEPTH} linear layers, {WIDTH} units each")
    ax.legend()
    figure.tight_layout()
    return figure


@dataclass(frozen=True)
class DepthExperiment(Experiment):
    def run(self, worker: Asker, context: Context) -> Any:
        counter = iter(range(10**6))

        def xavier(fan_out: int, fan_in: int) -> torch.Tensor:
            answer = worker.ask("call", target=["xavier_uniform"], args=[fan_out, fan_in],
                                seed=context.seed("depth experiment", next(counter)))
            return tensor(answer, "xavier_uniform", torch.Size([fan_out, fan_in]))

        def variances(weights: list[torch.Tensor], X: torch.Tensor) -> torch.Tensor:
            return tensor(worker.ask("call", target=["layer_variances"], args=[weights, X]), "layer_variances",
                          torch.Size([len(weights)]))

        return run_depth(xavier, variances, seed=context.profile.seed if context.profile else 0)

    def measurement(self, result: Any) -> dict[str, Any]:
        return {"variances": {scheme: list(result[scheme]) for scheme in SCHEMES}}

    def judge(self, data: dict[str, Any], which: str, secret: bytes | None = None) -> None:
        runs = data["variances"]
        exploded, vanished, steady = runs["N(0, 1)"], runs["N(0, 0.01²)"], runs["Xavier"]
        if not all(isinstance(v, float) and math.isfinite(v) and v > 0 for v in vanished + steady):
            raise CheckFailed(f"方差里出现了 0、负数、nan 或 inf：Xavier {steady}，N(0, 0.01²) {vanished}。")
        limits = self.settings
        if not exploded[-1] > limits.exploded or not vanished[-1] < limits.vanished:
            raise CheckFailed(f"N(0, 1) 初始化的最后一层方差应大于 {limits.exploded:g}（得到 {exploded[-1]:.3g}），N(0, 0.01²) 的应小于 "
                              f"{limits.vanished:g}（得到 {vanished[-1]:.3g}）：检查 layer_variances 是否逐层相乘、返回每一层输出的方差。")
        ratios = [v / steady[0] for v in steady[1:]]
        worst = max(ratios, key=lambda r: max(r, 1 / r))
        if not 1 / limits.steady_factor <= worst <= limits.steady_factor:
            raise CheckFailed(f"用 xavier_uniform 初始化后，第 {ratios.index(worst) + 1} 层输出的方差是输入的 {worst:.3g} 倍，"
                              f"应在 1/{limits.steady_factor:g} 到 {limits.steady_factor:g} 倍之间：检查 xavier_uniform 的范围 √(6/(fan_in+fan_out))。")

    def figure(self, result: Any) -> Any:
        return plot_depth(result)


PARTS = (DepthExperiment("test_depth_experiment", "xavier", "xavier_uniform", "深度实验", group="experiment",
                         uses=("test_xavier_variance", "test_layer_variances"), settings=Settings()),)
