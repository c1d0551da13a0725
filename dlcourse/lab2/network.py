"""TODO ``network``: the MLP ``Network`` — its forward pass and its backward pass (two parts), and
what lets the experiments run it: the worker's network operations and the grader's proxy for it.

``Network.forward`` is graded on its own, with PyTorch's activations (:data:`REFERENCE_ACTIVATIONS`
stand in for the activations TODO in this worker), on weights and inputs the grader chose.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from dlcourse import experiments
from dlcourse.lab2.common import compare, describe_bad, fail, gen
from coursekit.partkit.part import Asker, ExperimentFailed, Part
from coursekit.partkit.remote import gradients, returned, tensor
from coursekit.partkit.serve import Worker, describe, error

ACTIVATIONS = {"relu": torch.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh}

#: Stand-ins for the activation classes while the network parts are graded: Network.forward is graded
#: on its own, with PyTorch's activations, whatever state the activations TODO is in.
REFERENCE_ACTIVATIONS = '''import torch


class MyReLU:
    def __call__(self, x):
        return torch.relu(x)


class MySigmoid:
    def __call__(self, x):
        return torch.sigmoid(x)


class MyTanh:
    def __call__(self, x):
        return torch.tanh(x)
'''


def parameters(num_layers: int, seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(weight, bias) of every Linear in forward order for Network(12, 3, _, num_layers)."""
    g = gen(seed)
    shapes = [(100, 12), *[(100, 100)] * num_layers, (3, 100)]
    return [(torch.randn(s, generator=g) / math.sqrt(s[1]), torch.randn(s[0], generator=g) * 0.1) for s in shapes]


def network_input(seed: int) -> torch.Tensor:
    return torch.randn(5, 12, generator=gen(seed + 1))


def _flat(params: list[tuple[torch.Tensor, torch.Tensor]]) -> list[torch.Tensor]:
    return [t for pair in params for t in pair]


def reference_forward(layers: int, seed: int, name: str) -> torch.Tensor:
    params = parameters(layers, seed)
    act = ACTIVATIONS[name]
    h = network_input(seed)
    for weight, bias in params[:-1]:
        h = act(h @ weight.T + bias)
    weight, bias = params[-1]
    return h @ weight.T + bias


@dataclass(frozen=True)
class Forward(Part):
    def cases(self, which: str, secret: bytes | None = None) -> list[tuple[str, int, int]]:
        combos = [("relu", 2), ("sigmoid", 1), ("tanh", 0)]
        if which == "hidden":
            combos += [("relu", 0), ("relu", 3), ("sigmoid", 3), ("tanh", 1), ("tanh", 3)]
        base = self.hidden_seed(secret)
        return [(name, layers, (100 * i + layers) if which == "visible" or secret is None else base + i)
                for i, (name, layers) in enumerate(combos)]

    def measure(self, worker: Asker, which: str, secret: bytes | None = None) -> dict[str, Any]:
        outputs = []
        for name, layers, seed in self.cases(which, secret):
            answer = worker.ask("network", sizes=[12, 3, layers, 100], activation=name,
                                params=_flat(parameters(layers, seed)), X=network_input(seed), stand_in=True)
            outputs.append(returned(answer))
        return {"outputs": outputs}

    def judge(self, data: dict[str, Any], which: str, secret: bytes | None = None) -> None:
        for (name, layers, seed), got in zip(self.cases(which, secret), data["outputs"], strict=True):
            compare(f"Network(12, 3, '{name}', num_layers={layers}).forward(X)", got,
                    reference_forward(layers, seed, name), network_input(seed),
                    "顺序应为：输入层 → 激活 → 每个隐藏层后接激活 → 输出层（输出层后不接激活）。")


@dataclass(frozen=True)
class Backward(Part):
    def measure(self, worker: Asker, which: str, secret: bytes | None = None) -> dict[str, Any]:
        answer = worker.ask("network", sizes=[12, 3, 2, 100], activation="tanh",
                            params=_flat(parameters(2, 3)), X=network_input(3), keep=True, stand_in=True)
        grads = gradients(worker, answer)
        grad = grads[0] if isinstance(grads, list) else torch.zeros(0) if grads is None else grads
        unknown = worker.ask("construct", target=["Network"], args=[12, 3, "softmax", 1])["raised"]
        return {"input_grad": grad, "unknown_activation": unknown or "no error"}

    def judge(self, data: dict[str, Any], which: str, secret: bytes | None = None) -> None:
        grad = data["input_grad"]
        bad = describe_bad("Network(12, 3, 'tanh', num_layers=2) 的前向和反向传播", grad, "形状 (5, 12) 的 X")
        if bad:
            fail(bad)
        if grad.numel() == 0 or not torch.isfinite(grad).all() or not grad.abs().sum() > 0:
            fail("Network.forward 的输出不能反向传播到输入层（输入层权重没有得到梯度）："
                 "不要用 .detach()、.numpy()、torch.no_grad() 或 .data 切断计算图。")
        if data["unknown_activation"] != "ValueError":
            fail(f"Network(..., activation_name='softmax') 应该抛出 ValueError，实际：{data['unknown_activation']}。"
                 f"不要删掉构造函数里的检查。")


