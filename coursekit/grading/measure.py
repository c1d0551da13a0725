"""Measuring every autograded part from the grader's process, calling the student's functions in workers.

For a part, :func:`measure` draws the part's cases (the hidden ones from the grader's secret), sends
each one to the worker that runs the part's cells (:mod:`coursekit.grading.workers`), and collects what
came back into the measurement that :func:`coursekit.lab.parts.judge` reads. The experiments are run
here too (:func:`run_experiment`): the course's own experiment code, in this process, where the
student's network, activations, ``l2_penalty`` and ``dropout_layer`` are proxies whose every call (and
backward pass) is answered by a worker. Weights, data, batches, losses, gradients' statistics and the
dead-unit counts are all this process's: a worker only answers "what does your function give here".
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from coursekit.grading.workers import Worker
from coursekit.lab import experiments
from coursekit.lab.parts import _network_input, _network_parameters, cases
from coursekit.lab.spec import PARTS


class ExperimentFailed(RuntimeError):
    """The student's function gave something an experiment cannot go on with (the message says what)."""


def _value(answer: dict[str, Any]) -> Any:
    value = answer.get("value")
    if isinstance(value, dict) and "number" in value:
        return {"type": "float", "text": repr(value["number"])}
    if isinstance(value, dict) and "ename" in value:
        return {"error": value["error"]}
    return value


def _seed(secret: bytes, *words: object) -> int:
    digest = hashlib.sha256(secret + "/".join(map(str, words)).encode()).digest()
    return int.from_bytes(digest[:6], "big")


# --- the parts that call one function ----------------------------------------------------------

def _activation(worker: Worker, grade_id: str, secret: bytes) -> dict[str, Any]:
    part = PARTS[grade_id]
    method = "derivative" if part.kind == "derivative" else "__call__"
    outputs, after, calls = [], [], set()
    for x in cases(grade_id, "hidden", secret):
        answer = worker.ask("call", target=[part.definition, method], args=[x], record="activations")
        outputs.append(_value(answer))
        after.append(answer["after"][0])
        calls |= set(answer["calls"])
    return {"outputs": outputs, "inputs_after": after, "builtin_calls": sorted(calls)}


def _flat(params: list[tuple[torch.Tensor, torch.Tensor]]) -> list[torch.Tensor]:
    return [t for pair in params for t in pair]


def _forward(worker: Worker, grade_id: str, secret: bytes) -> dict[str, Any]:
    outputs = []
    for name, layers, seed in cases(grade_id, "hidden", secret):
        answer = worker.ask("network", sizes=[12, 3, layers, 100], activation=name,
                            params=_flat(_network_parameters(layers, seed)), X=_network_input(seed))
        outputs.append(_value(answer))
    return {"outputs": outputs}


def _backward(worker: Worker, grade_id: str, secret: bytes) -> dict[str, Any]:
    answer = worker.ask("network", sizes=[12, 3, 2, 100], activation="tanh",
                        params=_flat(_network_parameters(2, 3)), X=_network_input(3), keep=True)
    grad: Any = _value(answer)
    if "handle" in answer and isinstance(grad, torch.Tensor):
        back = worker.ask("backward", handle=answer["handle"], grad=torch.ones_like(grad))
        grad = back["grads"][0] if "grads" in back else _value(back)
    elif isinstance(grad, torch.Tensor):
        grad = torch.zeros(0)  # no graph: forward cut it
    raised = worker.ask("construct", target=["Network"], args=[12, 3, "softmax", 1])["raised"]
    return {"input_grad": grad, "unknown_activation": raised or "no error"}


def _l2(worker: Worker, grade_id: str, secret: bytes) -> dict[str, Any]:
    values, grads, after = [], [], []
    for w in cases(grade_id, "hidden", secret):
        answer = worker.ask("call", target=["l2_penalty"], args=[w])
        values.append(_value(answer))
        after.append(answer["after"][0])
        kept = worker.ask("call", target=["l2_penalty"], args=[w], keep=True)
        value = _value(kept)
        if "handle" in kept and isinstance(value, torch.Tensor) and value.numel() == 1:
            back = worker.ask("backward", handle=kept["handle"], grad=torch.ones_like(value))
            grads.append(back["grads"][0] if "grads" in back else _value(back))
        else:
            grads.append(value if not isinstance(value, torch.Tensor) else torch.zeros(0))
    return {"values": values, "grads": grads, "inputs_after": after}


