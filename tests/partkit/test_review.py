"""coursekit.partkit.review: what a student's answer cell may not do, found from its text alone."""

from __future__ import annotations

import pytest

from dlcourse.lab2 import ASSIGNMENT  # noqa: E402
from coursekit.partkit import review as reviewing  # noqa: E402
from coursekit.partkit.review import by_definition  # noqa: E402,F401
from coursekit.partkit.rules import protected_packages  # noqa: E402

PROTECTED = protected_packages(ASSIGNMENT)


def review(source, todo=None):
    """The review of one answer cell under its TODO's rule (Lab 2's)."""
    return reviewing.review(source, rule=ASSIGNMENT.rules.get(todo), protected=PROTECTED)


def rules_broken(source, todo, definitions=frozenset()):
    return reviewing.rules_broken(source, ASSIGNMENT.rules.get(todo), definitions, PROTECTED)


def forbidden_by_definition(source, todo):
    return reviewing.forbidden_by_definition(source, ASSIGNMENT.rules.get(todo), PROTECTED)


def kinds(source: str, **kwargs) -> list[str]:
    return [f.kind for f in review(source, **kwargs)]


# --- honest answers are never flagged: equivalent formulas score like the reference -------------

HONEST_ACTIVATIONS = '''
import torch
import math
from torch import nn

class MyReLU:
    def __call__(self, x):
        return torch.clamp(x, min=0)
    def derivative(self, x):
        return torch.where(x > 0, torch.ones_like(x), torch.zeros_like(x))

class MySigmoid:
    def __call__(self, x):
        z = torch.exp(-x.abs())
        return torch.where(x >= 0, 1 / (1 + z), z / (1 + z))
    def derivative(self, x):
        s = self(x)
        return s * (1 - s)

class MyTanh:
    """tanh from my own sigmoid."""
    def __init__(self):
        self.sigmoid = MySigmoid()
    def __call__(self, x):
        return 2 * self.sigmoid(2 * x) - 1
    def derivative(self, x):
        return 1 - self(x) ** 2

x = torch.linspace(-3, 3, 7)
print(MyTanh()(x), type(x).__name__)
'''

HONEST_DROPOUT = '''
def dropout_layer(X, dropout):
    assert 0 <= dropout <= 1
    if not 0 <= dropout <= 1:
        raise ValueError(f"bad {dropout}")
    if dropout == 1:
        return torch.zeros_like(X)
    keep = torch.bernoulli(torch.full_like(X, 1 - dropout))
    out = X.clone()
    out[keep == 0] = 0
    return out / (1 - dropout)
'''


@pytest.mark.parametrize("source, todo", [(HONEST_ACTIVATIONS, "activations"), (HONEST_DROPOUT, "dropout_layer"),
                                          ("def l2_penalty(w):\n    return torch.norm(w) ** 2 / 2\n", "l2_penalty")])
def test_honest_answers_are_not_flagged(source, todo):
    assert review(source, todo=todo) == []


def test_a_cell_that_is_not_python_is_left_to_fail_when_it_runs():
    assert review("def f(:\n", todo="activations") == []


# --- shortcuts ------------------------------------------------------------------------------------

@pytest.mark.parametrize("code", [
    "return torch.relu(x)", "return x.sigmoid()", "return torch.nn.functional.tanh(x)", "return nn.ReLU()(x)",
    "return torch.special.expit(x)", "return np.tanh(x)", "return getattr(torch, 'tanh')(x)",
])
def test_builtin_activations_are_forbidden_in_their_class(code):
    source = f"class MyTanh:\n    def __call__(self, x):\n        {code}\n"
    found = review(source, todo="activations")
    assert [f.kind for f in found] == ["forbidden"], found
    assert set(by_definition(source, found)) == {"MyTanh"}


def test_a_forbidden_import_counts_only_for_the_definitions_that_use_it():
    source = ("from torch import tanh as t\nfrom torch import sigmoid as unused\n\nclass MyReLU:\n"
              "    def __call__(self, x):\n        return x.clamp(min=0)\n\nclass MyTanh:\n"
              "    def __call__(self, x):\n        return t(x)\n")
    assert set(forbidden_by_definition(source, "activations")) == {"MyTanh"}


