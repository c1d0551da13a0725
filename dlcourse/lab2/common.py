"""What Lab 2's parts share: case generators, and the judges' ways of saying what came back."""

from __future__ import annotations

from typing import Any

import torch

from coursekit.partkit.checks import assert_close, assert_tensor_like, fail, short


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def shape(generator: torch.Generator, dims: int, low: int = 1, high: int = 9) -> tuple[int, ...]:
    return tuple(int(n) for n in torch.randint(low, high, (dims,), generator=generator))


def describe_bad(what: str, got: Any, inputs: str) -> str | None:
    """The message for a call that did not return a tensor (None when it did)."""
    if isinstance(got, dict) and "error" in got:
        if got["error"] == "NotImplementedError":
            return f"{what} 还没有实现：把 raise NotImplementedError() 换成你的代码。"
        return f"调用 {what} 时出错（输入 {inputs}）：{got['error']}"
    if not isinstance(got, torch.Tensor):
        kind = got.get("type", "?") if isinstance(got, dict) else type(got).__name__
        return f"{what} 应该返回一个 torch.Tensor，但对输入 {inputs} 返回了 {kind}。提示：检查函数是否有 return 语句。"
    return None


def compare(what: str, got: Any, expected: torch.Tensor, x: torch.Tensor, hint: str = "") -> None:
    """`got` must be a plain tensor like `expected` (shape, dtype) and equal to it within the dtype's tolerance."""
    bad = describe_bad(what, got, short(x))
    if bad:
        fail(bad)
    assert_close(what, got, expected, x, hint=hint)


def output_like(what: str, got: Any, X: torch.Tensor) -> torch.Tensor:
    """`got` must be a tensor of X's shape, dtype and device."""
    bad = describe_bad(what, got, short(X))
    if bad:
        fail(bad)
    assert_tensor_like(what, got, X, short(X))
    return got


def no_builtin(what: str, calls: list[str], allowed: str) -> None:
    if calls:
        fail(f"{what} 调用了 PyTorch 现成的实现（{', '.join(calls)}）。{allowed}所以这一部分不得分。")


def finite(name: str, values: list[float]) -> None:
    import math
    if not all(isinstance(v, float) and math.isfinite(v) for v in values):
        fail(f"{name}中出现了 nan 或 inf：{values}。检查你的函数在大输入下是否数值稳定。")
