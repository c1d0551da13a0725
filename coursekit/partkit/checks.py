"""Checks used by the notebook's self-checks and tests, with messages a student can act on.

Every failure raises :class:`CheckFailed` (an ``AssertionError``) whose message says, in
Chinese with English identifiers, which function failed, on which input, what was expected
and what came back, and gives a hint. Tolerances are stated in :data:`TOLERANCES`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch

#: (rtol, atol) of every comparison with a reference (torch.allclose), per dtype, unless a part says otherwise.
TOLERANCES = {torch.float32: (1e-5, 1e-6), torch.float64: (1e-9, 1e-12)}


class CheckFailed(AssertionError):
    """A check failed; the message is written for the student."""


def fail(message: str) -> None:
    raise CheckFailed(message)


@contextmanager
def explain(what: str) -> Iterator[None]:
    """Turn a crash inside student code into a failure that says what happened, in words.

        with explain("MyReLU"):
            assert_close("MyReLU()(x)", MyReLU()(x), torch.relu(x), x)

    NotImplementedError becomes "not implemented yet"; any other exception (except a
    failed check) becomes "raised <type>: <message>" naming `what`.
    """
    try:
        yield
    except NotImplementedError:
        fail(f"{what} 还没有实现：把 raise NotImplementedError() 换成你的代码。")
    except AssertionError:
        raise
    except Exception as err:  # student code can raise anything; report it, don't crash the grader
        raise CheckFailed(f"调用 {what} 时出错：{type(err).__name__}: {err}") from err


def short(value: Any, limit: int = 6) -> str:
    """A one-line description of a tensor (first few values, dtype, shape) or other value."""
    if not isinstance(value, torch.Tensor):
        text = repr(value)
        return text if len(text) <= 80 else text[:77] + "..."
    flat = value.detach().reshape(-1).cpu()
    values = ", ".join(f"{v:.6g}" for v in flat[:limit].tolist())
    more = ", ..." if flat.numel() > limit else ""
    return f"[{values}{more}] (dtype={str(value.dtype).removeprefix('torch.')}, shape={tuple(value.shape)})"


def assert_tensor_like(what: str, got: Any, like: torch.Tensor, inputs: str, hint: str = "") -> None:
    """`got` must be a tensor with the shape, dtype and device of `like`."""
    if not isinstance(got, torch.Tensor):
        fail(f"{what} 应该返回一个 torch.Tensor，但对输入 {inputs} 返回了 {type(got).__name__}: {short(got)}。"
             f"提示：检查函数是否有 return 语句。")
    if tuple(got.shape) != tuple(like.shape):
        fail(f"{what} 输出的形状不对：输入 {inputs}，期望形状 {tuple(like.shape)}，得到 {tuple(got.shape)}。"
             + (f"提示：{hint}" if hint else "提示：逐元素运算的输出形状应与输入相同。"))
    if got.dtype != like.dtype:
        fail(f"{what} 改变了 dtype：输入 {inputs}，期望 {like.dtype}，得到 {got.dtype}。"
             f"提示：用 torch.zeros_like(x)/torch.ones_like(x) 或 .to(x.dtype)，"
             f"不要用 Python 常数让 torch.where 产生默认的 float32。")
    if got.device != like.device:
        fail(f"{what} 改变了设备：输入在 {like.device} 上，输出却在 {got.device} 上。"
             f"提示：新建张量时用 *_like 函数或传入 device=x.device。")


def assert_close(what: str, got: Any, expected: torch.Tensor, x: torch.Tensor, hint: str = "",
                 rtol: float | None = None, atol: float | None = None) -> None:
    """`got` must equal `expected` within the dtype's tolerance, with no spurious nan/inf."""
    inputs = short(x)
    assert_tensor_like(what, got, expected, inputs, hint)
    default_rtol, default_atol = TOLERANCES.get(expected.dtype, (1e-5, 1e-6))
    rtol = default_rtol if rtol is None else rtol
    atol = default_atol if atol is None else atol
    got_d, exp_d = got.detach().cpu(), expected.detach().cpu()
    x_flat = x.detach().cpu().reshape(-1) if x.numel() == exp_d.numel() else None

    def where(i: int) -> str:  # an element of the output named by its input, when there is one per element
        return f"在 x = {x_flat[i].item():.6g} 处" if x_flat is not None else f"在第 {i} 个元素处"

    bad_finite = torch.isfinite(exp_d) & ~torch.isfinite(got_d)
    if bad_finite.any():
        i = int(bad_finite.reshape(-1).nonzero()[0])
        fail(f"{what} {where(i)}得到 {got_d.reshape(-1)[i].item()}，"
             f"而正确值是有限数 {exp_d.reshape(-1)[i].item():.6g}（输入 {inputs}）。"
             f"提示：exp 对很大的正数会溢出成 inf，inf/inf 得到 nan；改写成只对非正数求 exp 的数值稳定形式。"
             + (f" {hint}" if hint else ""))
    if not torch.allclose(got_d, exp_d, rtol=rtol, atol=atol, equal_nan=True):
        diff = (got_d - exp_d).abs().nan_to_num(nan=float("inf")).reshape(-1)
        i = int(diff.argmax())
        fail(f"{what} 的结果不对：{where(i)}期望 "
             f"{exp_d.reshape(-1)[i].item():.8g}，得到 {got_d.reshape(-1)[i].item():.8g}"
             f"（输入 {inputs}；容差 rtol={rtol:g}, atol={atol:g}）。" + (f"提示：{hint}" if hint else ""))


def assert_unchanged(what: str, before: torch.Tensor, after: torch.Tensor) -> None:
    """The function must not have modified its input in place."""
    if not torch.equal(before, after):
        fail(f"{what} 修改了传入的张量 x（原地操作）。调用前 {short(before)}，调用后 {short(after)}。"
             f"提示：不要写 x[...] = ... 或 x.relu_() 这类原地操作，应返回一个新张量。")


def autograd_derivative(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """Elementwise derivative of `fn` at `x`, computed by autograd (the reference)."""
    x_req = x.detach().clone().requires_grad_(True)
    fn(x_req).sum().backward()
    return x_req.grad.detach()
