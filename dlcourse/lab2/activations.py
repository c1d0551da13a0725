"""TODO ``activations``: MyReLU, MySigmoid, MyTanh — their values and derivatives (six parts).

Each is compared with PyTorch's own function (its value) or autograd's derivative of it, on ±1e3 and
ordinary values in float32, a float64 vector, 0-d and empty inputs; the hidden cases add random
shapes and scales. The rule: no ready-made activation, found by the review of the cell and recorded
by the worker whatever name it was reached by.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from dlcourse.lab2.common import compare, gen, no_builtin, shape
from coursekit.partkit.checks import assert_unchanged, autograd_derivative
from coursekit.partkit.part import Part, Rule
from coursekit.partkit.remote import returned

RULE = Rule(
    label="现成的激活函数",
    words=("relu", "sigmoid", "tanh", "expit", "silu", "softplus", "threshold"),
    what="现成的激活函数（名字中含 relu、sigmoid、tanh、expit、silu、softplus、threshold 的函数或模块，"
         "例如 torch.relu、x.sigmoid()、F.tanh、nn.ReLU、np.tanh、math.tanh、torch.special.expit）",
    # __name__ as TorchFunctionMode sees them: nn.ReLU and F.relu arrive as "relu".
    recorded=frozenset({"relu", "relu_", "sigmoid", "sigmoid_", "tanh", "tanh_", "special_expit", "expit",
                        "_threshold", "threshold", "hardtanh", "relu6"}),
)
REFERENCE = {"MyReLU": torch.relu, "MySigmoid": torch.sigmoid, "MyTanh": torch.tanh}
HINTS = {
    ("MyReLU", "value"): "ReLU(x) = max(0, x)：负数变 0，正数不变。",
    ("MyReLU", "derivative"): "x > 0 处导数为 1，x ≤ 0 处为 0（x = 0 处按 PyTorch 的约定取 0）。",
    ("MySigmoid", "value"): "σ(x) = 1/(1+e^(-x))；x < 0 时改写成 e^x/(1+e^x)，指数就不会溢出。注意 torch.where 两个分支都会计算。",
    ("MySigmoid", "derivative"): "σ'(x) = σ(x)·(1 − σ(x))，可以调用 self(x)。",
    ("MyTanh", "value"): "稳定写法：tanh(x) = sign(x)·(1 − e^(−2|x|)) / (1 + e^(−2|x|))。",
    ("MyTanh", "derivative"): "tanh'(x) = 1 − tanh(x)²，可以调用 self(x)。",
}
EDGE_VALUES = [-1e3, -300.0, -60.0, -20.0, -2.0, -0.5, -1e-4, 0.0, 1e-4, 0.5, 2.0, 20.0, 60.0, 300.0, 1e3]


@dataclass(frozen=True)
class Activation(Part):
    """``MyX()(x)`` (``derivative=False``) or ``MyX().derivative(x)`` against PyTorch."""

    derivative: bool = False

    def cases(self, which: str, secret: bytes | None = None) -> list[torch.Tensor]:
        """Visible: ±1e3 and ordinary values in float32, a float64 vector, 0-d and empty. Hidden adds
        inputs of random shapes and scales (drawn from the part's hidden seed)."""
        edge = EDGE_VALUES
        inputs = [torch.tensor(edge), torch.tensor([-5.0, -1.0, 0.0, 0.25, 1.0, 5.0], dtype=torch.float64),
                  torch.tensor(0.7), torch.empty(0)]
        if which == "hidden":
            g = gen(self.hidden_seed(secret))
            for dtype in (torch.float32, torch.float64):
                scale = float(torch.empty(()).uniform_(10, 60, generator=g))
                inputs += [torch.tensor(-3.0, dtype=dtype), torch.empty(3, 0, dtype=dtype),
                           torch.randn(shape(g, 1, 2, 40), generator=g, dtype=dtype),
                           torch.randn(shape(g, 2), generator=g, dtype=dtype) * 5,
                           torch.randn(shape(g, 3, 1, 6), generator=g, dtype=dtype) * scale,
                           torch.tensor(edge, dtype=dtype)[torch.randperm(len(edge), generator=g)]]
        return inputs

    def measure(self, worker, which: str, secret: bytes | None = None) -> dict[str, Any]:
        method = "derivative" if self.derivative else "__call__"
        outputs, after, calls = [], [], set()
        for x in self.cases(which, secret):
            answer = worker.ask("call", target=[self.definition, method], args=[x], record=sorted(RULE.recorded))
            outputs.append(returned(answer))
            after.append(answer["after"][0])
            calls |= set(answer["calls"])
        return {"outputs": outputs, "inputs_after": after, "builtin_calls": sorted(calls)}

    def judge(self, data: dict[str, Any], which: str, secret: bytes | None = None) -> None:
        name = self.definition
        reference = REFERENCE[name]
        what = f"{name}().derivative(x)" if self.derivative else f"{name}()(x)"
        no_builtin(name, data["builtin_calls"], "本练习要求只用基本张量运算（如 torch.exp、torch.where、torch.clamp、比较运算）自己实现，")
        hint = HINTS[(name, "derivative" if self.derivative else "value")]
        for x, got, after in zip(self.cases(which, secret), data["outputs"], data["inputs_after"], strict=True):
            expected = autograd_derivative(reference, x) if self.derivative else reference(x)
            compare(what, got, expected, x, hint)
            assert_unchanged(f"{name}.{'derivative' if self.derivative else '__call__'}", x, after)


PARTS = (
    Activation("test_relu", "activations", "MyReLU", "MyReLU 的函数值"),
    Activation("test_relu_derivative", "activations", "MyReLU", "MyReLU.derivative", derivative=True),
    Activation("test_sigmoid", "activations", "MySigmoid", "MySigmoid 的函数值"),
    Activation("test_sigmoid_derivative", "activations", "MySigmoid", "MySigmoid.derivative", derivative=True),
    Activation("test_tanh", "activations", "MyTanh", "MyTanh 的函数值"),
    Activation("test_tanh_derivative", "activations", "MyTanh", "MyTanh.derivative", derivative=True),
)
