"""Which basis enforces the two "no ready-made PyTorch" rules better: the hand-written review or RestrictedPython?

The rules (notebook, lab2): the ``activations`` answer cell (MyReLU, MySigmoid, MyTanh with ``__call__``
and ``derivative``) may not use PyTorch's own ReLU/sigmoid/tanh (``torch.relu``, ``x.sigmoid()``,
``F.tanh``, ``nn.ReLU``, ``torch.special.expit`` ...); the ``dropout_layer`` answer cell may not use any
form of PyTorch's dropout (``torch.dropout``, ``F.dropout*``, ``nn.Dropout*``, alpha/feature dropouts,
``torch.native_dropout``).

The script holds a corpus of answer cells written here by hand: HONEST ones written the way students
write them (``torch.where``, ``clamp``, stable sigmoids, ``nn.Module`` subclasses, helpers, prints,
``display``, ``%timeit``, asserts, type hints, dataclasses, private helpers ...) and FORBIDDEN ones,
many of them aliased or dynamic (``from torch import relu as r``, a dict holding ``torch.tanh``,
``getattr(torch, "re" + "lu")``, ``torch.ops.aten``, ``vars(torch)``, ``operator.attrgetter`` ...).
A corpus check first runs every cell unguarded and makes sure the honest ones are correct answers
and the forbidden ones run, so that no checker is credited for a cell that merely crashes.

Checkers, each ``(source, todo) -> Verdict``:

* ``review``: the project's static review (``coursekit.partkit.review``): rejected when
  ``forbidden_by_definition`` finds something for one of the TODO's definitions, or ``review()``
  reports a ``tampering`` finding (what ``Judge.review`` acts on);
* ``recorder``: run the cell, then call its functions under a ``TorchFunctionMode`` that records
  each torch function's ``__name__``; rejected when a forbidden name is seen (exact names, as given
  in ``FORBIDDEN_NAMES``);
* ``review+recorder``: either of the two (what the project runs today: the review in the judge, a
  recorder in each grading worker);
* ``RP default``: RestrictedPython's ``compile_restricted`` with its default policy; a cell that
  compiles runs with guards written here (``_getattr_``, ``_getitem_``, ``__import__``, ``_write_``)
  that refuse exactly the forbidden PyTorch objects, compared by identity (so ``r = torch.relu`` is
  caught wherever ``r`` goes), and its functions are then called on small tensors;
* ``RP course policy``: the same guards under a RestrictedPython policy relaxed here just enough for
  ordinary answers (``__call__``/``__init__``/``__repr__``/``__str__`` definitions, ``super().__init__``,
  ``__name__``/``__class__``/``__doc__``, single-underscore names, ``assert``, annotated assignments).
  It shows what the guard mechanism itself catches once the compile step stops rejecting the task's
  own interface.

Borderline cells (a top-level self-check that compares with ``torch.relu`` but is used by no graded
definition) are listed on their own and counted in neither column.

Run from the repository root (no network; about ten seconds):

    .venv/bin/python benchmarks/rule_checks.py          # add --all to print every verdict

RestrictedPython is not a project dependency: install it outside the venv with
``.venv/bin/python -m pip install --target /tmp/rp RestrictedPython==9.0``; /tmp/rp is put on
``sys.path`` only when the import fails otherwise.
"""

from __future__ import annotations

import ast
import contextlib
import io
import math
import operator
import sys
import textwrap
import time
import types
import warnings
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from IPython.core.inputtransformer2 import TransformerManager  # noqa: E402
from torch import nn  # noqa: E402
from torch.overrides import TorchFunctionMode  # noqa: E402

try:
    import RestrictedPython
except ImportError:
    sys.path.insert(0, "/tmp/rp")
    import RestrictedPython
from RestrictedPython import (  # noqa: E402
    PrintCollector, RestrictingNodeTransformer, compile_restricted, limited_builtins, safe_builtins,
    utility_builtins,
)
from RestrictedPython.Guards import guarded_iter_unpack_sequence, guarded_unpack_sequence  # noqa: E402

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
from dlcourse.lab2 import PARTS  # noqa: E402

ACT, DROP = "activations", "dropout_layer"
#: The graded definitions of each TODO (as Judge.review passes them).
DEFINITIONS = {todo: frozenset(p.definition for p in PARTS.values() if p.todo == todo) for todo in (ACT, DROP)}


# --------------------------------------------------------------------------------------------------
# The corpus
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Variant:
    name: str
    todo: str
    kind: str           # "honest", "forbidden" or "borderline"
    source: str
    note: str = ""


def cell(text: str) -> str:
    return textwrap.dedent(text).strip("\n") + "\n"


def _indent(body: str, spaces: int = 8) -> str:
    return textwrap.indent(textwrap.dedent(body).strip("\n"), " " * spaces)


# Honest method bodies, used where a forbidden variant changes only one method.
RELU = "return torch.where(x > 0, x, torch.zeros_like(x))"
RELU_D = "return (x > 0).to(x.dtype)"
SIG = """\
z = torch.exp(-x.abs())
return torch.where(x >= 0, 1 / (1 + z), z / (1 + z))"""
SIG_D = "s = self(x)\nreturn s * (1 - s)"
TANH = "return torch.sign(x) * -torch.expm1(-2 * x.abs()) / (1 + torch.exp(-2 * x.abs()))"
TANH_D = "t = self(x)\nreturn 1 - t * t"


def activations_cell(prelude: str = "", relu: str = RELU, relu_d: str = RELU_D, sig: str = SIG,
                     sig_d: str = SIG_D, tanh: str = TANH, tanh_d: str = TANH_D) -> str:
    """An activations cell: honest everywhere except the bodies passed in."""
    parts = [textwrap.dedent(prelude).strip("\n") + "\n\n"] if prelude else []
    for cls, call, deriv in (("MyReLU", relu, relu_d), ("MySigmoid", sig, sig_d), ("MyTanh", tanh, tanh_d)):
        parts.append(f"class {cls}:\n    def __call__(self, x):\n{_indent(call)}\n\n"
                     f"    def derivative(self, x):\n{_indent(deriv)}\n\n\n")
    return "".join(parts).rstrip("\n") + "\n"


def dropout_cell(body: str, prelude: str = "") -> str:
    """A dropout_layer cell with the usual range check, then `body`."""
    head = textwrap.dedent(prelude).strip("\n") + "\n\n\n" if prelude else ""
    return (head + "def dropout_layer(X, dropout):\n"
            "    if not 0 <= dropout <= 1:\n"
            "        raise ValueError(f\"dropout must be in [0, 1], got {dropout}\")\n"
            f"{_indent(body, 4)}\n")


