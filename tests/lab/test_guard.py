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


DYNAMO = """
import json, sys
import torch
from coursekit.lab import guard
guard.install()
assert "torch._dynamo" not in sys.modules, "install() must not import torch._dynamo (0.9 s of every kernel start)"
seed = torch.manual_seed
model = torch.nn.Linear(3, 1)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
model(torch.ones(2, 3)).sum().backward()
optimizer.step()  # torch imports torch._dynamo here, which rewraps torch.manual_seed
assert "torch._dynamo" in sys.modules and torch.manual_seed is not seed
honest = json.loads(guard.check_and_restore())
rewrapped = torch.manual_seed
torch.manual_seed = torch._disable_dynamo(lambda s: None)  # the same wrapper around another function
forged = json.loads(guard.check_and_restore())
print(json.dumps([honest, forged, torch.manual_seed is rewrapped]))
"""


def test_torch_dynamo_imported_by_training_is_accepted_but_a_forged_rewrap_is_not():
    import subprocess
    run = subprocess.run([sys.executable, "-c", DYNAMO], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    honest, forged, put_back = json.loads(run.stdout.strip().splitlines()[-1])
    assert honest == [], "the training's own import of torch._dynamo is not tampering"
    assert forged == ["torch.manual_seed"] and put_back, "another function in the same wrapper is"
