"""coursekit.partkit.checks: failures name the function, the input, expected vs got, and give a hint."""

from __future__ import annotations

import pytest
import torch

from dlcourse.lab2.activations import RULE as ACTIVATIONS_RULE
from dlcourse.lab2.dropout import RULE as DROPOUT_RULE
from coursekit.partkit.checks import CheckFailed, assert_close, assert_unchanged, autograd_derivative, short
from coursekit.partkit.local import LocalWorker


def recorded(subject, target, *args, rule=ACTIVATIONS_RULE):
    """The PyTorch functions of the rule a worker records while it calls ``target`` of ``subject``."""
    worker = LocalWorker({"subject": subject})
    return worker.ask("call", target=["subject", *target], args=list(args), record=sorted(rule.recorded))["calls"]


def test_close_values_pass_and_wrong_values_explain_themselves():
    x = torch.tensor([-1.0, 0.0, 2.0])
    assert_close("f(x)", x * 2, x * 2, x)
    with pytest.raises(CheckFailed) as info:
        assert_close("MyThing()(x)", torch.tensor([-2.0, 0.0, 5.0]), x * 2, x, hint="double it")
    message = str(info.value)
    assert isinstance(info.value, AssertionError)
    for part in ("MyThing()(x)", "x = 2", "期望 4", "得到 5", "double it", "rtol"):
        assert part in message, (part, message)


@pytest.mark.parametrize("got, expected, fragment", [
    (None, torch.zeros(3), "应该返回一个 torch.Tensor"),
    (torch.zeros(2), torch.zeros(3), "形状不对"),
    (torch.zeros(3, dtype=torch.float32), torch.zeros(3, dtype=torch.float64), "改变了 dtype"),
    (torch.tensor([float("nan"), 0.0, 0.0]), torch.zeros(3), "有限数"),
])
def test_each_kind_of_wrong_output_has_its_own_message(got, expected, fragment):
    with pytest.raises(CheckFailed, match=fragment):
        assert_close("f(x)", got, expected, torch.zeros(3))


def test_nan_where_torch_is_finite_points_to_the_stable_form():
    x = torch.tensor([1000.0])
    naive = (torch.exp(x) - torch.exp(-x)) / (torch.exp(x) + torch.exp(-x))
    with pytest.raises(CheckFailed, match="数值稳定"):
        assert_close("MyTanh()(x)", naive, torch.tanh(x), x)


def test_mutation_is_detected():
    x = torch.tensor([-1.0, 2.0])
    before = x.clone()
    assert_unchanged("f", before, x)
    x[0] = 0.0
    with pytest.raises(CheckFailed, match="原地操作"):
        assert_unchanged("f", before, x)


def test_autograd_derivative_matches_central_differences():
    """Gradient check: autograd's derivative of sigmoid vs (f(x+h) - f(x-h)) / 2h, float64, |error| < 1e-8."""
    x = torch.linspace(-6, 6, 25, dtype=torch.float64)
    h = 1e-5
    numeric = (torch.sigmoid(x + h) - torch.sigmoid(x - h)) / (2 * h)
    assert torch.allclose(autograd_derivative(torch.sigmoid, x), numeric, rtol=0, atol=1e-8)
    analytic = torch.sigmoid(x) * (1 - torch.sigmoid(x))
    assert torch.allclose(autograd_derivative(torch.sigmoid, x), analytic, rtol=0, atol=1e-12)


class Elementary:
    def __call__(self, x):
        return torch.where(x > 0, x, torch.zeros_like(x))

    def derivative(self, x):
        return (x > 0).to(x.dtype)


class CallsTorch:
    def __call__(self, x):
        return torch.sigmoid(x)

    def derivative(self, x):
        s = self(x)
        return s * (1 - s)


class UsesModule:
    def __call__(self, x):
        return torch.nn.Tanh()(x)

    def derivative(self, x):
        return 1 - self(x) ** 2


_alias = torch.relu  # taken before any spying: only the source scan can see it


class UsesAlias:
    def __call__(self, x):
        return _alias(x)

    def derivative(self, x):
        return (x > 0).to(x.dtype)


def test_elementary_implementation_is_allowed():
    assert recorded(Elementary, ["__call__"], torch.randn(5)) == []
    assert recorded(Elementary, ["derivative"], torch.randn(5)) == []


@pytest.mark.parametrize("cls, name", [(CallsTorch, "sigmoid"), (UsesModule, "tanh")])
def test_builtin_calls_are_caught_at_run_time(cls, name):
    assert name in recorded(cls, ["__call__"], torch.randn(5))


def test_every_dropout_pytorch_offers_is_caught_at_run_time():
    x = torch.rand(4, 4)
    for dropout in (lambda x, p: torch.nn.functional.dropout(x, p), lambda x, p: torch.nn.Dropout(p)(x),
                    lambda x, p: torch.dropout(x, p, True), lambda x, p: torch.nn.functional.dropout2d(x[None], p)[0]):
        assert recorded(dropout, [], x, 0.5, rule=DROPOUT_RULE), dropout
    assert recorded(lambda x, p: (torch.rand_like(x) > p) * x / (1 - p), [], x, 0.5, rule=DROPOUT_RULE) == []


def test_recording_leaves_torch_as_it_was():
    originals = (torch.relu, torch.sigmoid, torch.tanh, torch.nn.functional.relu, torch.Tensor.sigmoid)
    assert recorded(lambda x: x.sigmoid(), [], torch.randn(3)) == ["sigmoid"]
    assert (torch.relu, torch.sigmoid, torch.tanh, torch.nn.functional.relu, torch.Tensor.sigmoid) == originals
    assert torch.overrides._get_current_function_mode_stack() == []


def test_an_alias_taken_earlier_is_caught_when_it_is_called():
    assert recorded(UsesAlias, ["__call__"], torch.randn(3)) == ["relu"]


def test_short_description_is_bounded():
    text = short(torch.arange(1000.0))
    assert "..." in text and "shape=(1000,)" in text and len(text) < 120


def test_explain_turns_crashes_into_sentences():
    from coursekit.partkit.checks import explain

    def unfinished(x):
        raise NotImplementedError()

    with pytest.raises(CheckFailed, match="MyReLU 还没有实现"):
        with explain("MyReLU"):
            unfinished(1)
    with pytest.raises(CheckFailed, match=r"调用 l2_penalty 时出错：TypeError: bad operand"):
        with explain("l2_penalty"):
            raise TypeError("bad operand")
    with pytest.raises(CheckFailed, match="already explained"):
        with explain("f"):
            raise CheckFailed("already explained")
