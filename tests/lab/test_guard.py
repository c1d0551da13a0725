"""coursekit.lab.guard, in this process: it notices and undoes what a submission could change."""

from __future__ import annotations

import builtins
import json
import sys

import numpy
import pytest
import torch

from coursekit.lab import checks, guard


@pytest.fixture
def installed():
    guard._state = None
    guard.install()
    yield
    assert json.loads(guard.check_and_restore()) == [], "each test leaves everything restored"
    guard._state = None


def restored() -> list[str]:
    return json.loads(guard.check_and_restore())


def test_nothing_changed_nothing_reported(installed):
    torch.ones(3).relu().sum()
    assert restored() == []


@pytest.mark.parametrize("owner, name, label", [
    (torch, "allclose", "torch.allclose"), (torch, "rand", "torch.rand"), (torch, "manual_seed", "torch.manual_seed"),
    (torch.testing, "assert_close", "torch.testing.assert_close"), (numpy, "allclose", "numpy.allclose"),
    (checks, "assert_close", "coursekit.lab.checks.assert_close"), (builtins, "AssertionError", "builtins.AssertionError"),
    (builtins, "__import__", "builtins.__import__"), (torch.Tensor, "__eq__", "torch.Tensor.__eq__"),
])
def test_a_replaced_function_is_put_back(installed, owner, name, label):
    original = getattr(owner, name)
    own = vars(owner).get(name, None)
    setattr(owner, name, lambda *a, **k: True)
    try:
        found = restored()
        put_back = getattr(owner, name) is original  # read before this test tidies up after a failing guard
    finally:
        if getattr(owner, name) is not original:
            setattr(owner, name, own) if own is not None else delattr(owner, name)
    assert put_back, f"{label} was not restored"
    assert label in found


def test_an_added_tensor_method_is_removed(installed):
    torch.Tensor.relu = lambda self: self
    assert "torch.Tensor.relu" in restored()
    assert "relu" not in vars(torch.Tensor) and torch.tensor([-1.0]).relu().item() == 0.0


def test_a_replaced_module_is_put_back(installed):
    real = sys.modules["numpy"]
    sys.modules["numpy"] = object()
    assert "sys.modules['numpy']" in restored()
    assert sys.modules["numpy"] is real


def test_a_trace_function_is_removed(installed):
    sys.settrace(lambda *a: None)
    assert "sys.settrace/sys.setprofile" in restored()
    assert sys.gettrace() is None


def test_the_coverage_spy_of_checks_leaves_no_trace(installed):
    with checks.record_builtin_calls() as calls:
        torch.relu(torch.ones(1))
        torch.ones(1).tanh()
    assert calls == ["torch.relu", "Tensor.tanh"]
    assert restored() == []


def test_not_installed_is_reported():
    guard._state = None
    assert json.loads(guard.check_and_restore()) == ["coursekit.lab.guard (never installed in this kernel)"]