HONEST = [
    Variant("act_reference", ACT, "honest", activations_cell(), "the course's solution"),
    Variant("act_clamp_tanh_from_sigmoid", ACT, "honest", cell('''
        class MyReLU:
            def __call__(self, x):
                return x.clamp(min=0)

            def derivative(self, x):
                return (x > 0).to(x.dtype)


        class MySigmoid:
            def __call__(self, x):
                e = torch.exp(-torch.abs(x))
                return torch.where(x >= 0, 1 / (1 + e), e / (1 + e))

            def derivative(self, x):
                s = self(x)
                return s - s * s


        class MyTanh:
            def __init__(self):
                self.sigmoid = MySigmoid()   # my own sigmoid, as an attribute named sigmoid

            def __call__(self, x):
                return 2 * self.sigmoid(2 * x) - 1

            def derivative(self, x):
                t = self(x)
                return (1 - t) * (1 + t)
        ''')),
    Variant("act_mask_multiply_logaddexp", ACT, "honest", cell('''
        class MyReLU:
            def __call__(self, x):
                return x * (x > 0)

            def derivative(self, x):
                return (x > 0).type_as(x)


        class MySigmoid:
            def __call__(self, x):
                # sigma(x) = exp(-log(1 + e^-x)), and logaddexp never overflows
                return torch.exp(-torch.logaddexp(torch.zeros_like(x), -x))

            def derivative(self, x):
                s = self(x)
                return s * (1 - s)


        class MyTanh:
            def __call__(self, x):
                e = torch.exp(-2 * x.abs())
                return torch.sign(x) * (1 - e) / (1 + e)

            def derivative(self, x):
                return 1 - self(x) ** 2
        ''')),
    Variant("act_maximum_boolean_index", ACT, "honest", cell('''
        class MyReLU:
            def __call__(self, x):
                return torch.maximum(x, torch.zeros_like(x))

            def derivative(self, x):
                return torch.where(x > 0, torch.ones_like(x), torch.zeros_like(x))


        class MySigmoid:
            def __call__(self, x):
                out = torch.empty_like(x)
                pos = x >= 0
                out[pos] = 1 / (1 + torch.exp(-x[pos]))
                ez = torch.exp(x[~pos])
                out[~pos] = ez / (1 + ez)
                return out

            def derivative(self, x):
                s = self(x)
                return s * (1 - s)


        class MyTanh:
            def __call__(self, x):
                e = torch.expm1(-2 * x.abs())
                return -torch.sign(x) * e / (e + 2)

            def derivative(self, x):
                t = self(x)
                return (1 - t) * (1 + t)
        ''')),
    Variant("act_nn_module_forward", ACT, "honest", cell('''
        class MyReLU(nn.Module):
            def forward(self, x):
                return torch.where(x > 0, x, torch.zeros_like(x))

            def derivative(self, x):
                return (x > 0).to(x.dtype)


        class MySigmoid(nn.Module):
            def forward(self, x):
                z = torch.exp(-x.abs())
                return torch.where(x >= 0, 1 / (1 + z), z / (1 + z))

            def derivative(self, x):
                s = self(x)
                return s * (1 - s)


        class MyTanh(nn.Module):
            def __init__(self):
                super().__init__()
                self.sig = MySigmoid()

            def forward(self, x):
                return 2 * self.sig(2 * x) - 1

            def derivative(self, x):
                t = self(x)
                return 1 - t * t
        '''), "__call__ inherited from nn.Module"),
    Variant("act_helpers_in_cell", ACT, "honest", cell('''
        def relu_mask(x):
            return (x > 0).to(x.dtype)


        def stable_sigmoid(x):
            z = torch.exp(-x.abs())
            return torch.where(x >= 0, 1 / (1 + z), z / (1 + z))


        def stable_tanh(x):
            return 2 * stable_sigmoid(2 * x) - 1


        class MyReLU:
            def __call__(self, x):
                return x * relu_mask(x)

            def derivative(self, x):
                return relu_mask(x)


        class MySigmoid:
            def __call__(self, x):
                return stable_sigmoid(x)

            def derivative(self, x):
                s = stable_sigmoid(x)
                return s * (1 - s)


        class MyTanh:
            def __call__(self, x):
                return stable_tanh(x)

            def derivative(self, x):
                t = stable_tanh(x)
                return 1 - t * t
        ''')),
    Variant("act_print_display_timeit", ACT, "honest", activations_cell() + cell('''

        x = torch.linspace(-5, 5, 11)
        print("ReLU:", MyReLU()(x))
        display(MySigmoid()(x))
        %timeit MyTanh()(x)
        ''')),
    Variant("act_asserts", ACT, "honest", activations_cell() + cell('''

        x = torch.tensor([-1.0, 0.0, 2.0])
        assert torch.equal(MyReLU()(x), torch.tensor([0.0, 0.0, 2.0]))
        assert torch.allclose(MySigmoid()(torch.zeros(3)), torch.full((3,), 0.5))
        assert not torch.isnan(MyTanh()(torch.tensor([1000.0, -1000.0]))).any(), "tanh overflows"
        ''')),
    Variant("act_type_hints", ACT, "honest", cell('''
        from torch import Tensor


        class MyReLU:
            name: str = "ReLU"

            def __call__(self, x: Tensor) -> Tensor:
                return torch.where(x > 0, x, torch.zeros_like(x))

            def derivative(self, x: Tensor) -> Tensor:
                return (x > 0).to(x.dtype)


        class MySigmoid:
            name: str = "Sigmoid"

            def __call__(self, x: Tensor) -> Tensor:
                z: Tensor = torch.exp(-x.abs())
                return torch.where(x >= 0, 1 / (1 + z), z / (1 + z))

            def derivative(self, x: Tensor) -> Tensor:
                s = self(x)
                return s * (1 - s)


        class MyTanh:
            name: str = "Tanh"

            def __call__(self, x: Tensor) -> Tensor:
                z: Tensor = torch.exp(-2 * x.abs())
                return torch.sign(x) * (1 - z) / (1 + z)

            def derivative(self, x: Tensor) -> Tensor:
                t = self(x)
                return 1 - t * t
        ''')),
    Variant("act_fstring_comprehension", ACT, "honest", activations_cell() + cell('''

        for name, act in [("ReLU", MyReLU()), ("Sigmoid", MySigmoid()), ("Tanh", MyTanh())]:
            values = [round(float(v), 3) for v in act(torch.tensor([-2.0, 0.0, 2.0]))]
            print(f"{name:>8}: {values}")
        ''')),
    Variant("act_import_math_numpy", ACT, "honest", cell('''
        import math

        import numpy as np


        class MyReLU:
            def __call__(self, x):
                return torch.where(x > 0, x, torch.zeros_like(x))

            def derivative(self, x):
                return (x > 0).to(x.dtype)


        class MySigmoid:
            def __call__(self, x):
                z = torch.exp(-x.abs())
                return torch.where(x >= 0, 1 / (1 + z), z / (1 + z))

            def derivative(self, x):
                s = self(x)
                return s * (1 - s)


        class MyTanh:
            def __call__(self, x):
                z = torch.exp(-2 * x.abs())
                return torch.sign(x) * (1 - z) / (1 + z)

            def derivative(self, x):
                t = self(x)
                return 1 - t * t


        np.testing.assert_allclose(MySigmoid()(torch.tensor([0.0, 2.0])).numpy(), [0.5, 1 / (1 + math.exp(-2))],
                                   rtol=1e-6)
        ''')),
    Variant("act_from_torch_import_nn", ACT, "honest", cell('''
        import torch
        from torch import nn


        class MyReLU(nn.Module):
            def forward(self, x):
                return torch.where(x > 0, x, x.new_zeros(()))

            def derivative(self, x):
                return (x > 0).to(x.dtype)


        class MySigmoid(nn.Module):
            def forward(self, x):
                z = torch.exp(-x.abs())
                return torch.where(x >= 0, 1 / (1 + z), z / (1 + z))

            def derivative(self, x):
                s = self.forward(x)
                return s - s * s


        class MyTanh(nn.Module):
            def forward(self, x):
                z = torch.exp(-2 * x.abs())
                return torch.sign(x) * (1 - z) / (1 + z)

            def derivative(self, x):
                t = self.forward(x)
                return (1 - t) * (1 + t)
        ''')),
    Variant("act_getattr_constant", ACT, "honest", activations_cell(
        relu='zero = torch.zeros((), dtype=getattr(x, "dtype"), device=getattr(x, "device"))\n'
             'return torch.where(x > 0, x, zero)',
        sig='exp = getattr(torch, "exp")\nz = exp(-x.abs())\nreturn torch.where(x >= 0, 1 / (1 + z), z / (1 + z))')),
    Variant("act_dataclass", ACT, "honest", cell('''
        from dataclasses import dataclass


        @dataclass
        class MyReLU:
            negative_slope: float = 0.0

            def __call__(self, x):
                return torch.where(x > 0, x, self.negative_slope * x)

            def derivative(self, x):
                return torch.where(x > 0, torch.ones_like(x), torch.full_like(x, self.negative_slope))


        @dataclass(frozen=True)
        class MySigmoid:
            def __call__(self, x):
                z = torch.exp(-x.abs())
                return torch.where(x >= 0, 1 / (1 + z), z / (1 + z))

            def derivative(self, x):
                s = self(x)
                return s * (1 - s)


        @dataclass(frozen=True)
        class MyTanh:
            def __call__(self, x):
                return 2 * MySigmoid()(2 * x) - 1

            def derivative(self, x):
                t = self(x)
                return 1 - t * t
        ''')),
    Variant("act_dataclass_settings", ACT, "honest", cell('''
        from dataclasses import dataclass


        @dataclass(frozen=True)
        class Settings:
            sigmoid_cutoff: float = 40.0   # beyond |x| = 40, e^-|x| is below every float32 step anyway


        settings = Settings()


        class MyReLU:
            def __call__(self, x):
                return torch.where(x > 0, x, torch.zeros_like(x))

            def derivative(self, x):
                return (x > 0).to(x.dtype)


        class MySigmoid:
            def __call__(self, x):
                z = torch.exp(-x.abs().clamp(max=settings.sigmoid_cutoff))
                return torch.where(x >= 0, 1 / (1 + z), z / (1 + z))

            def derivative(self, x):
                s = self(x)
                return s * (1 - s)


        class MyTanh:
            def __call__(self, x):
                return 2 * MySigmoid()(2 * x) - 1

            def derivative(self, x):
                t = self(x)
                return 1 - t * t
        '''), "a config object of the student's own with a field named sigmoid_cutoff"),
    Variant("act_local_names_relu_sigmoid", ACT, "honest", activations_cell(
        relu="relu = torch.where(x > 0, x, torch.zeros_like(x))\nreturn relu",
        tanh="return 2 * sigmoid(2 * x) - 1") + cell('''

        relu = MyReLU()
        sigmoid = MySigmoid()
        tanh = MyTanh()
        print(relu(torch.tensor([-1.0, 1.0])), sigmoid(torch.tensor(0.0)), tanh(torch.tensor(0.0)))
        '''), "relu/sigmoid/tanh are the student's own objects"),
    Variant("act_docstrings_mention_torch", ACT, "honest", cell('''
        class MyReLU:
            """Same values as torch.relu, but written by hand (torch.relu / F.relu / nn.ReLU are not allowed)."""

            def __call__(self, x):
                # torch.relu(x) would be a one-liner; torch.where does the same
                return torch.where(x > 0, x, torch.zeros_like(x))

            def derivative(self, x):
                return (x > 0).to(x.dtype)


        class MySigmoid:
            """Like torch.sigmoid / torch.special.expit, stable for large |x|."""

            def __call__(self, x):
                z = torch.exp(-x.abs())  # not x.sigmoid()
                return torch.where(x >= 0, 1 / (1 + z), z / (1 + z))

            def derivative(self, x):
                s = self(x)
                return s * (1 - s)


        class MyTanh:
            """torch.tanh, by hand."""

            def __call__(self, x):
                z = torch.exp(-2 * x.abs())
                return torch.sign(x) * (1 - z) / (1 + z)

            def derivative(self, x):
                t = self(x)
                return 1 - t * t
        ''')),
    Variant("act_private_helpers", ACT, "honest", cell('''
        def _exp_neg_abs(x):
            return torch.exp(-x.abs())


        class MyReLU:
            def __call__(self, x):
                return torch.where(x > 0, x, torch.zeros_like(x))

            def derivative(self, x):
                return (x > 0).to(x.dtype)


        class MySigmoid:
            def __call__(self, x):
                z = _exp_neg_abs(x)
                return torch.where(x >= 0, 1 / (1 + z), z / (1 + z))

            def derivative(self, x):
                s = self(x)
                return s * (1 - s)


        class MyTanh:
            def _positive_part(self, a):
                z = _exp_neg_abs(2 * a)
                return (1 - z) / (1 + z)

            def __call__(self, x):
                return torch.sign(x) * self._positive_part(x.abs())

            def derivative(self, x):
                t = self(x)
                return 1 - t * t
        ''')),
    Variant("act_call_counter", ACT, "honest", cell('''
        class MyReLU:
            def __init__(self):
                self.calls = 0

            def __call__(self, x):
                self.calls += 1
                return torch.where(x > 0, x, torch.zeros_like(x))

            def derivative(self, x):
                return (x > 0).to(x.dtype)


        class MySigmoid:
            def __call__(self, x):
                z = torch.exp(-x.abs())
                return torch.where(x >= 0, 1 / (1 + z), z / (1 + z))

            def derivative(self, x):
                s = self(x)
                return s * (1 - s)


        class MyTanh:
            def __call__(self, x):
                z = torch.exp(-2 * x.abs())
                return torch.sign(x) * (1 - z) / (1 + z)

            def derivative(self, x):
                t = self(x)
                return 1 - t * t
        '''), "self.calls += 1"),
    Variant("act_inplace_on_clone", ACT, "honest", activations_cell(
        relu="y = x.clone()\ny[y < 0] = 0\nreturn y",
        relu_d="d = torch.zeros_like(x)\nd[x > 0] = 1\nreturn d",
        tanh="t = 2 * MySigmoid()(2 * x)\nt -= 1\nreturn t")),
    Variant("act_staticmethod", ACT, "honest", cell('''
        class MyReLU:
            def __call__(self, x):
                return torch.where(x > 0, x, torch.zeros_like(x))

            def derivative(self, x):
                return (x > 0).to(x.dtype)


        class MySigmoid:
            @staticmethod
            def stable(x):
                z = torch.exp(-x.abs())
                return torch.where(x >= 0, 1 / (1 + z), z / (1 + z))

            def __call__(self, x):
                return MySigmoid.stable(x)

            def derivative(self, x):
                s = MySigmoid.stable(x)
                return s * (1 - s)


        class MyTanh:
            def __call__(self, x):
                return 2 * MySigmoid.stable(2 * x) - 1

            def derivative(self, x):
                t = self(x)
                return 1 - t * t
        ''')),
    Variant("act_heaviside_clamped_exp", ACT, "honest", activations_cell(
        relu="return torch.where(x > 0, x, 0.0)",
        relu_d="return torch.heaviside(x, torch.zeros((), dtype=x.dtype, device=x.device))",
        tanh="e = torch.exp(2 * x.clamp(-20, 20))\nreturn (e - 1) / (e + 1)")),
    Variant("act_super_init_repr", ACT, "honest", cell('''
        class MyReLU(nn.Module):
            def __init__(self):
                super().__init__()

            def forward(self, x):
                return torch.where(x > 0, x, torch.zeros_like(x))

            def derivative(self, x):
                return (x > 0).to(x.dtype)

            def __repr__(self):
                return f"{type(self).__name__}()"


        class MySigmoid(nn.Module):
            def __init__(self):
                super().__init__()

            def forward(self, x):
                z = torch.exp(-x.abs())
                return torch.where(x >= 0, 1 / (1 + z), z / (1 + z))

            def derivative(self, x):
                s = self(x)
                return s * (1 - s)


        class MyTanh(nn.Module):
            def __init__(self):
                super().__init__()

            def forward(self, x):
                z = torch.exp(-2 * x.abs())
                return torch.sign(x) * (1 - z) / (1 + z)

            def derivative(self, x):
                t = self(x)
                return 1 - t * t
        ''')),
    Variant("act_sigmoid_from_own_tanh", ACT, "honest", cell('''
        class MyTanh:
            def __call__(self, x):
                e = torch.expm1(-2 * x.abs())
                return -torch.sign(x) * e / (e + 2)

            def derivative(self, x):
                t = self(x)
                return (1 - t) * (1 + t)


        class MySigmoid:
            def __call__(self, x):
                return (1 + MyTanh()(x / 2)) / 2

            def derivative(self, x):
                s = self(x)
                return s - s * s


        class MyReLU:
            def __call__(self, x):
                return torch.clamp(x, min=0)

            def derivative(self, x):
                return (x > 0).to(x.dtype)
        ''')),
    # ------------------------------------------------------------------ dropout_layer
    Variant("drop_reference", DROP, "honest", dropout_cell('''
        if dropout == 1:
            return torch.zeros_like(X)
        if dropout == 0:
            return X
        mask = (torch.rand(X.shape, device=X.device) > dropout).to(X.dtype)
        return mask * X / (1.0 - dropout)
        '''), "the course's solution"),
    Variant("drop_bernoulli", DROP, "honest", dropout_cell('''
        if dropout == 1:
            return torch.zeros_like(X)
        mask = torch.bernoulli(torch.full_like(X, 1 - dropout))
        return mask * X / (1 - dropout)
        ''')),
    Variant("drop_rand_like", DROP, "honest", dropout_cell('''
        if dropout == 1:
            return torch.zeros_like(X)
        mask = (torch.rand_like(X) >= dropout).type_as(X)
        return X * mask / (1 - dropout)
        ''')),
    Variant("drop_lt_keep_float", DROP, "honest", dropout_cell('''
        keep = 1.0 - dropout
        if keep == 0:
            return torch.zeros_like(X)
        mask = (torch.rand(X.shape, device=X.device) < keep).float()
        return (X * mask / keep).to(X.dtype)
        ''')),
    Variant("drop_uniform_where", DROP, "honest", dropout_cell('''
        if dropout == 1:
            return torch.zeros_like(X)
        keep = torch.empty(X.shape, device=X.device).uniform_() > dropout
        return torch.where(keep, X / (1 - dropout), torch.zeros_like(X))
        ''')),
    Variant("drop_docstring_comments", DROP, "honest", cell('''
        def dropout_layer(X, dropout):
            """Inverted dropout by hand: what F.dropout(X, dropout) or nn.Dropout(dropout) would do."""
            if not 0 <= dropout <= 1:
                raise ValueError(f"dropout must be in [0, 1], got {dropout}")
            if dropout == 1:
                return torch.zeros_like(X)   # F.dropout gives zeros here too
            # torch.dropout / F.dropout are not allowed, so: a uniform mask
            mask = (torch.rand(X.shape, device=X.device) > dropout).to(X.dtype)
            return mask * X / (1 - dropout)
        ''')),
    Variant("drop_type_hints_asserts", DROP, "honest", cell('''
        def dropout_layer(X: torch.Tensor, dropout: float) -> torch.Tensor:
            if not 0.0 <= dropout <= 1.0:
                raise ValueError(f"dropout = {dropout} is not a probability")
            if dropout == 1.0:
                return torch.zeros_like(X)
            if dropout == 0.0:
                return X
            mask: torch.Tensor = torch.rand(X.shape, device=X.device) > dropout
            return mask.to(X.dtype) * X / (1.0 - dropout)


        assert dropout_layer(torch.ones(4), 0.0).equal(torch.ones(4))
        assert dropout_layer(torch.ones(4), 1.0).equal(torch.zeros(4))
        ''')),
    Variant("drop_bernoulli_inplace", DROP, "honest", dropout_cell('''
        if dropout == 1:
            return torch.zeros_like(X)
        mask = torch.empty_like(X).bernoulli_(1 - dropout)
        return mask * X / (1 - dropout)
        ''')),
    Variant("drop_print_timeit", DROP, "honest", dropout_cell('''
        if dropout == 1:
            return torch.zeros_like(X)
        mask = X.new_empty(X.shape).uniform_() > dropout
        return mask * X / (1 - dropout)
        ''') + cell('''

        print(dropout_layer(torch.arange(16.0).reshape(2, 8), 0.5))
        %timeit dropout_layer(torch.ones(256, 256), 0.5)
        ''')),
    Variant("drop_helper_augassign", DROP, "honest", cell('''
        def keep_mask(shape, keep_prob, device):
            return torch.rand(shape, device=device) < keep_prob


        def dropout_layer(X, dropout):
            if not 0 <= dropout <= 1:
                raise ValueError(f"dropout must be in [0, 1], got {dropout}")
            keep_prob = 1 - dropout
            if keep_prob == 0:
                return torch.zeros_like(X)
            dropout_mask = keep_mask(X.shape, keep_prob, X.device)
            out = X * dropout_mask
            out /= keep_prob
            return out
        ''')),
    Variant("drop_isinstance_checks", DROP, "honest", cell('''
        def dropout_layer(X, dropout):
            if not isinstance(dropout, (int, float)):
                raise TypeError(f"dropout must be a number, got {type(dropout).__name__}")
            if not (0.0 <= dropout <= 1.0):
                raise ValueError(f"dropout must be in [0, 1], got {dropout}")
            if dropout == 1:
                return torch.zeros_like(X)
            scale = 1 / (1 - dropout)
            return torch.where(torch.rand_like(X) < 1 - dropout, X * scale, torch.zeros_like(X))
        ''')),
    Variant("drop_private_helper", DROP, "honest", cell('''
        def _check_probability(p):
            if not 0 <= p <= 1:
                raise ValueError(f"dropout must be in [0, 1], got {p}")


        def dropout_layer(X, dropout):
            _check_probability(dropout)
            if dropout == 1:
                return torch.zeros_like(X)
            mask = (torch.rand(X.shape, device=X.device) > dropout).to(X.dtype)
            return mask * X / (1 - dropout)
        ''')),
]