def _dead_units(worker: Worker, grade_id: str, secret: bytes) -> dict[str, Any]:
    outputs, after = [], []
    for H in cases(grade_id, "hidden", secret):
        answer = worker.ask("call", target=["dead_unit_fraction"], args=[H])
        value = answer.get("value")
        outputs.append(torch.tensor(value["number"], dtype=torch.float64) if isinstance(value, dict) and "number" in value
                       else _value(answer))
        after.append(answer["after"][0])
    return {"outputs": outputs, "inputs_after": after}


def _dropout(worker: Worker, grade_id: str, secret: bytes) -> dict[str, Any]:
    kind = PARTS[grade_id].kind
    calls: set[str] = set()
    counter = iter(range(10**6))

    def call(X: torch.Tensor, p: float, seed: int | None | bool = True) -> dict[str, Any]:
        chosen = _seed(secret, grade_id, next(counter)) if seed is True else seed
        answer = worker.ask("call", target=["dropout_layer"], args=[X, p], seed=chosen, record="dropout")
        calls.update(answer["calls"])
        return answer

    result: dict[str, Any]
    if kind in ("keep_rate", "scaling", "contract"):
        result = {"outputs": [], "inputs_after": []}
        for p, X in cases(grade_id, "hidden", secret):
            answer = call(X, p)
            result["outputs"].append(_value(answer))
            result["inputs_after"].append(answer["after"][0])
    elif kind == "fresh_masks":
        X = cases(grade_id, "hidden", secret)[0]
        seed = _seed(secret, grade_id, "seed")
        first = _value(call(X, 0.5, seed))
        second = _value(call(X, 0.5, None))  # the generator goes on: a fresh mask
        result = {"outputs": [first, second], "same_seed": [first, _value(call(X, 0.5, seed))],
                  "other_seed": _value(call(X, 0.5, seed + 1))}
    else:  # edges
        X, scalar = cases(grade_id, "hidden", secret)
        errors = {}
        for bad in (-0.1, 1.5):
            value = call(X, bad).get("value")
            errors[str(bad)] = value.get("ename", "NotImplementedError") if isinstance(value, dict) and "error" in value \
                else "no error"
        result = {"p0": _value(call(X, 0.0)), "p1": _value(call(X, 1.0)), "scalar": _value(call(scalar, 0.5)),
                  "errors": errors}
    result["builtin_calls"] = sorted(calls)
    return result


MEASURES: dict[str, Callable[[Worker, str, bytes], dict[str, Any]]] = {
    "value": _activation, "derivative": _activation, "forward": _forward, "backward": _backward, "l2": _l2,
    "dead_units": _dead_units, "keep_rate": _dropout, "scaling": _dropout, "edges": _dropout,
    "fresh_masks": _dropout, "contract": _dropout,
}


def measure(worker: Worker, grade_id: str, secret: bytes) -> dict[str, Any]:
    """The part's measurement on its hidden cases (which include the visible ones). Raises WorkerGone."""
    return {"grade_id": grade_id, "cases": "hidden", "data": MEASURES[PARTS[grade_id].kind](worker, grade_id, secret)}


# --- proxies: the student's functions inside the course's experiments ---------------------------

def _tensor(answer: dict[str, Any], what: str, like: torch.Size | None = None) -> torch.Tensor:
    value = _value(answer)
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
    def forward(ctx, ask, what, x, *extra):
        answer = ask(x, True)
        out = _tensor(answer, what)
        ctx.ask_backward, ctx.handle, ctx.what = ask.backward, answer.get("handle"), what
        return out.to(x.dtype)

    @staticmethod
    def backward(ctx, grad):
        if ctx.handle is None:
            raise ExperimentFailed(f"{ctx.what} 的输出不能反向传播（计算图被切断了）")
        grads = ctx.ask_backward(ctx.handle, grad)
        return None, None, grads[0]


