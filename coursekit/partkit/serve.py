"""A grading worker: a fresh process that runs some of a submission's cells and answers calls.

While nbgrader grades, the grader (``coursekit.grading.workers``) starts one worker per group of
answer cells (the assignment's :class:`~coursekit.partkit.part.WorkerGroup`), each a clean fork that has run no student code
before. The worker runs the course's setup cell and that group's cells, then serves requests over
its one connection (:mod:`coursekit.partkit.wire`: plain data and tensors): call this graded function on
these inputs, construct this class, backpropagate this gradient, and whatever operations the
assignment adds (``Assignment.worker_ops``, e.g. Lab 2's "run this network on these weights"). It decides nothing:
whatever it sends back is taken as what the student's function returned, and judged by the
grader in its own process against references it computes there. Code in one group's cells runs only
in that group's worker, so it can change only the answers of that group's functions.

While a call runs, the PyTorch functions a TODO's rule forbids can be recorded (``record``: their
names) with a ``TorchFunctionMode``, which sees them however they were reached (an alias, a dict,
``torch.ops``). The same class answers the notebook's own checks, in the student's kernel
(:mod:`coursekit.partkit.local`).
"""

from __future__ import annotations

import numbers
import signal
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

import torch
from torch.overrides import TorchFunctionMode

from coursekit.partkit.wire import Channel, WireError

class _Recorder(TorchFunctionMode):
    def __init__(self, names: frozenset[str], calls: list[str]) -> None:
        super().__init__()
        self.names, self.calls = names, calls

    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", "").split(".")[0]  # torch.ops.aten.sigmoid.default: "sigmoid.default"
        if name in self.names:
            self.calls.append(name)
        return func(*args, **(kwargs or {}))


def describe(value: Any) -> Any:
    """What a student's function returned, as the wire carries it: a tensor, else a description."""
    if type(value) is torch.Tensor or type(value) is torch.nn.Parameter:
        return value.detach().to("cpu").clone()
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        try:
            return {"number": float(value)}
        except Exception:  # a student's number-like object can raise anything
            pass
    try:
        text = repr(value)[:200]
    except Exception:  # noqa: BLE001 -- a student's __repr__
        text = "?"
    return {"type": type(value).__name__, "text": text}


def error(err: BaseException) -> dict[str, str]:
    if isinstance(err, NotImplementedError):
        return {"error": "NotImplementedError"}
    return {"error": f"{type(err).__name__}: {err}"[:400], "ename": type(err).__name__,
            "name": getattr(err, "name", None) or ""}


class CellTimeout(Exception):
    """A cell ran past the cell time limit (not a KeyboardInterrupt: a cell that swallows those still stops)."""


@contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    if not seconds:
        yield
        return

    def expired(signum, frame):
        raise CellTimeout(f"这个单元格运行超过 {seconds:g} 秒，已被中断")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds, 1.0)  # and again every second, should it be swallowed
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class Worker:
    """The worker's state: the cells' namespace and what backward calls still need."""

    def __init__(self) -> None:
        self.shell = None
        self.handles: dict[int, tuple[list[torch.Tensor], torch.Tensor]] = {}
        self.state: dict[Any, Any] = {}  # for the assignment's own operations (e.g. networks built once)
        self.ops: dict[str, Any] = {}    # the assignment's operations: name -> function(worker, **args)
        self.counter = 0
        self._namespace: dict[str, Any] | None = None

    @property
    def namespace(self) -> dict[str, Any]:
        return self._namespace if self._namespace is not None else self.shell.user_ns

    def use(self, ops: str) -> None:
        """Add the assignment's operations (``module:NAME`` of a dict name -> function(worker, **args))."""
        from coursekit.partkit.part import resolve
        self.ops = dict(resolve(ops)) if ops else {}

    # --- cells ------------------------------------------------------------------------------
    def run(self, cells: list[list[str]], cell_timeout: float = 0, ops: str = "") -> dict[str, Any]:
        """Run the cells (name, source) one after the other as a notebook would (magics, display).
        A cell still running after ``cell_timeout`` seconds is interrupted (CellTimeout), as the notebook's
        kernel interrupts it; what it defined before stays. ``ops``: the assignment's operations, added
        before any cell runs (:meth:`use`)."""
        self.use(ops)
        if self.shell is None:
            from IPython.core.interactiveshell import InteractiveShell
            from traitlets.config import Config
            config = Config()
            config.HistoryManager.hist_file = ":memory:"
            self.shell = InteractiveShell.instance(config=config)
        results = []
        for name, source in cells:
            with _time_limit(cell_timeout):
                outcome = self.shell.run_cell(source, store_history=False, silent=True)
            err = outcome.error_before_exec or outcome.error_in_exec
            failure = error(err) if err is not None else {}
            failure.pop("name", None)  # a NameError's missing name is in its message; "name" is the cell's
            results.append({**failure, "name": name})
        return {"cells": results}

    # --- calls ------------------------------------------------------------------------------
    def resolve(self, target: list[str]) -> Any:
        name, *attribute = target
        if name not in self.namespace:
            raise NameError(f"name {name!r} is not defined", name=name)
        obj = self.namespace[name]
        if attribute:
            obj = getattr(obj(), attribute[0])
        return obj

    def call(self, target: list[str], args: list[Any], seed: int | None = None, record: list[str] | None = None,
             keep: bool = False) -> dict[str, Any]:
        """``target(*args)`` on copies of the inputs; the copies afterwards show any in-place change.

        ``keep``: the inputs that are floating-point tensors require grad and the call's graph is
        kept for :meth:`backward` (the answer carries its handle)."""
        inputs = [a.clone() if isinstance(a, torch.Tensor) else a for a in args]
        if keep:
            inputs = [a.requires_grad_(True) if isinstance(a, torch.Tensor) and a.is_floating_point() else a
                      for a in inputs]
        calls: list[str] = []
        recorder = _Recorder(frozenset(record), calls) if record else nullcontext()
        answer: dict[str, Any] = {}
        try:
            function = self.resolve(target)
            with recorder:
                if seed is not None:
                    torch.manual_seed(seed)
                out = function(*inputs)
        except Exception as err:  # noqa: BLE001 -- the student's code can raise anything
            answer["value"] = error(err)
        else:
            answer["value"] = describe(out)
            if keep and isinstance(out, torch.Tensor) and out.requires_grad:
                answer["handle"] = self.keep([a for a in inputs if isinstance(a, torch.Tensor) and a.requires_grad],
                                              out)
        answer["after"] = [a.detach().clone() if isinstance(a, torch.Tensor) else None for a in inputs]
        answer["calls"] = sorted(set(calls))
        return answer

    def construct(self, target: list[str], args: list[Any]) -> dict[str, Any]:
        """Build ``target(*args)``; say only whether and what it raised."""
        try:
            self.resolve(target)(*args)
        except Exception as err:  # noqa: BLE001
            return {"raised": type(err).__name__}
        return {"raised": None}

    def keep(self, inputs: list[torch.Tensor], out: torch.Tensor) -> int:
        """Keep a call's graph for :meth:`backward`; its handle."""
        self.counter += 1
        self.handles[self.counter] = (inputs, out)
        return self.counter

    def backward(self, handle: int, grad: torch.Tensor) -> dict[str, Any]:
        """Gradients of the kept call's inputs (or network weights) for the output gradient ``grad``."""
        if handle not in self.handles:
            return {"value": {"error": "KeyError: unknown handle"}}
        inputs, out = self.handles.pop(handle)
        try:
            grads = torch.autograd.grad(out, inputs, grad_outputs=grad.to(out.dtype), allow_unused=True)
        except Exception as err:  # noqa: BLE001
            return {"value": error(err)}
        return {"grads": [torch.zeros_like(i) if g is None else g.detach() for i, g in zip(inputs, grads)]}

    def forget(self, handles: list[int]) -> dict[str, Any]:
        for handle in handles:
            self.handles.pop(handle, None)
        return {}


OPS = ("run", "call", "construct", "backward", "forget")


def answer(worker: Worker, request: Any) -> dict[str, Any]:
    """The worker's answer to one request (a failure is an answer too)."""
    op = request.get("op") if isinstance(request, dict) else None
    try:
        if op in OPS:
            return getattr(worker, op)(**request.get("args", {}))
        if op in worker.ops:
            return worker.ops[op](worker, **request.get("args", {}))
        raise ValueError(f"unknown request {op!r}")
    except Exception as err:  # noqa: BLE001 -- any failure is the answer, the loop goes on
        return {"failed": f"{type(err).__name__}: {err}"[:400]}


def serve(channel: Channel) -> None:
    """Answer requests until the grader hangs up."""
    worker = Worker()
    while True:
        try:
            request = channel.receive()
        except WireError:
            return
        reply = answer(worker, request)
        try:
            channel.send(reply)
        except WireError as err:
            if "cannot be sent" not in str(err):
                return
            channel.send({"failed": str(err)})


def main(fd: int = 0) -> None:
    """Serve on the connected socket at file descriptor ``fd`` (the grader's end is the other)."""
    import os
    os.environ.setdefault("MPLBACKEND", "Agg")
    serve(Channel(socket.socket(fileno=fd)))
    sys.stdout.flush()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