DROP_EDGES = "if dropout == 1:\n    return torch.zeros_like(X)\n"

FORBIDDEN = [
    Variant("act_from_torch_import_relu_as_r", ACT, "forbidden",
            activations_cell("from torch import relu as r", relu="return r(x)")),
    Variant("act_functional_alias", ACT, "forbidden",
            activations_cell("import torch.nn.functional as F", relu="return F.relu(x)")),
    Variant("act_nn_ReLU_instance", ACT, "forbidden", activations_cell(relu="return nn.ReLU()(x)")),
    Variant("act_tensor_method", ACT, "forbidden", activations_cell(relu="return x.relu()")),
    Variant("act_special_expit", ACT, "forbidden", activations_cell(sig="return torch.special.expit(x)")),
    Variant("act_getattr_concat", ACT, "forbidden",
            activations_cell(relu='return getattr(torch, "re" + "lu")(x)')),
    Variant("act_tanh_in_dict", ACT, "forbidden",
            activations_cell('ACTIVATIONS = {"tanh": torch.tanh}', tanh='return ACTIVATIONS["tanh"](x)')),
    Variant("act_sigmoid_in_list", ACT, "forbidden",
            activations_cell("FUNCS = [torch.sigmoid]", sig="return FUNCS[0](x)")),
    Variant("act_getattr_renamed", ACT, "forbidden",
            activations_cell("g = getattr", sig="return g(torch, 'sigmoid')(x)")),
    Variant("act_module_dict", ACT, "forbidden",
            activations_cell(relu="return torch.nn.functional.__dict__['relu'](x)")),
    Variant("act_eval_string", ACT, "forbidden", activations_cell(relu="return eval('torch.relu')(x)")),
    Variant("act_ops_aten_packet", ACT, "forbidden", activations_cell(relu="return torch.ops.aten.relu(x)")),
    Variant("act_ops_aten_overload", ACT, "forbidden",
            activations_cell(sig="return torch.ops.aten.sigmoid.default(x)")),
    Variant("act_torch_C_functions", ACT, "forbidden",
            activations_cell(tanh="return torch._C._VariableFunctions.tanh(x)"),
            "torch._C._nn has no relu/sigmoid/tanh in this torch; _VariableFunctions holds torch.tanh itself"),
    Variant("act_vars_lookup", ACT, "forbidden", activations_cell(tanh="return vars(torch)['tanh'](x)")),
    Variant("act_operator_attrgetter", ACT, "forbidden",
            activations_cell("import operator", tanh="return operator.attrgetter('tanh')(torch)(x)")),
    Variant("act_lambda_alias", ACT, "forbidden",
            activations_cell("sig = lambda t: torch.sigmoid(t)", sig="return sig(x)")),
    Variant("act_star_import", ACT, "forbidden",
            activations_cell("from torch.nn.functional import *", relu="return relu(x)")),
    Variant("act_tensor_unbound_method", ACT, "forbidden", activations_cell(tanh="return torch.Tensor.tanh(x)")),
    Variant("act_inplace_method_on_clone", ACT, "forbidden", activations_cell(sig="return x.clone().sigmoid_()")),
    Variant("act_derivative_only", ACT, "forbidden", activations_cell(tanh_d="return 1 - torch.tanh(x) ** 2")),
    Variant("act_large_input_fast_path", ACT, "forbidden", activations_cell(
        relu="if x.numel() > 100_000:\n    return torch.relu(x)\n" + RELU),
        "the forbidden call is only on a path small inputs do not take"),
    Variant("act_disable_torch_function", ACT, "forbidden", activations_cell(
        relu="with torch._C.DisableTorchFunction():\n    return torch.relu(x)"),
        "switches __torch_function__ handling (modes included) off around the call"),
    Variant("act_numpy_tanh", ACT, "forbidden", activations_cell(
        "import numpy as np", tanh="return torch.from_numpy(np.tanh(x.detach().cpu().numpy())).to(x)"),
        "np.tanh: forbidden by the notebook's rule text, outside PyTorch"),
    Variant("act_refs_implementation", ACT, "forbidden", activations_cell(tanh="return torch._refs.tanh(x)"),
            "PyTorch's Python reference tanh: another object than torch.tanh"),
    # ------------------------------------------------------------------ dropout_layer
    Variant("drop_F_dropout", DROP, "forbidden",
            dropout_cell("return F.dropout(X, dropout, training=True)", "import torch.nn.functional as F")),
    Variant("drop_nn_Dropout", DROP, "forbidden", dropout_cell("return nn.Dropout(dropout)(X)")),
    Variant("drop_torch_dropout", DROP, "forbidden", dropout_cell("return torch.dropout(X, dropout, True)")),
    Variant("drop_native_dropout", DROP, "forbidden",
            dropout_cell(DROP_EDGES + "return torch.native_dropout(X, dropout, True)[0]")),
    Variant("drop_alpha_dropout", DROP, "forbidden",
            dropout_cell("return torch.nn.functional.alpha_dropout(X, dropout, training=True)")),
    Variant("drop_importlib", DROP, "forbidden", dropout_cell(
        "import importlib\nreturn importlib.import_module('torch.nn.functional').dropout(X, dropout)")),
    Variant("drop_from_import_alias", DROP, "forbidden",
            dropout_cell("return drop(X, dropout)", "from torch.nn.functional import dropout as drop")),
    Variant("drop_getattr_concat", DROP, "forbidden",
            dropout_cell('return getattr(torch.nn.functional, "drop" + "out")(X, dropout)')),
    Variant("drop_star_import", DROP, "forbidden",
            dropout_cell("return alpha_dropout(X, dropout, True)", "from torch.nn.functional import *")),
    Variant("drop_ops_aten_native", DROP, "forbidden",
            dropout_cell(DROP_EDGES + "return torch.ops.aten.native_dropout(X, dropout, True)[0]")),
    Variant("drop_in_dict", DROP, "forbidden",
            dropout_cell('return DROP["fn"](X, dropout)', 'DROP = {"fn": torch.nn.functional.dropout}')),
    Variant("drop_vars_lookup", DROP, "forbidden",
            dropout_cell("return vars(torch.nn.functional)['dropout'](X, dropout)")),
]