class _RemoteNetwork(torch.autograd.Function):
    @staticmethod
    def forward(ctx, net, X, *params):
        keep = any(ctx.needs_input_grad[2:])
        answer = net.worker.ask("network", sizes=net.sizes, activation=net.activation_name,
                                params=[p.detach() for p in params], X=X.detach(), keep=keep)
        out = _tensor(answer, "Network.forward", torch.Size([X.shape[0], net.sizes[1]]))
        ctx.net, ctx.handle = net, answer.get("handle")
        if keep and ctx.handle is None:
            raise ExperimentFailed("Network.forward 的输出不能反向传播（计算图被切断了）")
        return out.to(X.dtype)

    @staticmethod
    def backward(ctx, grad):
        answer = ctx.net.worker.ask("backward", handle=ctx.handle, grad=grad)
        if "grads" not in answer:
            raise ExperimentFailed(f"Network 反向传播时出错：{_value(answer)}")
        return (None, None, *answer["grads"])


class RemoteActivation:
    """``net.activation`` of the student's network, in the worker (for the hidden layers' outputs)."""

    def __init__(self, net: RemoteNetwork) -> None:
        self.net = net

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        net = self.net
        return _tensor(net.worker.ask("activation", sizes=net.sizes, activation=net.activation_name, z=z.detach()),
                       f"{net.activation_name} 激活函数", z.shape)


class RemoteNetwork(nn.Module):
    """The lab's Network as the experiments see it: its Linear layers live here, its forward pass
    (the student's ``Network.forward`` with the student's activations) in the worker."""

    def __init__(self, worker: Worker, input_dim: int, output_dim: int, activation_name: str, num_layers: int = 5,
                 num_hiddens: int = 100) -> None:
        super().__init__()
        self.worker, self.activation_name = worker, activation_name
        self.sizes = [input_dim, output_dim, num_layers, num_hiddens]
        self.input_layer = nn.Linear(input_dim, num_hiddens)
        self.layers = nn.ModuleList([nn.Linear(num_hiddens, num_hiddens) for _ in range(num_layers)])
        self.output_layer = nn.Linear(num_hiddens, output_dim)
        self.activation = RemoteActivation(self)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        params = [t for _, layer in experiments.forward_linears(self) for t in (layer.weight, layer.bias)]
        return _RemoteNetwork.apply(self, X, *params)


class _Asker:
    def __init__(self, worker: Worker, target: list[str], extra: list[Any], seeds: Callable[[], int | None]) -> None:
        self.worker, self.target, self.extra, self.seeds = worker, target, extra, seeds

    def __call__(self, x: torch.Tensor, keep: bool) -> dict[str, Any]:
        return self.worker.ask("call", target=self.target, args=[x.detach(), *self.extra], seed=self.seeds(), keep=keep)

    def backward(self, handle: int, grad: torch.Tensor) -> list[torch.Tensor]:
        answer = self.worker.ask("backward", handle=handle, grad=grad)
        if "grads" not in answer:
            raise ExperimentFailed(f"{self.target[0]} 反向传播时出错：{_value(answer)}")
        return answer["grads"]


def remote_penalty(worker: Worker) -> Callable[[torch.Tensor], torch.Tensor]:
    def penalty(w: torch.Tensor) -> torch.Tensor:
        return _Remote.apply(_Asker(worker, ["l2_penalty"], [], lambda: None), "l2_penalty", w)
    return penalty


def remote_dropout(worker: Worker, secret: bytes) -> Callable[[torch.Tensor, float], torch.Tensor]:
    counter = iter(range(10**9))

    def dropout(X: torch.Tensor, p: float) -> torch.Tensor:
        if p == 0:
            return X  # the run without dropout is the course's baseline, not the student's
        asker = _Asker(worker, ["dropout_layer"], [p], lambda: _seed(secret, "dropout experiment", next(counter)))
        return _Remote.apply(asker, "dropout_layer", X)
    return dropout


