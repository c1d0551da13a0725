"""TODO ``l2_penalty``: ``l2_penalty(w) = ½·Σw²`` (its value and gradient), and the weight-decay
experiment that trains the course's linear regression with it."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from dlcourse import experiments
from dlcourse.lab2.common import compare, fail, finite, gen, shape
from coursekit.partkit.checks import assert_unchanged
from coursekit.partkit.part import Asker, Context, Experiment, Part
from coursekit.partkit.remote import gradients, remote_function, returned



@dataclass(frozen=True)
class WeightDecaySettings:
    """test_gain: from w = 0, L2 with the profile's λ must end at <= test_gain × the test loss of λ = 0
    (the reference: under 0.7 × on 20 seeds, benchmarks/experiment_robustness.py)."""

    test_gain: float = 0.8


@dataclass(frozen=True)
class L2Penalty(Part):
    def cases(self, which: str, secret: bytes | None = None) -> list[torch.Tensor]:
        inputs = [torch.tensor([1.0, -2.0, 3.0]), torch.tensor([[0.5], [-1.5]], dtype=torch.float64), torch.tensor(2.0)]
        if which == "hidden":
            g = gen(self.hidden_seed(secret))
            for size, dtype in [(shape(g, 2, 1, 300), torch.float32), (shape(g, 2, 1, 300), torch.float64),
                                (shape(g, 3), torch.float32), (shape(g, 1, 1, 20), torch.float64),
                                ((0,), torch.float32), ((), torch.float64)]:
                inputs.append(torch.randn(size, generator=g, dtype=dtype) * 3)
        return inputs

    def measure(self, worker: Asker, which: str, secret: bytes | None = None) -> dict[str, Any]:
        values, grads, after = [], [], []
        for w in self.cases(which, secret):
            answer = worker.ask("call", target=[self.definition], args=[w])
            values.append(returned(answer))
            after.append(answer["after"][0])
            kept = worker.ask("call", target=[self.definition], args=[w], keep=True)
            value = returned(kept)
            if isinstance(value, torch.Tensor) and value.numel() != 1:
                grads.append(torch.zeros(0))  # not a scalar: no gradient to ask for
                continue
            grad = gradients(worker, kept)
            grads.append(grad[0] if isinstance(grad, list) else torch.zeros(0) if grad is None else grad)
        return {"values": values, "grads": grads, "inputs_after": after}

    def judge(self, data: dict[str, Any], which: str, secret: bytes | None = None) -> None:
        for w, value, grad, after in zip(self.cases(which, secret), data["values"], data["grads"], data["inputs_after"],
                                         strict=True):
            compare("l2_penalty(w)", value, (w ** 2).sum() / 2, w,
                    "L2 惩罚是所有元素平方和的一半，返回一个 0 维张量：torch.sum(w ** 2) / 2。")
            assert_unchanged("l2_penalty", w, after)
            compare("l2_penalty 对 w 的梯度", grad, w, w, "½·Σw² 对 w 的梯度就是 w 本身；如果得到 2w，说明少了 1/2。")


@dataclass(frozen=True)
class WeightDecay(Experiment):
    def run(self, worker: Asker, context: Context) -> Any:
        wd, seed = context.profile.weight_decay, context.profile.seed
        regression = experiments.synthetic_regression(d=wd["num_inputs"], n_train=wd["num_train"], n_test=wd["num_test"],
                                                      noise=wd["noise"], seed=seed)
        return experiments.run_weight_decay(regression, wd, penalty=lambda w: remote_function(worker, "l2_penalty", w),
                                            seed=seed)

    def measurement(self, result: Any) -> dict[str, Any]:
        return {"runs": [{"init": run.init, "lambd": float(run.lambd), "weight_norm": run.weight_norm,
                          "test_loss": run.test_loss[-1] if run.test_loss else math.nan} for run in result.values()]}

    def judge(self, data: dict[str, Any], which: str, secret: bytes | None = None) -> None:
        runs = {(run["init"], run["lambd"] > 0): run for run in data["runs"]}
        plain, penalised = runs[("zero", False)], runs[("zero", True)]
        lambd = penalised["lambd"]
        finite("权重衰减实验", [plain["weight_norm"], penalised["weight_norm"], plain["test_loss"], penalised["test_loss"]])
        if not penalised["weight_norm"] < plain["weight_norm"]:
            fail(f"从 w = 0 出发，λ = {lambd:g} 时 ‖w‖ = {penalised['weight_norm']:.4f}，应小于 λ = 0 时的 "
                 f"{plain['weight_norm']:.4f}。检查 l2_penalty 是否真的对 w 求了平方和。")
        gain = self.settings.test_gain
        if not penalised["test_loss"] <= gain * plain["test_loss"]:
            fail(f"从 w = 0 出发，λ = {lambd:g} 时的测试损失（{penalised['test_loss']:.4f}）应不超过 λ = 0 时"
                 f"（{plain['test_loss']:.4f}）的 {gain:g} 倍（参考实现在 20 个随机种子下都不到 0.7 倍）。"
                 f"检查 l2_penalty 的值和梯度。")

    def figure(self, result: Any) -> Any:
        from dlcourse import plotting
        return plotting.plot_weight_decay(list(result.values()), true_w=0.01)


PARTS = (
    L2Penalty("test_l2_penalty", "l2_penalty", "l2_penalty", "l2_penalty"),
    WeightDecay("test_weight_decay", "l2_penalty", "l2_penalty", "权重衰减实验", uses=("test_l2_penalty",),
                settings=WeightDecaySettings()),
)