BORDERLINE = [
    Variant("act_selfcheck_against_torch", ACT, "borderline", activations_cell() + cell('''

        x = torch.linspace(-5, 5, 11)
        assert torch.allclose(MyReLU()(x), torch.relu(x))
        assert torch.allclose(MySigmoid()(x), torch.sigmoid(x))
        '''), "compares with torch.relu at the top level; no graded definition uses it"),
]

CORPUS = HONEST + FORBIDDEN + BORDERLINE


# --------------------------------------------------------------------------------------------------
# Running a cell as the notebook would
# --------------------------------------------------------------------------------------------------

class _Shell:
    """What ``get_ipython()`` returns here: magics are accepted and do nothing."""

    def run_line_magic(self, *args, **kwargs):
        return None

    def run_cell_magic(self, *args, **kwargs):
        return None

    def system(self, *args, **kwargs):
        return None


_SHELL = _Shell()


def _display(*objects, **kwargs):
    return None


def as_python(source: str) -> str:
    """The cell as IPython runs it (``%timeit`` becomes a ``get_ipython()`` call)."""
    return TransformerManager().transform_cell(source)


def setup_names() -> dict:
    """The names the notebook's setup cell and IPython give every answer cell."""
    return {"__name__": "__main__", "torch": torch, "nn": nn, "math": math, "display": _display,
            "get_ipython": lambda: _SHELL}