@pytest.mark.parametrize("code", [
    "F.dropout(X, dropout)", "torch.dropout(X, dropout, True)", "nn.Dropout(dropout)(X)",
    "torch.nn.functional.alpha_dropout(X, dropout)", "torch.ops.aten.native_dropout(X, dropout, True)[0]",
])
def test_every_dropout_pytorch_offers_is_forbidden(code):
    assert kinds(f"def dropout_layer(X, dropout):\n    return {code}\n", todo="dropout_layer") == ["forbidden"]


def test_dropout_imported_under_another_name_is_forbidden():
    source = "from torch.nn.functional import dropout as keep\ndef dropout_layer(X, dropout):\n    return keep(X, dropout)\n"
    assert "dropout_layer" in forbidden_by_definition(source, "dropout_layer")


def test_rules_apply_to_their_own_todo_only():
    assert kinds("def l2_penalty(w):\n    return torch.relu(w).sum()\n", todo="l2_penalty") == []


# --- tampering -------------------------------------------------------------------------------------

@pytest.mark.parametrize("code", [
    "import dlcourse.parts", "from dlcourse import checks", "import gc", "import ctypes", "import builtins",
    "import importlib", "import inspect", "import pickle", "g = getattr\ng(torch, 'exp')",
    "check.__globals__['judge'] = None", "f.__code__ = g.__code__", "x = eval('1')", "exec('pass')",
    "getattr(torch, name)", "vars()['check'] = 1", "globals()", "import sys\nsys.modules['coursekit']",
    "import sys\nsys._getframe(1).f_locals", "torch.allclose = lambda *a: True", "torch.Tensor.__eq__ = None",
    "session.device = 'cpu'", "torch.load('x.pt')", "from torch.utils.cpp_extension import load_inline",
])
def test_reaching_into_the_grader_is_tampering(code):
    assert "tampering" in kinds(code, todo="activations"), code


def test_reimporting_what_the_notebook_imported_is_not_tampering():
    assert kinds("import torch\nimport torch.nn as nn\nimport numpy as np\nimport matplotlib.pyplot as plt\n",
                 todo="network") == []


def test_tampering_counts_for_every_name_of_its_todo():
    """However the cell binds the graded names (``MyTanh = MyReLU``), reaching past them costs them all."""
    source = "import sys\nclass MyReLU:\n    pass\nMySigmoid = MyTanh = MyReLU\nsys.modules['x'] = 1\n"
    forbidden, tampering = rules_broken(source, "activations", frozenset({"MyReLU", "MySigmoid", "MyTanh"}))
    assert forbidden == {} and set(tampering) >= {"MyReLU", "MySigmoid", "MyTanh"}
    assert "sys.modules" in tampering["MyTanh"]


def test_each_finding_names_its_line_and_code():
    found = review("x = 1\ntorch.rand = None\n", todo="dropout_layer")
    assert [(f.line, f.code) for f in found] == [(2, "torch.rand = None")]
    assert "第 2 行`torch.rand = None`" in found[0].describe()


@pytest.mark.parametrize("code", [
    "class T(torch.Tensor):\n    def __torch_function__(cls, func, types, args=(), kwargs=None):\n        pass",
    "class K:\n    def __del__(self):\n        pass", "torch.nn.modules.module.register_module_forward_hook(print)",
    "import torch.library", "from operator import attrgetter",
])
def test_code_that_would_run_inside_the_workers_serving_code_is_tampering(code):
    """Tensor subclasses, finalizers and global hooks would run the student's code inside the worker's
    own code (its records of forbidden calls) rather than as an answer."""
    assert "tampering" in kinds(code, todo="network"), code


def test_a_star_import_hides_a_shortcut_and_is_forbidden_where_there_are_rules():
    assert kinds("from torch import *\n", todo="activations") == ["forbidden"]
    assert kinds("from torch import *\n", todo="l2_penalty") == []


def test_attributes_of_the_students_own_objects_are_theirs():
    source = ("class MySigmoid:\n    def sigmoid_part(self, x):\n        return x\n"
              "class MyTanh:\n    def __call__(self, x):\n        s = MySigmoid()\n        return s.sigmoid_part(x)\n")
    assert review(source, todo="activations") == []


def test_a_star_import_counts_for_every_definition_of_its_cell():
    source = "from torch import *\nclass MyReLU:\n    def __call__(self, x):\n        return relu(x)\n"
    assert "MyReLU" in forbidden_by_definition(source, "activations")