# --- the experiments ----------------------------------------------------------------------------

def run_experiment(grade_id: str, worker: Worker, profile: Any, data, secret: bytes, cache: Path | None = None) -> Any:
    """Run one experiment here with the student's functions from ``worker``; return its result (the
    course's dataclass, as the notebook gets it). ``profile``: the grading profile
    (:class:`coursekit.config.Profile`); ``data``: MNIST's (train, test) tensors. The runs that call
    the student's functions come first, so an unfinished one fails the experiment at once; a run
    that is the course's alone (the dropout experiment's run without dropout) is the same for every
    submission and kept in the folder ``cache`` (the grader's, in the course folder) when given."""
    kind = PARTS[grade_id].kind
    train, test = data
    seed = profile.seed
    device = torch.device("cpu")
    if kind == "vanishing":
        return experiments.run_gradient_vanishing(
            lambda *a, **k: RemoteNetwork(worker, *a, **k), train, profile.vanishing, seed=seed, device=device)
    if kind == "death":
        return experiments.run_relu_death(
            lambda *a, **k: RemoteNetwork(worker, *a, **k), train, profile.relu_death, seed=seed, device=device)
    if kind == "weight_decay":
        wd = profile.weight_decay
        regression = experiments.synthetic_regression(d=wd["num_inputs"], n_train=wd["num_train"], n_test=wd["num_test"],
                                                      noise=wd["noise"], seed=seed)
        return experiments.run_weight_decay(regression, wd, penalty=remote_penalty(worker), seed=seed)
    if kind == "dropout_experiment":
        dropout = remote_dropout(worker, secret)
        settings = profile.dropout
        pair = (settings["dropout1"], settings["dropout2"])

        def runs(rates):
            return experiments.run_dropout(lambda p1, p2: experiments.DropoutCNN(p1, p2, dropout=dropout), train, test,
                                           settings, seed=seed, device=device, rates=rates)
        students = runs([pair])[pair]
        baseline = _cached(cache, "dropout-baseline", [settings, seed, _fingerprint(train, test, settings)],
                           lambda: runs([(0.0, 0.0)])[(0.0, 0.0)])
        return {(0.0, 0.0): baseline, pair: students}
    raise ValueError(kind)


def _fingerprint(train, test, settings: dict[str, Any]) -> str:
    """What the dropout experiment's data is: a digest of exactly the images and labels it uses."""
    digest = hashlib.sha256()
    for (X, y), n in ((train, settings["num_train"]), (test, settings["num_test"])):
        digest.update(X[:n].contiguous().numpy().tobytes())
        digest.update(y[:n].contiguous().numpy().tobytes())
    return digest.hexdigest()


def _cached(cache: Path | None, name: str, key: list[Any], compute: Callable[[], Any]) -> Any:
    """A run of the course's own code that depends only on ``key`` (and on the course's code and torch),
    computed once and kept as JSON in ``cache``; any unreadable or mismatched entry is computed again."""
    import dataclasses
    import json
    import os

    from coursekit.lab import training
    if cache is None:
        return compute()
    sources = b"".join(Path(module.__file__).read_bytes() for module in (experiments, training))
    digest = hashlib.sha256(json.dumps([key, torch.__version__, torch.get_num_threads()], sort_keys=True,
                                       default=str).encode() + sources).hexdigest()[:32]
    path = cache / f"{name}-{digest}.json"
    try:
        return training.History(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        pass
    history = compute()
    cache.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.tmp")
    partial.write_text(json.dumps(dataclasses.asdict(history)))
    os.replace(partial, path)  # atomic: two grading processes may write it at once
    return history


def experiment_measurement(grade_id: str, result: Any) -> dict[str, Any]:
    """The experiment's measurement as the judge reads it, computed here from the result."""
    from coursekit.lab.parts import _measure_experiment
    return {"grade_id": grade_id, "cases": "hidden", "data": _measure_experiment(result, grade_id, "hidden")}