X_ACT = torch.tensor([-30.0, -2.0, -0.5, 0.0, 0.5, 2.0, 30.0])
X_DROP = torch.ones(4, 8)


def exercise(namespace: dict, todo: str) -> None:
    """Call the TODO's definitions the way the grader does, on small inputs."""
    if todo == ACT:
        for name in ("MyReLU", "MySigmoid", "MyTanh"):
            act = namespace[name]()
            act(X_ACT)
            act.derivative(X_ACT)
    else:
        fn = namespace["dropout_layer"]
        for p in (0.0, 0.5, 1.0):
            fn(X_DROP, p)
        try:
            fn(X_DROP, 1.5)
        except ValueError:
            pass


def corpus_check() -> list[str]:
    """Honest cells give correct answers; forbidden ones run. Returns the problems found."""
    problems = []
    for v in CORPUS:
        ns = setup_names()
        try:
            exec(compile(as_python(v.source), v.name, "exec"), ns)
            exercise(ns, v.todo)
            if v.kind != "forbidden":
                found = _check_activations(ns) if v.todo == ACT else _check_dropout(ns)
                problems += [f"{v.name}: {p}" for p in found]
        except Exception as err:  # noqa: BLE001
            problems.append(f"{v.name}: {type(err).__name__}: {err}")
    return problems