PARTS = (
    Forward("test_network_forward", "network", "Network", "Network.forward 的输出"),
    Backward("test_network_backward", "network", "Network", "Network 的反向传播和构造检查"),
)


# --- in the worker: the student's Network on the grader's weights -------------------------------

def _network(worker: Worker, sizes: list[int], activation: str, stand_in: bool = False):
    key = ("network", *sizes, activation, stand_in)
    if key not in worker.state:
        in_dim, out_dim, layers, hiddens = sizes
        net = worker.resolve(["Network"])(in_dim, out_dim, activation, num_layers=layers, num_hiddens=hiddens)
        if stand_in:
            net.activation = ACTIVATIONS[activation]
        worker.state[key] = net
    return worker.state[key]


def run_network(worker: Worker, sizes: list[int], activation: str, params: list[torch.Tensor], X: torch.Tensor,
                keep: bool = False, stand_in: bool = False) -> dict[str, Any]:
    """The student's ``Network(in, out, activation, layers, hiddens)`` with these weights, on X.
    ``stand_in``: with PyTorch's activation as ``net.activation`` (only the structure of forward is graded)."""
    try:
        net = _network(worker, sizes, activation, stand_in)
        tensors = [t for _, layer in experiments.forward_linears(net) for t in (layer.weight, layer.bias)]
        if len(tensors) != len(params) or any(t.shape != p.shape for t, p in zip(tensors, params)):
            raise ValueError("the network's Linear layers do not have the lab's shapes")
        with torch.no_grad():
            for t, value in zip(tensors, params):
                t.copy_(value)
        for t in net.parameters():
            t.grad = None
        with torch.enable_grad() if keep else torch.no_grad():
            out = net(X)
    except Exception as err:  # noqa: BLE001 -- the student's code can raise anything
        return {"value": error(err)}
    answer: dict[str, Any] = {"value": describe(out)}
    if keep and isinstance(out, torch.Tensor) and out.requires_grad:
        answer["handle"] = worker.keep(tensors, out)
    return answer


def run_activation(worker: Worker, sizes: list[int], activation: str, z: torch.Tensor) -> dict[str, Any]:
    """The student's network's own activation (``net.activation``) on z."""
    try:
        with torch.no_grad():
            return {"value": describe(_network(worker, sizes, activation).activation(z))}
    except Exception as err:  # noqa: BLE001
        return {"value": error(err)}


#: The worker operations this assignment adds (Assignment.worker_ops).
WORKER_OPS = {"network": run_network, "activation": run_activation}


# --- in the grader: the student's Network inside the course's experiments -----------------------

class _RemoteNetwork(torch.autograd.Function):
    @staticmethod
    def forward(ctx, net, X, *params):
        keep = any(ctx.needs_input_grad[2:])
        answer = net.worker.ask("network", sizes=net.sizes, activation=net.activation_name,
                                params=[p.detach() for p in params], X=X.detach(), keep=keep)
        out = tensor(answer, "Network.forward", torch.Size([X.shape[0], net.sizes[1]]))
        ctx.net, ctx.handle = net, answer.get("handle")
        if keep and ctx.handle is None:
            raise ExperimentFailed("Network.forward 的输出不能反向传播（计算图被切断了）")
        return out.to(X.dtype)

    @staticmethod
    def backward(ctx, grad):
        answer = ctx.net.worker.ask("backward", handle=ctx.handle, grad=grad)
        if "grads" not in answer:
            raise ExperimentFailed(f"Network 反向传播时出错：{returned(answer)}")
        return (None, None, *answer["grads"])


class RemoteActivation:
    """``net.activation`` of the student's network, in the worker (for the hidden layers' outputs)."""

    def __init__(self, net: RemoteNetwork) -> None:
        self.net = net

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        net = self.net
        return tensor(net.worker.ask("activation", sizes=net.sizes, activation=net.activation_name, z=z.detach()),
                      f"{net.activation_name} 激活函数", z.shape)


class RemoteNetwork(nn.Module):
    """The lab's Network as the experiments see it: its Linear layers live here, its forward pass
    (the student's ``Network.forward`` with the student's activations) in the worker."""

    def __init__(self, worker: Asker, input_dim: int, output_dim: int, activation_name: str, num_layers: int = 5,
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


def remote_network(worker: Asker):
    """A Network class for the experiments whose instances compute in ``worker``."""
    return lambda *args, **kwargs: RemoteNetwork(worker, *args, **kwargs)

