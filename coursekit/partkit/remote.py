"""What a worker's answers mean to a part: the student's return values, and the student's functions
inside the course's own computations (an experiment's training loop) as proxies.

:func:`returned` turns a worker's answer into what the judges read: a plain tensor, or a description
(``{"error": ...}``, ``{"type": ..., "text": ...}``). :func:`remote_function` wraps one of the
student's functions so that the course's code can call it in a computation graph: its forward pass
and its backward pass are both asked of the worker, everything else stays in the grader's process.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from coursekit.partkit.part import Asker, ExperimentFailed


def returned(answer: dict[str, Any]) -> Any:
    """What the student's function returned, as the judges read it."""
    value = answer.get("value")
    if isinstance(value, dict) and "number" in value:
        return {"type": "float", "text": repr(value["number"])}
    if isinstance(value, dict) and "ename" in value:
        return {"error": value["error"]}
    return value


def raised(answer: dict[str, Any]) -> str:
    """The name of the exception a call raised, else "no error"."""
    value = answer.get("value")
    if isinstance(value, dict) and "error" in value:
        return value.get("ename", "NotImplementedError")
    return "no error"


def gradients(worker: Asker, answer: dict[str, Any], grad_like: Callable[[torch.Tensor], torch.Tensor] = torch.ones_like
              ) -> Any:
    """The gradients of a kept call's inputs (the answer of a call with ``keep=True``), or what came
    back instead: the call's output when it is not a tensor, an empty tensor when its graph was cut."""
    value = returned(answer)
    if "handle" in answer and isinstance(value, torch.Tensor):
        back = worker.ask("backward", handle=answer["handle"], grad=grad_like(value))
        return back["grads"] if "grads" in back else returned(back)
    return value if not isinstance(value, torch.Tensor) else None


def tensor(answer: dict[str, Any], what: str, like: torch.Size | None = None) -> torch.Tensor:
    """The answer's tensor, else ExperimentFailed saying what the experiment got instead."""
    value = returned(answer)
    if isinstance(value, dict):
        if value.get("error") == "NotImplementedError":
            raise ExperimentFailed(f"实验要调用的 {what} 还没有完成（NotImplementedError）：先实现它，这个实验才能运行")
        if "error" in value:
            raise ExperimentFailed(f"实验调用 {what} 时出错：{value['error']}")
        raise ExperimentFailed(f"实验调用 {what} 时得到的不是张量，而是 {value.get('type', '?')}")
    if like is not None and value.shape != like:
        raise ExperimentFailed(f"实验调用 {what} 得到形状 {tuple(value.shape)}，应为 {tuple(like)}")
    return value


class _Remote(torch.autograd.Function):
    """One call of a student's function inside the graph: forward and backward are asked of the worker."""

    @staticmethod
    def forward(ctx, ask, what, x):
        answer = ask(x, True)
        out = tensor(answer, what)
        ctx.ask_backward, ctx.handle, ctx.what = ask.backward, answer.get("handle"), what
        return out.to(x.dtype)

    @staticmethod
    def backward(ctx, grad):
        if ctx.handle is None:
            raise ExperimentFailed(f"{ctx.what} 的输出不能反向传播（计算图被切断了）")
        grads = ctx.ask_backward(ctx.handle, grad)
        return None, None, grads[0]


class _Asker:
    def __init__(self, worker: Asker, target: list[str], extra: list[Any], seed: int | None) -> None:
        self.worker, self.target, self.extra, self.seed = worker, target, extra, seed

    def __call__(self, x: torch.Tensor, keep: bool) -> dict[str, Any]:
        return self.worker.ask("call", target=self.target, args=[x.detach(), *self.extra], seed=self.seed, keep=keep)

    def backward(self, handle: int, grad: torch.Tensor) -> list[torch.Tensor]:
        answer = self.worker.ask("backward", handle=handle, grad=grad)
        if "grads" not in answer:
            raise ExperimentFailed(f"{self.target[0]} 反向传播时出错：{returned(answer)}")
        return answer["grads"]


def remote_function(worker: Asker, name: str, x: torch.Tensor, *extra: Any, seed: int | None = None) -> torch.Tensor:
    """``name(x, *extra)`` of the student's, in the worker, as a node of this process's graph (its
    gradient with respect to x is the worker's backward pass). ``seed``: torch's seed for the call."""
    return _Remote.apply(_Asker(worker, [name], list(extra), seed), name, x)