def _check_activations(ns: dict) -> list[str]:
    problems = []
    for dtype, (rtol, atol) in ((torch.float32, (1e-5, 1e-6)), (torch.float64, (1e-9, 1e-12))):
        x = torch.tensor([-1000.0, -30.0, -2.0, -0.5, 0.0, 0.5, 2.0, 30.0, 1000.0], dtype=dtype)
        s, t = 1 / (1 + torch.exp(-x)), torch.tanh(x)
        refs = {"MyReLU": (torch.relu(x), (x > 0).to(dtype)), "MySigmoid": (s, s * (1 - s)), "MyTanh": (t, 1 - t * t)}
        for name, (value, slope) in refs.items():
            act = ns[name]()
            for what, got, want in (("value", act(x), value), ("derivative", act.derivative(x), slope)):
                if got.dtype != dtype or not torch.allclose(got, want, rtol=rtol, atol=atol):
                    problems.append(f"{name} {what} wrong for {dtype}")
    return problems


def _check_dropout(ns: dict) -> list[str]:
    fn, problems = ns["dropout_layer"], []
    for dtype in (torch.float32, torch.float64):
        X = torch.arange(1.0, 2049.0, dtype=dtype).reshape(32, 64)
        before = X.clone()
        if not torch.equal(fn(X, 0.0), X) or not torch.equal(fn(X, 1.0), torch.zeros_like(X)):
            problems.append(f"p = 0 or p = 1 wrong for {dtype}")
        out = fn(X, 0.25)
        kept = out != 0
        if out.dtype != dtype or out.shape != X.shape or not torch.allclose(out[kept], X[kept] / 0.75):
            problems.append(f"p = 0.25 not inverted dropout for {dtype}")
        if not 0.70 < kept.double().mean().item() < 0.80:
            problems.append(f"keep rate {kept.double().mean().item():.3f} for p = 0.25")
        if not torch.equal(X, before):
            problems.append("modifies X")
    for p in (-0.1, 1.5):
        try:
            fn(torch.ones(3), p)
            problems.append(f"no ValueError for p = {p}")
        except ValueError:
            pass
    return problems


# --------------------------------------------------------------------------------------------------
# Checkers
# --------------------------------------------------------------------------------------------------

@dataclass
class Verdict:
    rejected: bool
    reason: str = ""
    stage: str = ""      # RestrictedPython: "compile", "guard" or "run"


def check_review(source: str, todo: str) -> Verdict:
    """a. The project's static review, as Judge.review acts on it."""
    per_definition = {name: what for name, what in forbidden_by_definition(source, todo).items()
                      if name in DEFINITIONS[todo]}
    tampering = [f for f in review(source, todo=todo) if f.kind == "tampering"]
    if tampering:
        return Verdict(True, "tampering: " + "; ".join(f.describe() for f in tampering))
    if per_definition:
        return Verdict(True, "; ".join(f"{name}: {what}" for name, what in sorted(per_definition.items())))
    unowned = [f for f in review(source, todo=todo) if f.kind == "forbidden"]
    if unowned:
        return Verdict(False, "review() found " + "; ".join(f.describe() for f in unowned)
                       + ", but by_definition gives it to no graded definition")
    return Verdict(False)


# --- c. The recorder --------------------------------------------------------------------------------

#: Exact ``__name__`` values the recorder rejects, per TODO.
FORBIDDEN_NAMES = {
    ACT: frozenset({"relu", "relu_", "sigmoid", "sigmoid_", "tanh", "tanh_", "special_expit"}),
    DROP: frozenset({"dropout", "dropout_", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout",
                     "alpha_dropout_", "feature_dropout", "feature_dropout_", "feature_alpha_dropout",
                     "feature_alpha_dropout_", "native_dropout"}),
}


class CallRecorder(TorchFunctionMode):
    """Records the ``__name__`` of every torch function called while it is active."""

    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        self.names.append(getattr(func, "__name__", repr(func)))
        return func(*args, **(kwargs or {}))


