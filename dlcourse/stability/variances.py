"""TODO ``variances``: ``layer_variances(weights, X)`` — push X through a deep linear network
(h₀ = X, hₜ = hₜ₋₁ Wₜᵀ) and return the variance of every layer's output hₜ, as a 1-D tensor.

This is the measurement of the assignment: the depth experiment reads it for three initialisations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from coursekit.partkit.checks import CheckFailed, short
from coursekit.partkit.part import Asker, Part
from coursekit.partkit.remote import returned



@dataclass(frozen=True)
class Settings:
    """relative_tolerance: of each layer's variance. torch.var's unbiased estimate and the biased one (÷ N
    instead of ÷ (N − 1)) differ by 1/N < 1e-3 on every case (N >= 2048 entries); both are right."""

    relative_tolerance: float = 2e-3


def reference(weights: list[torch.Tensor], X: torch.Tensor) -> torch.Tensor:
    h, out = X, []
    for W in weights:
        h = h @ W.T
        out.append(h.var())
    return torch.stack(out)


def network(depth: int, width: int, n: int, std: float, seed: int, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    weights = [torch.randn(width, width, generator=g, dtype=dtype) * std for _ in range(depth)]
    return weights, torch.randn(n, width, generator=g, dtype=dtype)


@dataclass(frozen=True)
class LayerVariances(Part):
    def cases(self, which: str, secret: bytes | None = None) -> list[tuple[list[torch.Tensor], torch.Tensor]]:
        """Visible: a 4-layer network that keeps the variance, one whose variance grows, a float64 one
        whose layers change width. Hidden adds random depths, widths and scales."""
        cases = [network(4, 64, 64, 1 / 8, 1), network(3, 64, 32, 0.5, 2)]
        g = torch.Generator().manual_seed(3)
        widths = [48, 96, 64, 32]
        X = torch.randn(64, widths[0], generator=g, dtype=torch.float64)
        cases.append(([torch.randn(o, i, generator=g, dtype=torch.float64) / i ** 0.5
                       for i, o in zip(widths, widths[1:])], X))
        if which == "hidden":
            base = self.hidden_seed(secret)
            h = torch.Generator().manual_seed(base)
            for k in range(3):
                depth, width = int(torch.randint(1, 12, (), generator=h)), int(torch.randint(32, 128, (), generator=h))
                std = float(torch.empty(()).uniform_(0.3, 2.0, generator=h)) / width ** 0.5
                cases.append(network(depth, width, 2048 // width + 16, std, base + k))
        return cases

    def measure(self, worker: Asker, which: str, secret: bytes | None = None) -> dict[str, Any]:
        outputs = []
        for weights, X in self.cases(which, secret):
            outputs.append(returned(worker.ask("call", target=[self.definition], args=[weights, X])))
        return {"outputs": outputs}

    def judge(self, data: dict[str, Any], which: str, secret: bytes | None = None) -> None:
        for (weights, X), got in zip(self.cases(which, secret), data["outputs"], strict=True):
            what = f"layer_variances(weights, X)（{len(weights)} 层，X 形状 {tuple(X.shape)}）"
            if isinstance(got, dict) and got.get("error") == "NotImplementedError":
                raise CheckFailed("layer_variances 还没有实现：把 raise NotImplementedError() 换成你的代码。")
            if isinstance(got, dict) and "error" in got:
                raise CheckFailed(f"调用 {what} 时出错：{got['error']}")
            if not isinstance(got, torch.Tensor):
                raise CheckFailed(f"{what} 应返回一维张量（每层一个方差，用 torch.stack 把它们拼起来），"
                                  f"得到 {got.get('type', '?') if isinstance(got, dict) else type(got).__name__}。")
            expected = reference(weights, X)
            if tuple(got.shape) == (len(weights) + 1,):
                raise CheckFailed(f"{what} 应返回 {len(weights)} 个方差（每个线性层的输出一个），得到 {len(weights) + 1} 个："
                                  f"不要把输入 X 本身的方差算进去。")
            if tuple(got.shape) != (len(weights),) or not got.is_floating_point():
                raise CheckFailed(f"{what} 应返回形状 ({len(weights)},) 的浮点张量，得到 {short(got)}。")
            error = ((got.double() - expected.double()).abs() / expected.double()).nan_to_num(nan=float("inf"))
            if not (error <= self.settings.relative_tolerance).all():
                t = int(error.argmax())
                raise CheckFailed(f"{what} 第 {t + 1} 层的方差应为 {expected[t].item():.6g}，得到 {got[t].item():.6g}"
                                  f"（相对容差 {self.settings.relative_tolerance:g}）。提示：第 t 层的输出是 hₜ = hₜ₋₁ @ Wₜ.T（h₀ = X），"
                                  f"它的方差是 hₜ.var()，对所有元素求；下一层的输入是这一层的输出。")


PARTS = (LayerVariances("test_layer_variances", "variances", "layer_variances", "layer_variances", settings=Settings()),)
