"""TODO ``xavier``: ``xavier_uniform(fan_out, fan_in)`` — a weight matrix drawn from U(−a, a) with
a = √(6 / (fan_in + fan_out)), so that its variance a²/3 is 2 / (fan_in + fan_out).

Two parts: the shape and range of what it draws, and the variance (and mean) of its entries. Both are
statistical on large draws: a correct answer fails them with probability < 1e-11.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from coursekit.partkit.checks import fail, short
from coursekit.partkit.part import Asker, Part, Rule, call_seed
from coursekit.partkit.remote import returned

RULE = Rule(
    label="现成的初始化函数",
    words=("xavier", "glorot", "kaiming"),
    what="现成的初始化函数（torch.nn.init.xavier_uniform_ 之类名字中含 xavier、glorot、kaiming 的函数）",
)


@dataclass(frozen=True)
class VarianceSettings:
    """The variance part's tolerances. Every case draws n >= 65536 entries. Hoeffding on the squares (in
    [0, a²]): the mean of w² is within 5 % of a²/3 except with probability <= 2 exp(−2n·(a²/60)²/a⁴) < 1e-15;
    on the entries (in [−a, a]): |mean| < 0.03·a except with probability <= 2 exp(−n·0.03²/2) < 1e-12. The
    sample variance differs from the mean of w² by mean² < 0.001·a², far inside the tolerance.

    variance_tolerance: relative, of 2/(fan_in + fan_out); mean_tolerance: a share of the range's bound a."""

    variance_tolerance: float = 0.05
    mean_tolerance: float = 0.03


def bound(fan_out: int, fan_in: int) -> float:
    return math.sqrt(6 / (fan_in + fan_out))


def drawn(what: str, got: Any, size: tuple[int, int]) -> torch.Tensor:
    if isinstance(got, dict) and got.get("error") == "NotImplementedError":
        fail("xavier_uniform 还没有实现：把 raise NotImplementedError() 换成你的代码。")
    if isinstance(got, dict) and "error" in got:
        fail(f"调用 {what} 时出错：{got['error']}")
    if not isinstance(got, torch.Tensor):
        fail(f"{what} 应该返回一个 torch.Tensor，得到 {got.get('type', '?') if isinstance(got, dict) else type(got).__name__}。")
    if tuple(got.shape) != size:
        fail(f"{what} 的形状应为 (fan_out, fan_in) = {size}，得到 {tuple(got.shape)}：权重矩阵的行数是输出维度。")
    if got.dtype != torch.float32:
        fail(f"{what} 应是 float32 张量（PyTorch 权重的默认类型），得到 {got.dtype}。")
    return got


@dataclass(frozen=True)
class XavierPart(Part):
    """``statistic``: "range" (shape, dtype, all in [−a, a], fresh on every call) or "variance"."""

    statistic: str = "range"

    def cases(self, which: str, secret: bytes | None = None) -> list[tuple[int, int]]:
        sizes = [(256, 512), (300, 300)]
        if which == "hidden":
            g = torch.Generator().manual_seed(self.hidden_seed(secret))
            sizes += [(int(torch.randint(256, 700, (), generator=g)), int(torch.randint(256, 700, (), generator=g)))
                      for _ in range(2)]
        return sizes

    def measure(self, worker: Asker, which: str, secret: bytes | None = None) -> dict[str, Any]:
        draws = []
        for i, (fan_out, fan_in) in enumerate(self.cases(which, secret)):
            answer = worker.ask("call", target=[self.definition], args=[fan_out, fan_in],
                                seed=call_seed(secret, self.grade_id, i))
            draws.append(returned(answer))
        again = worker.ask("call", target=[self.definition], args=[256, 512], seed=None)
        return {"draws": draws, "again": returned(again)}

    def judge(self, data: dict[str, Any], which: str, secret: bytes | None = None) -> None:
        for (fan_out, fan_in), got in zip(self.cases(which, secret), data["draws"], strict=True):
            what = f"xavier_uniform({fan_out}, {fan_in})"
            W, a = drawn(what, got, (fan_out, fan_in)), bound(fan_out, fan_in)
            if self.statistic == "range":
                if not torch.isfinite(W).all() or W.abs().max() > a * (1 + 1e-6):
                    fail(f"{what} 的元素应都在 [−a, a] 内，a = √(6/(fan_in+fan_out)) = {a:.4f}，得到最大 |w| = "
                         f"{W.abs().max().item():.4f}。提示：torch.rand 给出 [0, 1) 的数，变换成 [−a, a)：(2·u − 1)·a。")
                if W.abs().max() < 0.9 * a:
                    fail(f"{what} 的元素只落在 [−{W.abs().max().item():.4f}, {W.abs().max().item():.4f}] 内，"
                         f"应铺满 [−a, a]，a = {a:.4f}。")
            else:
                variance, mean, target = W.double().var().item(), W.double().mean().item(), a * a / 3
                tolerances = self.settings
                if abs(mean) >= tolerances.mean_tolerance * a:
                    fail(f"{what} 的均值应接近 0，得到 {mean:.4f}（容差 {tolerances.mean_tolerance * a:.4f}）。均匀分布要关于 0 对称。")
                if abs(variance - target) >= tolerances.variance_tolerance * target:
                    fail(f"{what} 的方差应接近 2/(fan_in+fan_out) = {target:.3e}，得到 {variance:.3e}"
                         f"（相对容差 {tolerances.variance_tolerance:.0%}）。U(−a, a) 的方差是 a²/3。")
        if self.statistic == "range":
            first = drawn("xavier_uniform(256, 512)", data["draws"][0], (256, 512))
            again = drawn("xavier_uniform(256, 512)", data["again"], (256, 512))
            if torch.equal(first, again):
                fail(f"两次调用 xavier_uniform(256, 512) 得到了同样的矩阵 {short(first)}：每次调用都应重新抽样"
                     f"（用 torch.rand，不要固定随机种子）。")


PARTS = (
    XavierPart("test_xavier_range", "xavier", "xavier_uniform", "xavier_uniform 的形状和取值范围", statistic="range"),
    XavierPart("test_xavier_variance", "xavier", "xavier_uniform", "xavier_uniform 的均值和方差", statistic="variance",
               settings=VarianceSettings()),
)