def check_recorder(source: str, todo: str) -> Verdict:
    """c. Run the cell normally, then call its functions with every torch call recorded."""
    ns = setup_names()
    try:
        exec(compile(as_python(source), "<answer cell>", "exec"), ns)
        with CallRecorder() as recorder:
            exercise(ns, todo)
    except Exception as err:  # noqa: BLE001
        return Verdict(True, f"raised {type(err).__name__}: {err}")
    seen = sorted({n for n in recorder.names if n in FORBIDDEN_NAMES[todo]})
    if seen:
        return Verdict(True, "called " + ", ".join(seen))
    near = sorted({n for n in recorder.names if n.split(".")[0] in FORBIDDEN_NAMES[todo]})
    return Verdict(False, f"saw only {', '.join(near)} (not an exact name)" if near else "")


def check_review_or_recorder(source: str, todo: str) -> Verdict:
    first = check_review(source, todo)
    return first if first.rejected else check_recorder(source, todo)


# --- b. RestrictedPython -------------------------------------------------------------------------------

def _forbidden_objects() -> dict[str, dict[int, tuple[str, object]]]:
    """id(object) -> (label, object) of the PyTorch (and NumPy/math) callables each rule forbids."""
    aten = torch.ops.aten
    acts = ["relu", "relu_", "sigmoid", "sigmoid_", "tanh", "tanh_"]
    drops = ["dropout", "dropout_", "alpha_dropout", "alpha_dropout_", "feature_dropout", "feature_dropout_",
             "feature_alpha_dropout", "feature_alpha_dropout_", "native_dropout"]
    found: dict[str, dict[int, tuple[str, object]]] = {ACT: {}, DROP: {}}

    def add(todo: str, owner: object, owner_name: str, names: list[str]) -> None:
        for name in names:
            obj = getattr(owner, name, None)
            if obj is not None:
                found[todo][id(obj)] = (f"{owner_name}.{name}", obj)
                overload = getattr(obj, "default", None) if owner is aten else None
                if overload is not None:
                    found[todo][id(overload)] = (f"{owner_name}.{name}.default", overload)

    add(ACT, torch, "torch", acts)
    add(ACT, torch.Tensor, "torch.Tensor", acts)
    add(ACT, F, "F", ["relu", "relu_", "sigmoid", "tanh"])
    add(ACT, nn, "nn", ["ReLU", "Sigmoid", "Tanh"])
    add(ACT, torch.special, "torch.special", ["expit"])
    add(ACT, aten, "torch.ops.aten", acts + ["special_expit"])
    add(ACT, np, "np", ["tanh"])
    add(ACT, math, "math", ["tanh"])
    add(DROP, torch, "torch", drops)
    add(DROP, torch.Tensor, "torch.Tensor", drops)
    add(DROP, F, "F", ["dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout", "feature_alpha_dropout"])
    add(DROP, nn, "nn", ["Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "FeatureAlphaDropout"])
    add(DROP, aten, "torch.ops.aten", drops)
    return found


FORBIDDEN_OBJECTS = _forbidden_objects()


class Refused(Exception):
    """A guard refused to hand a forbidden object to the cell."""


class Guards:
    """The ``_getattr_``/``_getitem_``/``__import__``/``_write_`` hooks for one run of one cell.

    Every refusal is also kept in ``refused``, so a cell that catches the exception is still rejected.
    """

    def __init__(self, todo: str) -> None:
        self.forbidden = FORBIDDEN_OBJECTS[todo]
        self.refused: list[str] = []

    def _check(self, value: object, where: str) -> object:
        hit = self.forbidden.get(id(value))
        if hit is not None and hit[1] is value:
            self.refused.append(f"{where} is {hit[0]}")
            raise Refused(self.refused[-1])
        return value

    def getattr(self, obj, name, *default):
        value = getattr(obj, name, *default)
        if not isinstance(obj, (type, types.ModuleType)):   # x.relu: a bound method of Tensor.relu
            self._check(getattr(type(obj), name, None), f".{name}")
        return self._check(value, f".{name}")

    def getitem(self, obj, key):
        return self._check(obj[key], f"[{key!r}]")

    def import_(self, name, globals=None, locals=None, fromlist=(), level=0):
        module = __import__(name, globals, locals, fromlist, level)
        for item in fromlist or ():
            self._check(getattr(module, item, None), f"from {name} import {item}")
        return module

    def write(self, obj):
        if isinstance(obj, types.ModuleType):
            self.refused.append(f"assignment to module {obj.__name__}")
            raise Refused(self.refused[-1])
        return obj

    def restricted_globals(self) -> dict:
        builtins = {**safe_builtins, **limited_builtins, **utility_builtins}
        # Ordinary builtins an answer may need (not in safe_builtins); vars, eval, exec, globals stay out.
        builtins.update(max=max, min=min, sum=sum, any=any, all=all, enumerate=enumerate, zip=zip, map=map,
                        filter=filter, sorted=sorted, dict=dict, type=type, super=super, hasattr=hasattr,
                        staticmethod=staticmethod, classmethod=classmethod, property=property,
                        getattr=self.getattr, __import__=self.import_)
        return {"__builtins__": builtins, "__metaclass__": type,
                "_getattr_": self.getattr, "_getitem_": self.getitem, "_write_": self.write,
                "_getiter_": iter, "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
                "_unpack_sequence_": guarded_unpack_sequence, "_inplacevar_": _inplacevar,
                "_apply_": lambda f, *a, **k: f(*a, **k), "_print_": PrintCollector,
                **setup_names()}


_INPLACE = {"+=": operator.iadd, "-=": operator.isub, "*=": operator.imul, "/=": operator.itruediv,
            "//=": operator.ifloordiv, "%=": operator.imod, "**=": operator.ipow, "@=": operator.imatmul,
            "&=": operator.iand, "|=": operator.ior, "^=": operator.ixor, "<<=": operator.ilshift,
            ">>=": operator.irshift}


def _inplacevar(op: str, target, value):
    return _INPLACE[op](target, value)


class CoursePolicy(RestrictingNodeTransformer):
    """RestrictedPython's policy, relaxed just enough for ordinary answer cells (see the module docstring)."""

    DUNDER_DEFINITIONS = frozenset({"__init__", "__call__", "__repr__", "__str__"})
    DUNDER_ATTRIBUTES = frozenset({"__init__", "__call__", "__name__", "__class__", "__doc__"})

    @staticmethod
    def _private(name: str) -> bool:
        """A student's single-underscore name (never RestrictedPython's own ``_getattr_``, ``_print``)."""
        return name.startswith("_") and not name.startswith("__") and not name.endswith("_") and name != "_print"

    def check_name(self, node, name, allow_magic_methods=False):
        if name and (self._private(name) or (isinstance(node, ast.FunctionDef) and name in self.DUNDER_DEFINITIONS)):
            return
        super().check_name(node, name, allow_magic_methods)

    def visit_Attribute(self, node):
        name = node.attr
        if not (self._private(name) or name in self.DUNDER_ATTRIBUTES):
            return super().visit_Attribute(node)
        node.attr = "permitted"                      # past the base class's name checks, then put back
        new = super().visit_Attribute(node)
        if isinstance(new, ast.Call):                # _getattr_(obj, "permitted")
            new.args[1].value = name
        else:
            new.attr = name
        return new

    def visit_Assert(self, node):
        return self.node_contents_visit(node)

    def visit_AnnAssign(self, node):
        return self.node_contents_visit(node)


def _restricted(policy):
    def check(source: str, todo: str) -> Verdict:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", SyntaxWarning)
                code = compile_restricted(as_python(source), "<answer cell>", "exec", policy=policy)
        except SyntaxError as err:
            errors = err.args[0] if err.args and isinstance(err.args[0], (list, tuple)) else [str(err)]
            return Verdict(True, "; ".join(dict.fromkeys(errors)), "compile")
        guards = Guards(todo)
        ns = guards.restricted_globals()
        try:
            exec(code, ns)
            exercise(ns, todo)
        except Refused:
            pass
        except Exception as err:  # noqa: BLE001
            if not guards.refused:
                return Verdict(True, f"raised {type(err).__name__}: {err}", "run")
        if guards.refused:
            return Verdict(True, "refused " + "; ".join(dict.fromkeys(guards.refused)), "guard")
        return Verdict(False, "", "passed")
    return check


CHECKERS = {
    "review (project, static)": check_review,
    "recorder (TorchFunctionMode)": check_recorder,
    "review + recorder (project today)": check_review_or_recorder,
    "RestrictedPython default policy + guards": _restricted(RestrictingNodeTransformer),
    "RestrictedPython course policy + guards": _restricted(CoursePolicy),
}


# --------------------------------------------------------------------------------------------------
# Measuring and reporting
# --------------------------------------------------------------------------------------------------

@dataclass
class Result:
    verdicts: dict[str, Verdict] = field(default_factory=dict)
    seconds: float = 0.0


def rp_version() -> str:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("RestrictedPython")
    except PackageNotFoundError:
        return "unknown"


def _short(text: str, limit: int = 150) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def main() -> int:
    warnings.filterwarnings("ignore")
    torch.manual_seed(0)
    with contextlib.redirect_stdout(io.StringIO()):   # the cells' own prints
        problems = corpus_check()
    n_honest, n_forbidden = len(HONEST), len(FORBIDDEN)
    print(f"corpus: {n_honest} honest ({sum(v.todo == ACT for v in HONEST)} activations, "
          f"{sum(v.todo == DROP for v in HONEST)} dropout_layer), {n_forbidden} forbidden "
          f"({sum(v.todo == ACT for v in FORBIDDEN)} activations, {sum(v.todo == DROP for v in FORBIDDEN)} "
          f"dropout_layer), {len(BORDERLINE)} borderline; RestrictedPython {rp_version()} from "
          f"{Path(RestrictedPython.__file__).parent.parent}; torch {torch.__version__}")
    if problems:
        print("corpus check FAILED (a cell is not what its label says):")
        for p in problems:
            print("  ", p)
        return 1
    print("corpus check: every honest cell is a correct answer (values, derivatives, float32/float64, "
          "edges), every forbidden cell runs\n")

    results: dict[str, dict[str, Verdict]] = {}
    seconds: dict[str, float] = {}
    for label, checker in CHECKERS.items():
        start = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            results[label] = {v.name: checker(v.source, v.todo) for v in CORPUS}
        seconds[label] = (time.perf_counter() - start) / len(CORPUS)

    width = max(map(len, CHECKERS))
    print(f"{'checker':<{width}} | honest rejected (false positives) | forbidden caught | time per variant")
    print(f"{'-' * width}-+-----------------------------------+------------------+-----------------")
    for label in CHECKERS:
        fp = sum(results[label][v.name].rejected for v in HONEST)
        tp = sum(results[label][v.name].rejected for v in FORBIDDEN)
        print(f"{label:<{width}} | {fp:>3} of {n_honest:<27} | {tp:>3} of {n_forbidden:<8} | "
              f"{seconds[label] * 1000:8.2f} ms")

    print("\nRestrictedPython, stage by stage (compile step = compile_restricted alone; guarded run = only cells "
          "that compiled):")
    for label in list(CHECKERS)[3:]:
        verdicts = results[label]
        for kind, group in (("honest", HONEST), ("forbidden", FORBIDDEN)):
            stages = [verdicts[v.name].stage for v in group]
            compiled = len(group) - stages.count("compile")
            print(f"  {label}, {kind:9}: compile step rejects {stages.count('compile'):>2} of {len(group)}"
                  f"; of the {compiled:>2} that compiled the guarded run rejects "
                  f"{stages.count('guard') + stages.count('run'):>2} (guard refusals {stages.count('guard')}, "
                  f"other run errors {stages.count('run')})")
        honest_errors = {_rp_message(m) for v in HONEST if verdicts[v.name].stage == "compile"
                         for m in verdicts[v.name].reason.split("; ")}
        interface_only = [v.name for v in FORBIDDEN if verdicts[v.name].stage == "compile"
                          and {_rp_message(m) for m in verdicts[v.name].reason.split("; ")} <= honest_errors]
        print(f"      {len(interface_only)} of the forbidden cells rejected at compile are rejected only for errors "
              f"that also reject honest cells (e.g. defining __call__), not for the forbidden form")
        messages: dict[str, int] = {}
        for v in HONEST:
            verdict = verdicts[v.name]
            if verdict.stage == "compile":
                for message in dict.fromkeys(_rp_message(m) for m in verdict.reason.split("; ")):
                    messages[message] = messages.get(message, 0) + 1
        for message, count in sorted(messages.items(), key=lambda kv: -kv[1]):
            print(f"      {count:>2} honest cells: {message}")

    print("\nMisclassified variants")
    for label in CHECKERS:
        verdicts = results[label]
        wrong = [(v, "REJECTED honest", verdicts[v.name].reason) for v in HONEST if verdicts[v.name].rejected]
        wrong += [(v, "MISSED forbidden", verdicts[v.name].reason or v.note or "nothing seen")
                  for v in FORBIDDEN if not verdicts[v.name].rejected]
        print(f"\n  {label}: {len(wrong)}")
        for v, what, reason in wrong:
            print(f"    {what:16} {v.name:34} {_short(reason)}")

    if "--all" in sys.argv:
        print("\nEvery verdict")
        for v in CORPUS:
            print(f"\n  {v.kind:10} {v.todo:14} {v.name}")
            for label in CHECKERS:
                verdict = results[label][v.name]
                state = "rejected" if verdict.rejected else "passed  "
                print(f"    {label:<{width}} {state} {_short(verdict.reason, 110)}")

    print("\nBorderline (counted in neither column): rejected?")
    for v in BORDERLINE:
        print(f"  {v.name} ({v.note})")
        for label in CHECKERS:
            verdict = results[label][v.name]
            print(f"    {label:<{width}} {'yes' if verdict.rejected else 'no ':3} {_short(verdict.reason, 90)}")
    return 0


def _rp_message(error: str) -> str:
    """A RestrictedPython compile error without its line number."""
    return error.split(": ", 1)[-1] if error.startswith("Line ") else error


if __name__ == "__main__":
    sys.exit(main())
