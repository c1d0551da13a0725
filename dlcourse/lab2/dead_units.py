"""TODO ``dead_units``: ``dead_unit_fraction(H)`` — the share of a layer's units that output 0 on
every image (rows of H: images, columns: units). The judge names the usual mistakes by the number
they give."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from dlcourse.lab2.common import describe_bad, fail, gen
from coursekit.partkit.checks import assert_unchanged, short
from coursekit.partkit.part import Asker, Part
from coursekit.partkit.remote import returned



@dataclass(frozen=True)
class Settings:
    """tolerance: |dead_unit_fraction(H) − the true fraction| allowed (a fraction of at most a few hundred
    units, in float32 or float64)."""

    tolerance: float = 1e-6


def hidden_layer(size: tuple[int, int], dead: list[int], dtype: torch.dtype, seed: int, *, tanh: bool = False,
                 alive_once: tuple[int, ...] = ()) -> torch.Tensor:
    """Outputs of one hidden layer on a batch of images (rows: images, columns: units).

    Units in `dead` output 0 on every row; units in `alive_once` output 0 on every row but one.
    ReLU-like values are >= 0 with zeros scattered elsewhere; tanh-like values are in (-1, 1).
    """
    g = gen(seed)
    z = torch.randn(size, generator=g, dtype=dtype)
    H = torch.tanh(z) if tanh else torch.relu(z)
    for unit in alive_once:
        H[:, unit] = 0
        H[int(torch.randint(size[0], (1,), generator=g)), unit] = 0.5
    H[:, dead] = 0
    return H


def mistake_hint(H: torch.Tensor, value: float, tolerance: float) -> str:
    """Name the usual mistake when the wrong answer is what that mistake gives."""
    zero = H == 0
    mistakes = [
        ((zero.double().mean()), "你算的是 H 中等于 0 的元素所占的比例；死亡单元要对每一张探针图像都输出 0（对行方向用 .all(dim=0)）。"),
        ((zero.any(dim=0).double().mean()), "只要有一张图像输出 0 就算死亡是不对的：单元只是没被那张图激活，要对每一张都输出 0 才算。"),
        ((zero.all(dim=1).double().mean()), "方向反了：行是探针图像，列是单元，所以沿第 0 维（dim=0）判断。"),
        (((H <= 0).all(dim=0).double().mean()), "只有恰好输出 0 才算：tanh 这样的激活可以输出负数，那不是死亡。"),
        ((zero.all(dim=0).double().sum()), "这是死亡单元的个数；要返回的是比例：个数除以单元总数 H.shape[1]。"),
    ]
    for wrong, hint in mistakes:
        if abs(value - float(wrong)) <= tolerance:
            return hint
    return "死亡单元：在所有探针图像上都输出 0 的单元（H 的一列全为 0）；返回它们占单元总数的比例。"


@dataclass(frozen=True)
class DeadUnits(Part):
    def cases(self, which: str, secret: bytes | None = None) -> list[torch.Tensor]:
        """Visible: ReLU-like with dead and once-alive units, tanh-like (negative values), none dead.
        Hidden: random shapes (never square, so rows and columns cannot be confused), random dead and
        once-alive units, float64, all dead, one row."""
        inputs = [hidden_layer((6, 5), [1, 3], torch.float32, 1, alive_once=(4,)),
                  hidden_layer((4, 7), [2], torch.float64, 2, tanh=True),
                  hidden_layer((3, 4), [], torch.float32, 3)]
        if which == "hidden":
            base = self.hidden_seed(secret)
            g = gen(base)
            for k, (dtype, tanh) in enumerate([(torch.float32, False), (torch.float64, False), (torch.float32, False),
                                               (torch.float32, True), (torch.float64, False)]):
                rows = int(torch.randint(2, 600, (), generator=g))
                units = int(torch.randint(3, 150, (), generator=g))
                units += int(units == rows)
                order = torch.randperm(units, generator=g).tolist()
                dead = order[: int(torch.randint(0, units // 2 + 1, (), generator=g))]
                once = tuple(order[len(dead): len(dead) + int(torch.randint(0, 4, (), generator=g))])
                inputs.append(hidden_layer((rows, units), dead, dtype, base + k, tanh=tanh, alive_once=once))
            units = int(torch.randint(2, 20, (), generator=g))
            inputs += [hidden_layer((units + 7, units), list(range(units)), torch.float32, base + 10),
                       hidden_layer((1, units + 1), [units // 2], torch.float32, base + 11)]
        return inputs

    def measure(self, worker: Asker, which: str, secret: bytes | None = None) -> dict[str, Any]:
        outputs, after = [], []
        for H in self.cases(which, secret):
            answer = worker.ask("call", target=[self.definition], args=[H])
            value = answer.get("value")
            # a plain number (Python's or numpy's float) is a fine answer too: recorded as float64
            outputs.append(torch.tensor(value["number"], dtype=torch.float64) if isinstance(value, dict) and "number" in value
                           else returned(answer))
            after.append(answer["after"][0])
        return {"outputs": outputs, "inputs_after": after}

    def judge(self, data: dict[str, Any], which: str, secret: bytes | None = None) -> None:
        for H, got, after in zip(self.cases(which, secret), data["outputs"], data["inputs_after"], strict=True):
            what = f"dead_unit_fraction(H)（H 形状 {tuple(H.shape)}：{H.shape[0]} 张探针图像 × {H.shape[1]} 个单元）"
            bad = describe_bad(what, got, short(H))
            if bad:
                fail(bad.replace("应该返回一个 torch.Tensor", "应该返回一个数（0 维张量或 Python float）"))
            if got.numel() != 1 or not torch.isfinite(got).all():
                fail(f"{what} 应返回一个 0 到 1 之间的数（0 维张量），得到 {short(got)}。")
            value, expected = float(got), float((H == 0).all(dim=0).double().mean())
            if abs(value - expected) > self.settings.tolerance:
                fail(f"{what} 应为 {expected:.4f}，得到 {value:.4f}。{mistake_hint(H, value, self.settings.tolerance)}")
            assert_unchanged("dead_unit_fraction", H, after)


PARTS = (DeadUnits("test_dead_units", "dead_units", "dead_unit_fraction", "dead_unit_fraction", settings=Settings()),)
