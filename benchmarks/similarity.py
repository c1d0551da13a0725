"""How well the similarity report finds copied answers: precision and recall per copy kind over generated classes.

Each class (seeded, ``--seed``, several at once) is built from hand-written implementations of every
TODO of lab2: 11 for MyReLU, 11 for MySigmoid, 10 for MyTanh (``__call__`` and ``derivative``
together), 11 for Network.forward, 6 for dead_unit_fraction, 11 for l2_penalty and 10 for
dropout_layer, correct and incorrect ones (unstable sigmoid, missing scaling, in-place dropout, an
activation on the logits ...). Each is written with choices of its own, and each independent student
has writing habits (``torch.f(x)`` or ``x.f()``, ``1`` or ``1.0``, ``x ** 2`` or ``x * x``, naming the
result ...), as students who pick the same idea still write it their own way. About a third of the
independent students type in the textbook's code (d2l's and the lectures', ``TEXTBOOK``) for three
to seven of the TODOs: they share that code without copying from each other. Some leave TODOs
unfinished; two write loops and comprehensions.

Planted copies take a classmate's (or the instructor's) answers and disguise them, two of each kind
(``COPY_KINDS``): verbatim, renamed, reordered, restyled, all three, prints and asserts inserted, dead
code added, helpers extracted, helpers inlined (the source wrote helpers), ``torch.f(x)`` <-> ``x.f()``,
commuted operands, ``x**2`` <-> ``x*x``, loop <-> comprehension, dead_units moved into the network
cell, everything at once, and *fully rewritten* (every expression replaced by an equivalent one: not
a target, reported apart). Partial copies take the activation classes, or forward and l2, or
dropout_layer alone. A pair is *positive* when the two hand in the same author's three activation
classes or units of two or more answer cells; one other short function alone (dropout_layer, say)
is counted apart. Every other pair is independent work, including the *textbook pairs*: both typed
in the textbook's code for two or more of the same TODOs.

Targets, at course.toml's settings over all seeds given: recall >= 0.9 for every copy kind (fully
rewritten ones and one-short-function copies apart), precision >= 0.95, no textbook pair and no blank
submission flagged; the exit status is 1 when one is missed.

    python benchmarks/similarity.py [--seed 0 1 2] [--students 40] [--keep DIR] [--verbose]
"""


from __future__ import annotations

import argparse
import builtins
import ast
import copy
import dataclasses
import io
import itertools
import keyword
import random
import re
import statistics
import sys
import tempfile
import time
import tokenize
from collections.abc import Callable
from pathlib import Path

import nbformat

from coursekit.config import load_config
from coursekit.grading.similarity import SOLUTION, code_answer_cells, compare_class, without_solution_markers

ROOT = Path(__file__).resolve().parents[1]
TARGET_RECALL = 0.9
TARGET_PRECISION = 0.95


def pick(r: random.Random, *options: str) -> str:
    return r.choice(options)


def comment(r: random.Random, *texts: str) -> str:
    """Sometimes a comment line, in the student's own words."""
    return (r.choice(texts) + "\n") if r.random() < 0.4 else ""


# --- implementations: each a function of the student's rng that returns the code --------------------
# Bodies are written without indentation; the generator indents them into the cells.

def relu_where(r):
    v = pick(r, "torch.zeros_like(x)", "torch.tensor(0.0, dtype=x.dtype)")
    return (f"{comment(r, '# 正数保留，负数变 0', '# keep positives')}return torch.where(x > 0, x, {v})",
            f"return (x > 0).{pick(r, 'to(x.dtype)', 'type_as(x)', 'to(dtype=x.dtype)')}")


def relu_clamp(r):
    call = pick(r, "return torch.clamp(x, min=0)", "return x.clamp(min=0.0)", "return torch.clamp_min(x, 0)")
    return call, ("grad = torch.where(x > 0, torch.ones_like(x), torch.zeros_like(x))\nreturn grad"
                  if r.random() < 0.5 else "return torch.where(x > 0, torch.ones_like(x), torch.zeros_like(x))")


def relu_mask(r):
    m = pick(r, "mask", "pos", "m")
    return (f"{m} = (x > 0).to(x.dtype)\nreturn x * {m}" if r.random() < 0.5 else "return x * (x > 0).to(x.dtype)",
            f"return torch.gt(x, 0).{pick(r, 'to(x.dtype)', 'type_as(x)')}")


def relu_maximum(r):
    d = pick(r, "d", "out", "g")
    return ("return torch.maximum(x, torch.zeros_like(x))",
            f"{d} = torch.zeros_like(x)\n{d}[x > 0] = 1\nreturn {d}")


def relu_index(r):
    y = pick(r, "y", "out", "res")
    g = pick(r, "g", "grad", "deriv")
    return (f"{y} = x.clone()\n{y}[{y} < 0] = 0\nreturn {y}",
            f"{g} = torch.ones_like(x)\n{g}[x <= 0] = 0\n{comment(r, '# x = 0 处取 0')}return {g}")


def relu_abs(r):  # wrong derivative at 0 (0.5)
    return (pick(r, "return (x + x.abs()) / 2", "return (x + torch.abs(x)) * 0.5"),
            pick(r, "return (torch.sign(x) + 1) / 2", "return 0.5 * (1 + torch.sign(x))"))


def relu_max_scalar(r):  # wrong at 0 and dtype
    return ("return torch.max(x, torch.tensor(0.0))",
            pick(r, "return (x >= 0).float()", "return (x >= 0).double()"))


def relu_masked_fill(r):
    return (pick(r, "return x.masked_fill(x < 0, 0)", "return x.masked_fill(x <= 0, 0.0)"),
            "return torch.heaviside(x, torch.zeros_like(x))")


def sigmoid_stable_where(r):
    z = pick(r, "z", "e", "t")
    call = (f"{z} = torch.exp(-x.abs())\n{comment(r, '# 只对负数取指数，防止溢出', '# avoid overflow')}"
            f"return torch.where(x >= 0, 1 / (1 + {z}), {z} / (1 + {z}))")
    if r.random() < 0.5:
        call = (f"{z} = torch.exp(-torch.abs(x))\npos = 1 / (1 + {z})\n"
                f"return torch.where(x >= 0, pos, 1 - pos)")
    return call, pick(r, "s = self(x)\nreturn s * (1 - s)", "s = self.__call__(x)\nreturn s * (1.0 - s)")


def sigmoid_naive(r):
    return (pick(r, "return 1 / (1 + torch.exp(-x))", "return 1.0 / (1.0 + torch.exp(-x))"),
            pick(r, "return self(x) * (1 - self(x))", "return self.__call__(x) * (1 - self.__call__(x))"))


def sigmoid_exp_ratio(r):  # nan for large positive x
    e = pick(r, "e", "ex", "t")
    return (f"{e} = torch.exp(x)\nreturn {e} / (1 + {e})",
            pick(r, "s = self(x)\nreturn s - s * s", "s = self(x)\nreturn s - s ** 2"))


def sigmoid_tanh(r):  # uses a built-in activation
    return ("return 0.5 * (1 + torch.tanh(x / 2))",
            pick(r, "return 0.25 * (1 - torch.tanh(x / 2) ** 2)", "t = torch.tanh(0.5 * x)\nreturn (1 - t * t) / 4"))


def sigmoid_split(r):
    out = pick(r, "out", "y", "result")
    neg = pick(r, "ex", "e_x", "en")
    return (f"{out} = torch.empty_like(x)\npos = x >= 0\n{out}[pos] = 1 / (1 + torch.exp(-x[pos]))\n"
            f"{neg} = torch.exp(x[~pos])\n{out}[~pos] = {neg} / (1 + {neg})\nreturn {out}",
            pick(r, "p = self(x)\nreturn p * (1 - p)", "sig = self(x)\nreturn sig * (1 - sig)"))


def sigmoid_logaddexp(r):
    return ("return torch.exp(-torch.logaddexp(torch.zeros_like(x), -x))",
            pick(r, "a = torch.exp(-x.abs())\nreturn a / (1 + a) ** 2", "a = torch.exp(-torch.abs(x))\nreturn a / ((1 + a) * (1 + a))"))


def sigmoid_clamped(r):  # derivative nan for very negative x
    lim = pick(r, "60", "80", "50")
    return (f"x = torch.clamp(x, -{lim}, {lim})\nreturn 1.0 / (1.0 + torch.exp(-x))",
            "e = torch.exp(-x)\nreturn e / (1 + e) ** 2")


def sigmoid_reciprocal(r):
    return (pick(r, "return torch.reciprocal(1 + torch.exp(-x))", "return (1 + torch.exp(-x)).reciprocal()"),
            pick(r, "val = self(x)\nreturn val * (1 - val)", "val = self(x)\nreturn val.mul(1 - val)"))


def tanh_stable(r):
    z = pick(r, "z", "q", "e")
    return (f"{z} = torch.exp(-2 * x.abs())\nreturn torch.sign(x) * (1 - {z}) / (1 + {z})",
            pick(r, "t = self(x)\nreturn 1 - t * t", "t = self(x)\nreturn 1 - t ** 2"))


def tanh_via_sigmoid(r):
    return (pick(r, "return 2 * MySigmoid()(2 * x) - 1", "sig = MySigmoid()\nreturn 2 * sig(2 * x) - 1"),
            pick(r, "return 1 - self(x) ** 2", "return 1 - self(x).pow(2)"))


def tanh_naive(r):  # nan for large |x|
    a, b = pick(r, "a", "ep", "p"), pick(r, "b", "en", "n")
    if r.random() < 0.5:
        call = "return (torch.exp(x) - torch.exp(-x)) / (torch.exp(x) + torch.exp(-x))"
    else:
        call = f"{a} = torch.exp(x)\n{b} = torch.exp(-x)\nreturn ({a} - {b}) / ({a} + {b})"
    return call, "t = self(x)\nreturn 1 - t.pow(2)"


def tanh_expm1(r):  # nan for large positive x
    e = pick(r, "e", "m")
    return (f"{e} = torch.expm1(2 * x)\nreturn {e} / ({e} + 2)",
            pick(r, "return 1 - self(x) * self(x)", "y = self(x)\nreturn 1 - y * y"))


def tanh_where(r):
    return ("e_neg = torch.exp(-2 * x.abs())\npos = (1 - e_neg) / (1 + e_neg)\nreturn torch.where(x >= 0, pos, -pos)",
            pick(r, "return 1.0 - torch.square(self(x))", "return 1 - torch.square(self(x))"))


def tanh_builtin(r):  # forbidden built-in
    return (pick(r, "return torch.tanh(x)", "return x.tanh()"),
            pick(r, "return 1 - torch.tanh(x) ** 2", "return 1 - x.tanh() ** 2"))


def tanh_clamped(r):
    lim = pick(r, "20", "15", "30")
    return (f"x = x.clamp(-{lim}, {lim})\nea = torch.exp(x)\neb = torch.exp(-x)\nreturn (ea - eb) / (ea + eb)",
            pick(r, "t = self(x)\nreturn (1 - t) * (1 + t)", "th = self(x)\nreturn (1 + th) * (1 - th)"))


def tanh_sinh_cosh(r):  # built-ins again
    return (pick(r, "return torch.sinh(x) / torch.cosh(x)", "s, c = torch.sinh(x), torch.cosh(x)\nreturn s / c"),
            pick(r, "return 1 / torch.cosh(x) ** 2", "c = torch.cosh(x)\nreturn 1 / (c * c)"))


def forward_loop(r):
    h = pick(r, "h", "out", "z", "hidden")
    layer = pick(r, "layer", "lin", "fc", "linear")
    return (f"{h} = self.activation(self.input_layer(X))\n{comment(r, '# 隐藏层', '# hidden layers')}"
            f"for {layer} in self.layers:\n    {h} = self.activation({layer}({h}))\nreturn self.output_layer({h})")


def forward_chain(r):
    h = pick(r, "out", "a", "h")
    return (f"{h} = X\nfor lin in [self.input_layer, *self.layers]:\n    {h} = self.activation(lin({h}))\n"
            f"return self.output_layer({h})")


def forward_index(r):
    return ("h = self.activation(self.input_layer(X))\nfor i in range(len(self.layers)):\n"
            "    h = self.activation(self.layers[i](h))\nlogits = self.output_layer(h)\nreturn logits")


def forward_no_first_activation(r):  # wrong: input layer without activation
    return ("h = self.input_layer(X)\nfor layer in self.layers:\n    h = self.activation(layer(h))\n"
            "return self.output_layer(h)")


def forward_activation_on_logits(r):  # wrong: activation on the output too
    return ("x = self.activation(self.input_layer(X))\nfor layer in self.layers:\n"
            "    x = self.activation(layer(x))\nx = self.output_layer(x)\nreturn self.activation(x)")


def forward_list_two_steps(r):
    return ("h = X\nlayers = [self.input_layer] + list(self.layers)\nfor layer in layers:\n    h = layer(h)\n"
            "    h = self.activation(h)\nreturn self.output_layer(h)")


def forward_reshape(r):
    return ("X = X.reshape(X.shape[0], -1)\nh = self.activation(self.input_layer(X))\nfor hidden in self.layers:\n"
            "    h = self.activation(hidden(h))\nreturn self.output_layer(h)")


def forward_while(r):
    return ("h = self.activation(self.input_layer(X))\nk = 0\nwhile k < len(self.layers):\n"
            "    h = self.activation(self.layers[k](h))\n    k += 1\nreturn self.output_layer(h)")


def l2_pow(r):
    return pick(r, "return torch.sum(w.pow(2)) / 2", "return w.pow(2).sum() / 2")


def l2_square_sum(r):
    return pick(r, "return (w ** 2).sum() / 2", "return torch.sum(w ** 2) / 2.0")


def l2_half_times(r):
    return pick(r, "return 0.5 * torch.sum(w * w)", "return 0.5 * (w * w).sum()")


def l2_norm(r):
    return pick(r, "return w.norm() ** 2 / 2", "return torch.norm(w) ** 2 / 2")


def l2_dot(r):
    v = pick(r, "v", "flat")
    return f"{v} = w.flatten()\nreturn torch.dot({v}, {v}) / 2"


def l2_no_half(r):  # wrong: no 1/2
    return pick(r, "return torch.sum(w ** 2)", "return (w * w).sum()")


def l2_norm_not_squared(r):  # wrong: the norm, not its square
    return "return torch.norm(w) / 2"


def l2_loop(r):
    t = pick(r, "total", "s", "acc")
    return f"{t} = torch.zeros((), dtype=w.dtype)\nfor v in w.flatten():\n    {t} = {t} + v * v\nreturn {t} / 2"


def _guards(r) -> list[str]:
    """The range check and the two edge cases, in the student's order and spelling."""
    check = pick(r, "if not 0 <= dropout <= 1:", "if dropout < 0 or dropout > 1:", "if dropout > 1 or dropout < 0:")
    message = pick(r, '"dropout 必须在 [0, 1] 之间"', 'f"dropout={dropout} 不在 [0, 1] 内"', '"bad dropout"')
    edges = [f"if dropout == 1:\n    return {pick(r, 'torch.zeros_like(X)', 'X * 0', 'torch.zeros_like(X, dtype=X.dtype)')}",
             "if dropout == 0:\n    return X" + pick(r, "", ".clone()")]
    r.shuffle(edges)
    return [f"{check}\n    raise ValueError({message})", *edges]


def dropout_rand_mask(r):
    m = pick(r, "mask", "keep", "m")
    cast = pick(r, ".float()", ".to(X.dtype)", ".type(X.dtype)")
    return "\n".join(_guards(r) + [f"{m} = (torch.rand(X.shape) > dropout){cast}",
                                   f"return {m} * X / (1.0 - dropout)"])


def dropout_bernoulli(r):
    k = pick(r, "keep", "b", "mask")
    return "\n".join(_guards(r) + [f"{k} = torch.bernoulli(torch.full_like(X, 1 - dropout))",
                                   f"return X * {k} / (1 - dropout)"])


def dropout_uniform_where(r):
    return "\n".join(_guards(r) + ["kept = torch.empty_like(X).uniform_(0, 1) >= dropout",
                                   "return torch.where(kept, X / (1 - dropout), torch.zeros_like(X))"])


def dropout_no_scaling(r):  # wrong: no 1/(1-p)
    return "\n".join(_guards(r)[:1] + ["mask = (torch.rand_like(X) > dropout).to(X.dtype)", "return mask * X"])


def dropout_in_place(r):  # wrong: modifies X
    return "\n".join(_guards(r)[:2] + ["drop = torch.rand(X.shape) < dropout", "X[drop] = 0",
                                       "return X / (1 - dropout)"])


def dropout_unchecked(r):  # wrong: no range check
    m = pick(r, "mask", "keep")
    return f"if dropout == 1:\n    return X * 0\n{m} = torch.rand_like(X) > dropout\nreturn X * {m} / (1 - dropout)"


def dropout_clone_index(r):
    return "\n".join(_guards(r) + ["out = X.clone()", "zero = torch.rand_like(X) < dropout", "out[zero] = 0",
                                   "out[~zero] = out[~zero] / (1 - dropout)", "return out"])


def dropout_scale_first(r):
    k = pick(r, "scale", "factor")
    return "\n".join(_guards(r) + [f"{k} = 1.0 / (1.0 - dropout)",
                                   "mask = (torch.rand(X.size(), device=X.device) > dropout).type(X.dtype)",
                                   f"return X * mask * {k}"])


# --- habits: how one student writes whatever implementation they chose ------------------------------
# Two students who pick the same idea rarely type the same characters: one writes x.abs(), the other
# torch.abs(x); one writes 1.0, the other 1; one names the result before returning it. Each
# independent student draws these habits once and they apply to all of their answers.

def _method_style(code: str) -> str:
    """torch.f(name) -> name.f() for simple arguments."""
    return re.sub(r"torch\.(exp|abs|sign|sum)\((\w+)\)", r"\2.\1()", code)


def _function_style(code: str) -> str:
    """name.f() -> torch.f(name)."""
    return re.sub(r"\b(\w+)\.(exp|abs|sign|sum)\(\)", r"torch.\2(\1)", code)


def _float_literals(code: str) -> str:
    code = re.sub(r"(?<![\w.])1 - ", "1.0 - ", code)
    code = re.sub(r"(?<![\w.])1 \+ ", "1.0 + ", code)
    code = re.sub(r"/ 2\b(?!\.)", "/ 2.0", code)
    return re.sub(r"== 0\b(?!\.)", "== 0.0", code)


def _int_literals(code: str) -> str:
    return re.sub(r"(?<![\w.])1\.0\b", "1", code)


def _name_result(name: str) -> Callable[[str], str]:
    """return <expression> -> name = <expression>; return name (a bare name is left alone)."""
    def edit(code: str) -> str:
        def one(match: re.Match) -> str:
            indent, expr = match.group(1), match.group(2)
            if re.fullmatch(r"[\w.]+", expr):
                return match.group(0)
            return f"{indent}{name} = {expr}\n{indent}return {name}"
        return re.sub(r"(?m)^([ ]*)return (.+)$", one, code)
    return edit


def _dtype_as(style: str) -> Callable[[str], str]:
    def edit(code: str) -> str:
        return re.sub(r"\.(to\((\w+)\.dtype\)|type_as\((\w+)\)|to\(dtype=(\w+)\.dtype\))",
                      lambda m: style.format(next(g for g in m.groups()[1:] if g)), code)
    return edit


def _rand_style(style: str) -> Callable[[str], str]:
    def edit(code: str) -> str:
        return re.sub(r"torch\.rand\((\w+)\.(shape|size\(\))\)|torch\.rand_like\((\w+)\)",
                      lambda m: style.format(m.group(1) or m.group(3)), code)
    return edit


def _square(style: str) -> Callable[[str], str]:
    def edit(code: str) -> str:
        return re.sub(r"\b(\w+) \*\* 2\b", lambda m: style.format(m.group(1)), code)
    return edit


def habits(r: random.Random) -> Callable[[str], str]:
    """One student's writing habits, as an edit applied to each of their answers."""
    edits = []
    edits.append(r.choice([_method_style, _function_style, lambda c: c]))
    edits.append(r.choice([_float_literals, _int_literals, lambda c: c]))
    edits.append(_dtype_as(r.choice([".to({0}.dtype)", ".type_as({0})", ".to(dtype={0}.dtype)"])))
    edits.append(_rand_style(r.choice(["torch.rand({0}.shape)", "torch.rand_like({0})", "torch.rand({0}.size())",
                                       "torch.rand(*{0}.shape)"])))
    edits.append(_square(r.choice(["{0} ** 2", "{0}.pow(2)", "{0} * {0}", "torch.square({0})"])))
    if r.random() < 0.35:
        edits.append(_name_result(r.choice(["result", "out", "ans", "y"])))

    def apply(code: str) -> str:
        for edit in edits:
            code = edit(code)
        return code
    return apply




# --- implementations written for the widened class (new ideas, not variants of the ones above) --------

def relu_sign_mult(r):
    return (pick(r, "return x * (torch.sign(x) + 1) / 2 * (x != 0)", "return torch.relu_(x.clone()) * 1"),
            pick(r, "return torch.sign(torch.clamp(x, min=0))", "return torch.clamp(x, min=0).sign()"))


def relu_list_cat(r):  # slow, elementwise, on flat data
    return ("flat = x.flatten()\nvals = []\nfor v in flat:\n    vals.append(v if v > 0 else v * 0)\n"
            "return torch.stack(vals).reshape(x.shape)",
            "return torch.stack([torch.tensor(1.0 if v > 0 else 0.0) for v in x.flatten()]).reshape(x.shape).to(x.dtype)")


def relu_threshold(r):
    t = pick(r, "0", "0.0")
    return (f"return torch.threshold(x, {t}, {t})",
            f"out = torch.full_like(x, 0.0)\nout = out.masked_fill(x > {t}, 1.0)\nreturn out")


def sigmoid_softplus(r):
    return ("return torch.exp(-torch.nn.functional.softplus(-x))",
            "p = self(x)\nq = 1 - p\nreturn p * q")


def sigmoid_piecewise_exp(r):
    e = pick(r, "em", "ez", "k")
    return (f"{e} = torch.exp(torch.minimum(x, torch.zeros_like(x)))\n"
            f"return {e} / ({e} + torch.exp(torch.minimum(-x, torch.zeros_like(x))))",
            pick(r, "a = self(x)\nreturn a - a ** 2", "a = self(x)\nreturn a * (1 - a)"))


def sigmoid_half_tanh_stable(r):
    return ("y = torch.tanh(0.5 * x)\nreturn (y + 1) * 0.5",
            "c = torch.cosh(x / 2)\nreturn 1 / (4 * c * c)")


def tanh_two_sigmoid(r):
    return ("z = torch.exp(-2 * torch.abs(x))\nsig = 1 / (1 + z)\nmag = 2 * sig - 1\nreturn torch.sign(x) * mag",
            "v = self(x)\nreturn (1 - v) * (1 + v)")


def tanh_logistic_ratio(r):
    return ("q = torch.exp(-torch.abs(x) * 2)\nnum = 1 - q\nden = 1 + q\nreturn torch.where(x < 0, -num / den, num / den)",
            pick(r, "r = self(x)\nreturn 1 - r ** 2", "r = self(x)\nreturn 1 - r * r"))


def forward_functools(r):
    return ("from functools import reduce\nfirst = self.activation(self.input_layer(X))\n"
            "last = reduce(lambda acc, lin: self.activation(lin(acc)), self.layers, first)\nreturn self.output_layer(last)")


def forward_enumerate(r):
    return ("out = X\nfor i, layer in enumerate([self.input_layer] + [m for m in self.layers]):\n"
            "    out = self.activation(layer(out))\nreturn self.output_layer(out)")


def forward_sequential(r):
    return ("mods = [self.input_layer]\nfor m in self.layers:\n    mods.append(m)\nh = X\nfor m in mods:\n"
            "    h = m(h)\n    h = self.activation(h)\nout = self.output_layer(h)\nreturn out")


def l2_einsum(r):
    return pick(r, "return torch.einsum('...,...->', w, w) / 2", "return torch.einsum('ij,ij->', w, w) * 0.5")


def l2_comprehension(r):
    return pick(r, "return sum(v * v for v in w.reshape(-1)) / 2", "return sum([v ** 2 for v in w.flatten()]) / 2")


def l2_matmul(r):
    return "v = w.reshape(-1)\nreturn (v @ v) / 2"


def dropout_multinomial_free(r):
    return "\n".join(_guards(r) + ["u = torch.rand_like(X)", "keep = (u >= dropout).to(X.dtype)",
                                   "scale = 1 / (1 - dropout)", "return X * keep * scale"])


def dropout_index_list(r):
    return "\n".join(_guards(r) + ["flat = X.flatten().clone()",
                                   "idx = [i for i in range(flat.numel()) if torch.rand(1).item() < dropout]",
                                   "flat[idx] = 0", "return (flat / (1 - dropout)).reshape(X.shape)"])


def dead_all(r):
    return pick(r, "return (H == 0).all(dim=0).float().mean()", "return (H == 0).all(0).to(H.dtype).mean()")


def dead_max(r):
    return pick(r, "dead = H.abs().max(dim=0).values == 0\nreturn dead.sum() / H.shape[1]",
                "m = torch.amax(H.abs(), dim=0)\nreturn (m == 0).float().mean()")


def dead_loop(r):
    return ("count = 0\nfor j in range(H.shape[1]):\n    if torch.all(H[:, j] == 0):\n        count += 1\n"
            "return torch.tensor(count / H.shape[1])")


def dead_comprehension(r):
    return ("flags = [bool((H[:, j] == 0).all()) for j in range(H.shape[1])]\nreturn torch.tensor(sum(flags) / len(flags))")


def dead_sum_nonzero(r):
    return pick(r, "alive = (H != 0).sum(dim=0) > 0\nreturn 1 - alive.float().mean()",
                "nz = torch.count_nonzero(H, dim=0)\nreturn (nz == 0).sum().float() / H.shape[1]")


def dead_any(r):  # wrong: dead where *any* image gives 0
    return "return (H == 0).any(dim=0).float().mean()"


# --- the textbook's code (d2l and the lectures), which several independent students type in -------------
# The same code is in dlcourse/lab2/public_code.txt, which course.toml names as a public source.

TEXTBOOK = {
    "relu": ("a = torch.zeros_like(x)\nreturn torch.max(x, a)", "return (x > 0).float()"),
    "sigmoid": ("return 1 / (1 + torch.exp(-x))", "s = self(x)\nreturn s * (1 - s)"),
    "tanh": ("return (torch.exp(x) - torch.exp(-x)) / (torch.exp(x) + torch.exp(-x))", "return 1 - self(x) ** 2"),
    "forward": "H = self.activation(self.input_layer(X))\nfor layer in self.layers:\n    H = self.activation(layer(H))\n"
               "return self.output_layer(H)",
    "l2": "return torch.sum(w.pow(2)) / 2",
    "dropout": 'if not 0 <= dropout <= 1:\n    raise ValueError("dropout must be in [0, 1]")\nif dropout == 1:\n'
               "    return torch.zeros_like(X)\nif dropout == 0:\n    return X\n"
               "mask = (torch.rand(X.shape) > dropout).float()\nreturn mask * X / (1.0 - dropout)",
    "dead": "return (H == 0).all(dim=0).float().mean()",
}


UNITS: dict[str, list[Callable]] = {
    "relu": [relu_where, relu_clamp, relu_mask, relu_maximum, relu_index, relu_abs, relu_max_scalar, relu_masked_fill,
             relu_sign_mult, relu_list_cat, relu_threshold],
    "sigmoid": [sigmoid_stable_where, sigmoid_naive, sigmoid_exp_ratio, sigmoid_tanh, sigmoid_split,
                sigmoid_logaddexp, sigmoid_clamped, sigmoid_reciprocal, sigmoid_softplus, sigmoid_piecewise_exp,
                sigmoid_half_tanh_stable],
    "tanh": [tanh_stable, tanh_via_sigmoid, tanh_naive, tanh_expm1, tanh_where, tanh_builtin, tanh_clamped,
             tanh_sinh_cosh, tanh_two_sigmoid, tanh_logistic_ratio],
    "forward": [forward_loop, forward_chain, forward_index, forward_no_first_activation, forward_activation_on_logits,
                forward_list_two_steps, forward_reshape, forward_while, forward_functools, forward_enumerate,
                forward_sequential],
    "dead": [dead_all, dead_max, dead_loop, dead_comprehension, dead_sum_nonzero, dead_any],
    "l2": [l2_pow, l2_square_sum, l2_half_times, l2_norm, l2_dot, l2_no_half, l2_norm_not_squared, l2_loop,
           l2_einsum, l2_comprehension, l2_matmul],
    "dropout": [dropout_rand_mask, dropout_bernoulli, dropout_uniform_where, dropout_no_scaling, dropout_in_place,
                dropout_unchecked, dropout_clone_index, dropout_scale_first, dropout_multinomial_free,
                dropout_index_list],
}
#: which answer cell each unit lives in, and how deep its body is indented there
CELL_OF = {"relu": "activations", "sigmoid": "activations", "tanh": "activations", "forward": "network",
           "dead": "dead_units", "l2": "l2_penalty", "dropout": "dropout_layer"}
INDENT = {"activations": 8, "network": 8, "dead_units": 4, "l2_penalty": 4, "dropout_layer": 4}
ACTIVATIONS = ("relu", "sigmoid", "tanh")


# --- cells: the released skeleton with the bodies written in -------------------------------------------

STUB = "# YOUR CODE HERE\n"


def indent(code: str, spaces: int) -> str:
    return "".join((" " * spaces + line if line.strip() else line) for line in code.splitlines(keepends=True))


def fill_stubs(released: str, bodies: list[str | None], spaces: int) -> str:
    """Replace the i-th '# YOUR CODE HERE / raise NotImplementedError()' stub by bodies[i] (None: left as is)."""
    stub = " " * spaces + STUB + " " * spaces + "raise NotImplementedError()"
    pieces = released.split(stub)
    assert len(pieces) == len(bodies) + 1, (len(pieces), len(bodies))
    out = pieces[0]
    for body, rest in zip(bodies, pieces[1:]):
        out += (stub if body is None else indent(body, spaces).rstrip("\n")) + rest
    return out


@dataclasses.dataclass
class Work:
    """What a student hands in: answer cell source per grade_id, and who wrote each unit (TODO)."""

    cells: dict[str, str]
    origin: dict[str, str]      # unit -> who wrote it (a student, or SOLUTION); "" when left as released
    textbook: frozenset = frozenset()  # units written as the textbook has them


def cells_of(bodies: dict[str, object], released: dict[str, str]) -> dict[str, str]:
    cells = {}
    for gid, stub in released.items():
        flat = []
        for unit in (u for u in UNITS if CELL_OF[u] == gid):
            body = bodies.get(unit)
            methods = 2 if unit in ACTIVATIONS else 1
            flat.extend((None,) * methods if body is None else (body if isinstance(body, tuple) else (body,)))
        cells[gid] = fill_stubs(stub, flat, INDENT[gid])
    return cells


def independent_work(student: str, r: random.Random, released: dict[str, str], unfinished: set[str],
                     textbook: set[str] = frozenset(), forced: dict[str, Callable] | None = None) -> Work:
    """One implementation per TODO, drawn at random and written with the student's habits; the TODOs in
    `unfinished` stay as released, those in `textbook` are typed in from the textbook (habits and all)."""
    style = habits(r)
    bodies, origin = {}, {}
    for unit, options in UNITS.items():
        if unit in unfinished:
            bodies[unit], origin[unit] = None, ""
            continue
        if unit in textbook:
            body = TEXTBOOK[unit]
            if r.random() < 0.5:
                body = tuple(style(b) for b in body) if isinstance(body, tuple) else style(body)
        else:
            body = ((forced or {}).get(unit) or r.choice(options))(r)
            body = tuple(style(b) for b in body) if isinstance(body, tuple) else style(body)
        bodies[unit], origin[unit] = body, student
    return Work(cells_of(bodies, released), origin, frozenset(textbook))


# --- disguises of a copy: text ------------------------------------------------------------------------
# --- disguises of a copy ------------------------------------------------------------------------------

KEEP = set(keyword.kwlist) | set(dir(builtins)) | {"torch", "self", "nn", "super", "len", "range", "list", "ValueError", "MyReLU",
                              "MySigmoid", "MyTanh", "Network", "l2_penalty", "dropout_layer", "__call__",
                              "derivative", "forward", "__init__", "print", "float", "int", "isinstance", "dead_unit_fraction",
                              "sum", "bool", "enumerate", "reduce", "functools", "lambda"}
FRESH = ["val", "inp", "tmp", "res", "acc", "buf", "arr", "vec", "cur", "node", "q", "u", "y2", "data", "xx",
         "keep_mask", "hid", "layer_fc", "act", "sig_val", "probability", "p_drop", "weights", "tensor_in"]


def rename(code: str, r: random.Random) -> str:
    """Rename every local name and parameter (not attributes, torch, self or the graded names)."""
    tokens = list(tokenize.generate_tokens(io.StringIO(code).readline))
    def keyword_argument(i: int) -> bool:
        return 0 < i < len(tokens) - 1 and tokens[i + 1].string == "=" and tokens[i - 1].string in ("(", ",")

    names = sorted({t.string for i, t in enumerate(tokens) if t.type == tokenize.NAME and t.string not in KEEP
                    and not (i > 0 and tokens[i - 1].string == ".") and not keyword_argument(i)})
    fresh = r.sample(FRESH, len(names)) if len(names) <= len(FRESH) else [f"v{i}" for i in range(len(names))]
    mapping = dict(zip(names, fresh))
    lines = code.splitlines(keepends=True)
    for i in reversed(range(len(tokens))):
        t = tokens[i]
        if t.type == tokenize.NAME and t.string in mapping and not (i > 0 and tokens[i - 1].string == ".") \
                and not keyword_argument(i):
            (row, col), (_, end) = t.start, t.end
            line = lines[row - 1]
            lines[row - 1] = line[:col] + mapping[t.string] + line[end:]
    return "".join(lines)


def restyle(code: str, r: random.Random) -> str:
    """Other comments and whitespace: the copier's comments replace the original ones, spacing changes."""
    out = []
    for line in code.splitlines():
        stripped = line.strip()
        if stripped.startswith("#") and "YOUR CODE HERE" not in stripped:
            continue  # their comments go
        if " #" in line and '"' not in line and "'" not in line:
            line = line.split(" #")[0].rstrip()
        if stripped and not stripped.startswith(("def ", "class ", '"""', "#")):
            for a, b in ((", ", ","), (" / ", "/"), (" * ", "*"), (" + ", "+"), (" > ", ">"), (" - ", "-")):
                if r.random() < 0.6:
                    line = line.replace(a, b)
            if r.random() < 0.3 and not stripped.startswith(("return", "if", "for", "while", "raise", "else")):
                line += "  # " + pick(r, "算出来", "这里要注意", "ok", "中间结果")
            if r.random() < 0.2:
                out.append("")
        out.append(line)
    return "\n".join(out) + ("\n" if code.endswith("\n") else "")


def _split_blocks(code: str, head: str) -> list[str]:
    """Split code at lines starting with `head` (kept with the block that follows)."""
    blocks, current = [], []
    for line in code.splitlines(keepends=True):
        if line.startswith(head) and current:
            blocks.append("".join(current))
            current = []
        current.append(line)
    blocks.append("".join(current))
    return blocks


def reorder(gid: str, code: str, r: random.Random) -> str:
    """Reorder what can be reordered: the activation classes and their methods, dropout's guards."""
    if gid == "activations":
        classes = [c.rstrip("\n") + "\n" for c in _split_blocks(code, "class ")]
        swapped = []
        for cls in classes:
            head, *methods = _split_blocks(cls, "    def ")
            methods = [m.rstrip("\n") + "\n" for m in methods]
            if r.random() < 0.7:
                methods.reverse()
            swapped.append(head + "\n".join(methods))
        while True:
            order = r.sample(range(len(swapped)), len(swapped))
            if order != list(range(len(swapped))):
                break
        return "\n\n".join(swapped[i] for i in order)
    if gid == "dropout_layer":
        lines = code.splitlines(keepends=True)
        starts = [i for i, line in enumerate(lines) if line.strip() in ("if dropout == 1:", "if dropout == 0:")]
        if len(starts) == 2 and starts[1] == starts[0] + 2:
            a, b = starts
            lines[a:b + 2] = lines[b:b + 2] + lines[a:b]
        return "".join(lines)
    return code




# --- disguises of a copy: on the syntax tree --------------------------------------------------------------

SWAPPABLE = {"exp", "abs", "sign", "sum", "mean", "clamp", "sqrt", "tanh", "pow", "flatten", "reshape", "mul",
             "norm", "dot", "max", "maximum", "minimum", "square", "expm1", "reciprocal", "all", "any"}


def _local(node) -> bool:
    return isinstance(node, ast.Name) and node.id not in ("torch", "self", "nn")


class MethodFunction(ast.NodeTransformer):
    """torch.f(x, ...) -> x.f(...) and x.f(...) -> torch.f(x, ...)."""

    def visit_Call(self, node):
        self.generic_visit(node)
        f = node.func
        if isinstance(f, ast.Attribute) and f.attr in SWAPPABLE:
            if isinstance(f.value, ast.Name) and f.value.id == "torch" and node.args and not isinstance(node.args[0], ast.Starred):
                return ast.Call(ast.Attribute(node.args[0], f.attr, ast.Load()), node.args[1:], node.keywords)
            if not (isinstance(f.value, ast.Name) and f.value.id in ("torch", "self", "nn", "F")):
                return ast.Call(ast.Attribute(ast.Name("torch", ast.Load()), f.attr, ast.Load()), [f.value, *node.args],
                                node.keywords)
        return node


class Commute(ast.NodeTransformer):
    """a + b -> b + a, a * b -> b * a, a > b -> b < a (and so on)."""

    FLIP = {ast.Gt: ast.Lt, ast.Lt: ast.Gt, ast.GtE: ast.LtE, ast.LtE: ast.GtE}

    def visit_BinOp(self, node):
        self.generic_visit(node)
        if isinstance(node.op, (ast.Add, ast.Mult)):
            node.left, node.right = node.right, node.left
        return node

    def visit_Compare(self, node):
        self.generic_visit(node)
        if len(node.ops) == 1 and type(node.ops[0]) in self.FLIP:
            return ast.Compare(node.comparators[0], [self.FLIP[type(node.ops[0])]()], [node.left])
        return node


class Square(ast.NodeTransformer):
    """x ** 2 -> x * x, x * x -> x ** 2, x.pow(2) -> x ** 2, torch.square(x) -> x * x."""

    def visit_BinOp(self, node):
        self.generic_visit(node)
        if isinstance(node.op, ast.Pow) and isinstance(node.right, ast.Constant) and node.right.value == 2 \
                and isinstance(node.left, (ast.Name, ast.Call, ast.Attribute)):
            return ast.BinOp(node.left, ast.Mult(), copy.deepcopy(node.left))
        if isinstance(node.op, ast.Mult) and ast.dump(node.left) == ast.dump(node.right):
            return ast.BinOp(node.left, ast.Pow(), ast.Constant(2))
        return node

    def visit_Call(self, node):
        self.generic_visit(node)
        f = node.func
        if isinstance(f, ast.Attribute) and f.attr == "pow" and len(node.args) == 1 \
                and isinstance(node.args[0], ast.Constant) and node.args[0].value == 2:
            return ast.BinOp(f.value, ast.Pow(), ast.Constant(2))
        if isinstance(f, ast.Attribute) and f.attr == "square" and isinstance(f.value, ast.Name) \
                and f.value.id == "torch" and len(node.args) == 1:
            return ast.BinOp(node.args[0], ast.Mult(), copy.deepcopy(node.args[0]))
        return node


def _loops(block: list) -> list:
    """Comprehensions as loops, and appending / accumulating loops as comprehensions (whichever is there)."""
    out = []
    i = 0
    while i < len(block):
        stmt = block[i]
        for field in ("body", "orelse"):
            inner = getattr(stmt, field, None)
            if isinstance(inner, list) and inner and isinstance(inner[0], ast.stmt):
                setattr(stmt, field, _loops(inner))
        nxt = block[i + 1] if i + 1 < len(block) else None
        if (isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.ListComp) and len(stmt.targets) == 1
                and isinstance(stmt.targets[0], ast.Name) and len(stmt.value.generators) == 1):
            g, name = stmt.value.generators[0], stmt.targets[0].id
            body = [ast.Expr(ast.Call(ast.Attribute(ast.Name(name, ast.Load()), "append", ast.Load()), [stmt.value.elt], []))]
            for cond in reversed(g.ifs):
                body = [ast.If(cond, body, [])]
            out += [ast.Assign([ast.Name(name, ast.Store())], ast.List([], ast.Load())), ast.For(g.target, g.iter, body, [])]
        elif (isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.List) and not stmt.value.elts
              and isinstance(nxt, ast.For) and len(nxt.body) == 1 and isinstance(nxt.body[0], ast.Expr)
              and isinstance(nxt.body[0].value, ast.Call) and getattr(nxt.body[0].value.func, "attr", "") == "append"):
            comp = ast.ListComp(nxt.body[0].value.args[0], [ast.comprehension(nxt.target, nxt.iter, [], 0)])
            out.append(ast.Assign(stmt.targets, comp))
            i += 1
        elif isinstance(stmt, ast.Return) and isinstance(stmt.value, ast.BinOp) and isinstance(stmt.value.left, ast.Call) \
                and getattr(stmt.value.left.func, "id", "") == "sum" and stmt.value.left.args \
                and isinstance(stmt.value.left.args[0], (ast.GeneratorExp, ast.ListComp)):
            comp = stmt.value.left.args[0]
            g = comp.generators[0]
            out += [ast.Assign([ast.Name("total_", ast.Store())], ast.Constant(0)),
                    ast.For(g.target, g.iter, [ast.AugAssign(ast.Name("total_", ast.Store()), ast.Add(), comp.elt)], []),
                    ast.Return(ast.BinOp(ast.Name("total_", ast.Load()), stmt.value.op, stmt.value.right))]
        else:
            out.append(stmt)
        i += 1
    return out


def loops(code: str) -> str:
    tree = ast.parse(code)

    def visit(body):
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                node.body = _loops(node.body)
                visit(node.body)
    visit(tree.body)
    return ast.unparse(ast.fix_missing_locations(tree))


def transform(code: str, transformer: ast.NodeTransformer) -> str:
    return ast.unparse(ast.fix_missing_locations(transformer.visit(ast.parse(code))))


def _body_blocks(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef):
            yield node


def noise(code: str, r: random.Random) -> str:
    """A print or an assert after every one or two statements of each function."""
    tree = ast.parse(code)
    for func in _body_blocks(tree):
        params = [a.arg for a in func.args.args if a.arg != "self"]
        out = []
        for stmt in func.body:
            out.append(stmt)
            if isinstance(stmt, (ast.Return, ast.Raise)) or not params:
                continue
            if r.random() < 0.7:
                p = r.choice(params)
                extra = pick(r, f"print('{func.name}', {p}.shape)", f"assert {p} is not None",
                             f"print({p}.dtype, {p}.shape)", f"assert isinstance({p}, torch.Tensor)")
                out.append(ast.parse(extra).body[0])
        func.body = out
    return ast.unparse(tree)


def dead(code: str, r: random.Random) -> str:
    """Dead code: an ``if False:`` block, an unused variable, a statement after return, an unused function."""
    tree = ast.parse(code)
    funcs = list(_body_blocks(tree))
    for func in funcs:
        params = [a.arg for a in func.args.args if a.arg != "self"]
        if not params:
            continue
        p = params[0]
        kind = r.choice(["if_false", "unused", "after_return"])
        if kind == "if_false":
            func.body.insert(0, ast.parse(f"if False:\n    {p} = {p} * 2\n    print({p})").body[0])
        elif kind == "unused":
            func.body.insert(0, ast.parse(f"_scratch = {p} + 1").body[0])
        elif isinstance(func.body[-1], ast.Return):
            func.body.append(ast.parse(f"{p} = {p} * 0").body[0])
    tree.body.append(ast.parse("def _check_shapes(t):\n    return t.shape == t.shape").body[0])
    return ast.unparse(tree)


def extract_helpers(code: str, r: random.Random) -> str:
    """Each returned expression pulled out into a module-level helper of its free names."""
    tree = ast.parse(code)
    helpers = []
    for func in list(_body_blocks(tree)):
        last = func.body[-1] if func.body else None
        if not isinstance(last, ast.Return) or not isinstance(last.value, (ast.Call, ast.BinOp)):
            continue
        names = sorted({n.id for n in ast.walk(last.value) if isinstance(n, ast.Name)
                        and n.id not in ("torch", "self", "nn", "len", "range", "sum", "MySigmoid")})
        if "self" in {n.id for n in ast.walk(last.value) if isinstance(n, ast.Name)}:
            continue
        name = f"_{func.name.strip('_')}_{len(helpers)}"
        helpers.append(ast.FunctionDef(name, ast.arguments([], [ast.arg(n) for n in names], None, [], [], None, []),
                                       [ast.Return(last.value)], [], None))
        last.value = ast.Call(ast.Name(name, ast.Load()), [ast.Name(n, ast.Load()) for n in names], [])
    tree.body = helpers + tree.body
    return ast.unparse(ast.fix_missing_locations(tree))


def rewrite(code: str, r: random.Random) -> str:
    """Every expression rewritten into an equivalent one a tool cannot see through (x * (x > 0) for
    torch.where, (1 - s) * (1 + s) for 1 - s ** 2, a division for a product ...)."""
    rules = [(r"torch\.where\((\w+) > 0, \1, torch\.zeros_like\(\1\)\)", r"\1 * (\1 > 0)"),
             (r"torch\.clamp\((\w+), min=0\)", r"torch.where(\1 > 0, \1, 0 * \1)"),
             (r"1 - (\w+) \* \1\b", r"(1 - \1) * (1 + \1)"), (r"1 - (\w+) \*\* 2", r"(1 + \1) * (1 - \1)"),
             (r"\* \(1 - (\w+)\)", r"- \1 * \1"), (r"/ 2\b", "* 0.5"), (r"0\.5 \* ", "1 / 2 * "),
             (r"\(1 \+ (\w+)\)", r"(\1 + 1)"), (r"torch\.exp\(", "torch.e ** ("), (r"\.abs\(\)", ".sign() * 1"),
             (r"1 / \(1 \+ ", "torch.reciprocal(1 + ")]
    for pattern, replacement in rules:
        code = re.sub(pattern, replacement, code)
    return restyle(rename(code, r), r)


def move_dead_units(cells: dict[str, str], released: dict[str, str]) -> dict[str, str]:
    """The dead_units answer written at the end of the network cell; its own cell left as released."""
    out = dict(cells)
    out["network"] = cells["network"].rstrip("\n") + "\n\n\n" + cells["dead_units"]
    out["dead_units"] = released["dead_units"]
    return out


#: What a copier does to the cells taken, by copy kind. "moved" also moves dead_units into the network cell.
COPY_KINDS: dict[str, Callable] = {
    "verbatim": lambda gid, code, r: code,
    "renamed": lambda gid, code, r: rename(code, r),
    "reordered": lambda gid, code, r: reorder(gid, code, r),
    "restyled": lambda gid, code, r: restyle(code, r),
    "renamed+reordered+restyled": lambda gid, code, r: restyle(rename(reorder(gid, code, r), r), r),
    "prints+asserts": lambda gid, code, r: noise(rename(code, r), r),
    "dead code": lambda gid, code, r: dead(rename(code, r), r),
    "helpers extracted": lambda gid, code, r: extract_helpers(rename(code, r), r),
    "helpers inlined": lambda gid, code, r: rename(code, r),   # the source wrote helpers (see build_class)
    "torch.f(x) <-> x.f()": lambda gid, code, r: transform(rename(code, r), MethodFunction()),
    "commuted operands": lambda gid, code, r: transform(rename(code, r), Commute()),
    "x**2 <-> x*x": lambda gid, code, r: transform(rename(code, r), Square()),
    "loop <-> comprehension": lambda gid, code, r: loops(rename(code, r)),
    "moved between cells": lambda gid, code, r: rename(code, r),
    "everything at once": lambda gid, code, r: transform(transform(extract_helpers(dead(noise(
        restyle(rename(reorder(gid, code, r), r), r), r), r), r), MethodFunction()), Commute()),
    "fully rewritten": lambda gid, code, r: rewrite(code, r),
}
REWRITTEN = {"fully rewritten"}


# --- the class ------------------------------------------------------------------------------------------

@dataclasses.dataclass
class Planted:
    copier: str
    source: str
    kind: str          # a COPY_KINDS key
    what: str          # "full" or "partial:<unit>,<unit>..."


#: independent students who wrote loops and comprehensions (sources of the loop <-> comprehension copies)
LOOPY = [{"relu": relu_list_cat, "dead": dead_comprehension, "l2": l2_comprehension, "forward": forward_sequential},
         {"relu": relu_index, "dead": dead_loop, "l2": l2_loop, "dropout": dropout_index_list}]


def build_class(seed: int, n_independent: int, released: dict[str, str], solution: dict[str, str],
                textbook_share: float = 0.3):
    """Every student's Work, the planted copies, and the blank students."""
    r = random.Random(seed)
    works: dict[str, Work] = {}
    units = list(UNITS)
    for i in range(n_independent):
        student = f"s{i:02d}"
        sr = random.Random(f"{seed}-{student}")
        unfinished = set(sr.sample(units, sr.choice([1, 2]))) if i % 7 == 6 else set()
        textbook = set(sr.sample(units, sr.choice([3, 4, 5, 7]))) if sr.random() < textbook_share else set()
        works[student] = independent_work(student, sr, released, unfinished, textbook - unfinished)
    for i in range(2):
        student = f"s_loops{i}"
        works[student] = independent_work(student, random.Random(f"{seed}-{student}"), released, set(), set(), LOOPY[i])
    complete = [s for s, w in works.items() if all(w.origin.values()) and not s.startswith("s_loops")]
    r.shuffle(complete)
    sources = itertools.cycle(complete)
    planted: list[Planted] = []
    for kind in COPY_KINDS:
        for n in (1, 2):
            source = f"s_loops{n - 1}" if kind == "loop <-> comprehension" else next(sources)
            planted.append(Planted(f"c_{re.sub(r'[^a-z]+', '_', kind).strip('_')}_{n}", source, kind, "full"))
    # a cluster: a second copy of the everything-at-once copies' source
    first = next(p for p in planted if p.kind == "renamed+reordered+restyled")
    planted.append(Planted("c_cluster", first.source, "renamed+reordered+restyled", "full"))
    planted += [Planted("c_part_act_1", next(sources), "renamed+reordered+restyled", "partial:relu,sigmoid,tanh"),
                Planted("c_part_act_2", next(sources), "prints+asserts", "partial:relu,sigmoid,tanh"),
                Planted("c_part_net_l2", next(sources), "renamed", "partial:forward,l2"),
                Planted("c_part_drop", next(sources), "renamed", "partial:dropout"),
                Planted("c_solution", SOLUTION, "verbatim", "full"),
                Planted("c_solution_disguised", SOLUTION, "everything at once", "full")]
    for plant in planted:
        cr = random.Random(f"{seed}-{plant.copier}")
        if plant.source == SOLUTION:
            original = Work(dict(solution), {u: SOLUTION for u in UNITS})
        else:
            original = works[plant.source]
        if plant.kind == "helpers inlined":   # the source's own style: helpers; the copy has them inlined
            works[plant.source] = Work({g: extract_helpers(c, cr) for g, c in original.cells.items()},
                                       original.origin, original.textbook)
        if plant.what == "full":
            mine = Work(dict(original.cells), dict(original.origin), original.textbook)
            taken = list(released)
        else:
            taken_units = plant.what.split(":")[1].split(",")
            mine = independent_work(plant.copier, cr, released, set())
            bodies_cells = {CELL_OF[u] for u in taken_units}
            for gid in bodies_cells:
                mine.cells[gid] = original.cells[gid]
            copied = {unit for unit in UNITS if CELL_OF[unit] in bodies_cells}
            for unit in copied:
                mine.origin[unit] = original.origin[unit]
            mine.textbook = frozenset((mine.textbook - copied) | (original.textbook & copied))
            taken = sorted(bodies_cells)
        for gid in taken:
            if mine.cells[gid] != released[gid]:
                mine.cells[gid] = COPY_KINDS[plant.kind](gid, mine.cells[gid], cr)
        if plant.kind == "moved between cells":
            mine.cells = move_dead_units(mine.cells, released)
        works[plant.copier] = mine
    blanks = ["blank_1", "blank_2", "blank_3"]
    for student in blanks:
        works[student] = Work(dict(released), {u: "" for u in UNITS})
    return works, planted, blanks


def shared_units(a: Work, b: Work, textbook_too: bool = False) -> list[str]:
    """The units (TODOs) the two hand in from the same author (a copy, a copy of a copy, or the solution);
    without the units that author typed in from the textbook (a copy of those is no evidence), unless
    ``textbook_too``."""
    return [u for u in UNITS if a.origin.get(u) and a.origin.get(u) == b.origin.get(u)
            and (textbook_too or u not in (a.textbook & b.textbook))]


def positive(a: Work, b: Work) -> bool:
    """A planted pair the report must flag: the three activation classes (six methods) in common, or units
    of two or more answer cells. One other short function alone is counted apart (see below_evidence)."""
    shared = shared_units(a, b)
    return set(ACTIVATIONS) <= set(shared) or len({CELL_OF[u] for u in shared}) >= 2


def below_evidence(a: Work, b: Work) -> bool:
    """Copied, but only one short function, or only code the source typed in from the textbook: a few
    lines that independent students write the same way too."""
    return bool(shared_units(a, b, textbook_too=True)) and not positive(a, b)


def textbook_pair(a: Work, b: Work) -> bool:
    """Independent students who both typed in the textbook's code for two or more of the same TODOs."""
    return not shared_units(a, b, textbook_too=True) and len(a.textbook & b.textbook) >= 2


def write_class(folder: Path, works: dict[str, Work], release_nb, notebook: str) -> None:
    for student, work in works.items():
        nb = nbformat.from_dict(release_nb)
        for cell in nb.cells:
            gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
            if gid in work.cells:
                cell.source = work.cells[gid]
        target = folder / student / "lab2"
        target.mkdir(parents=True)
        nbformat.write(nb, target / notebook)


# --- scoring --------------------------------------------------------------------------------------------

def work_of(name: str, works: dict[str, Work]) -> Work:
    return works.get(name) or Work({}, {u: SOLUTION for u in UNITS})


def kind_of(pair_names: tuple[str, str], planted: list[Planted]) -> str | None:
    """The copy kind a positive pair is an instance of: the copier's (a copier and its source), else None."""
    by_copier = {p.copier: p for p in planted}
    for x, y in (pair_names, pair_names[::-1]):
        plant = by_copier.get(x)
        if plant and plant.source == y:
            return plant.kind if plant.what == "full" else f"partial ({plant.what.split(':')[1]}), {plant.kind}"
    return None


def evaluate(pairs: list[tuple[str, str, bool]], works: dict[str, Work], planted: list[Planted]) -> dict:
    """Counts over every compared pair (a, b, flagged): overall, per copy kind, and the textbook pairs."""
    by_copier = {p.copier: p for p in planted}
    c = {"tp": 0, "fp": 0, "fn": 0, "rewritten_tp": 0, "rewritten_fn": 0, "short": 0, "short_flagged": 0,
         "textbook": 0, "textbook_flagged": 0, "kinds": {}, "misses": [], "false": []}
    for a, b, got in pairs:
        wa, wb = work_of(a, works), work_of(b, works)
        if below_evidence(wa, wb):
            c["short"] += 1
            c["short_flagged"] += got
            continue
        truth = positive(wa, wb)
        rewritten = any(by_copier.get(x) and by_copier[x].kind in REWRITTEN for x in (a, b))
        if truth and rewritten:
            c["rewritten_tp" if got else "rewritten_fn"] += 1
        elif truth:
            c["tp" if got else "fn"] += 1
            if not got:
                c["misses"].append((a, b))
        elif got:
            c["fp"] += 1
            c["false"].append((a, b))
        if textbook_pair(wa, wb):
            c["textbook"] += 1
            c["textbook_flagged"] += got
        kind = kind_of((a, b), planted) if truth else None
        for x in (a, b):   # per kind: this copier's flagged pairs, and whether its source was found
            plant = by_copier.get(x)
            if plant is None:
                continue
            k = c["kinds"].setdefault(kind_of((plant.copier, plant.source), planted),
                                      {"found": 0, "copies": 0, "flagged": 0, "right": 0})
            if got:
                k["flagged"] += 1
                k["right"] += truth
        if kind is not None:
            k = c["kinds"].setdefault(kind, {"found": 0, "copies": 0, "flagged": 0, "right": 0})
            k["copies"] += 1
            k["found"] += got
    return c


def ratio(a: int, b: int) -> float:
    return a / b if b else 1.0


def run_seed(seed: int, students: int, keep: Path | None, config, release_nb, source_nb, notebook: str):
    released = code_answer_cells(release_nb)
    solution = {gid: without_solution_markers(src) for gid, src in code_answer_cells(source_nb).items()}
    works, planted, blanks = build_class(seed, students, released, solution)
    with tempfile.TemporaryDirectory() as scratch:
        folder = (keep / f"seed{seed}") if keep else Path(scratch) / "submitted"
        folder.mkdir(parents=True, exist_ok=True)
        write_class(folder, works, release_nb, notebook)
        started = time.perf_counter()
        result = compare_class("lab2", ROOT / "release" / "lab2" / notebook, ROOT / "source" / "lab2" / notebook,
                               folder, notebook, config.similarity, root=ROOT)
        seconds = time.perf_counter() - started
    return works, planted, blanks, result, seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, nargs="+", default=[0], help="one or more seeds (each a class)")
    parser.add_argument("--students", type=int, default=40, help="independent students (copies and blanks come on top)")
    parser.add_argument("--keep", type=Path, help="write each class under DIR/seedN and keep it")
    parser.add_argument("--verbose", action="store_true", help="every planted copy's scores")
    args = parser.parse_args()

    config = load_config(ROOT / "course.toml")
    notebook = config.assignment("lab2").notebook
    release_nb = nbformat.read(ROOT / "release" / "lab2" / notebook, as_version=4)
    source_nb = nbformat.read(ROOT / "source" / "lab2" / notebook, as_version=4)
    s = config.similarity
    totals = {"tp": 0, "fp": 0, "fn": 0, "rewritten_tp": 0, "rewritten_fn": 0, "textbook": 0, "textbook_flagged": 0,
              "short": 0, "short_flagged": 0}
    kinds: dict[str, dict] = {}
    blank_flagged = 0
    times = []
    for seed in args.seed:
        works, planted, blanks, result, seconds = run_seed(seed, args.students, args.keep, config, release_nb,
                                                           source_nb, notebook)
        times.append(seconds)
        c = evaluate([(p.a, p.b, p.flagged) for p in result.pairs], works, planted)
        for key in totals:
            totals[key] += c[key]
        for kind, k in c["kinds"].items():
            into = kinds.setdefault(kind, {"found": 0, "copies": 0, "flagged": 0, "right": 0})
            for key in into:
                into[key] += k[key]
        blank_flagged += sum(1 for p in result.flagged if p.a in blanks or p.b in blanks)
        negatives = sorted(p.score for p in result.pairs
                           if not shared_units(work_of(p.a, works), work_of(p.b, works), textbook_too=True))
        print(f"seed {seed}: {len(works)} submissions ({args.students} independent + 2 with loops, {len(planted)} "
              f"copies, {len(blanks)} blank), {len(result.pairs)} pairs in {seconds:.2f} s; precision "
              f"{ratio(c['tp'], c['tp'] + c['fp']):.3f}, recall {ratio(c['tp'], c['tp'] + c['fn']):.3f}; "
              f"textbook pairs flagged {c['textbook_flagged']}/{c['textbook']}; independent pairs' highest score "
              f"{negatives[-1]:.2f}")
        scores = {frozenset((p.a, p.b)): p for p in result.pairs}
        for a, b in c["misses"]:
            pair = scores[frozenset((a, b))]
            print(f"  missed: {a} ~ {b} ({kind_of((a, b), planted)}) score {pair.score:.2f} "
                  f"[{', '.join(f'{g} {m.share[0]:.2f}/{m.share[1]:.2f} {m.matched}' for g, m in pair.parts.items())}]")
        for a, b in c["false"]:
            pair = scores[frozenset((a, b))]
            print(f"  false flag: {a} ~ {b} score {pair.score:.2f} — {pair.reason}")
        if args.verbose:
            for plant in planted:
                pair = scores[frozenset((plant.copier, plant.source))]
                print(f"    {plant.copier:<34} {plant.source:<22} {pair.score:.2f} {'flagged' if pair.flagged else '-'}")
    print()
    print(f"{'copy kind (copier ~ source pairs)':<52} {'found':>7} {'recall':>7} {'precision':>10}")
    for kind in sorted(kinds, key=lambda k: (k.startswith("partial"), k in REWRITTEN, k)):
        k = kinds[kind]
        note = "  (reported apart: not a target)" if kind in REWRITTEN else ""
        note = "  (one short function: not counted)" if kind.startswith("partial (dropout)") else note
        print(f"{kind:<52} {k['found']:>3}/{k['copies']:<3} {ratio(k['found'], k['copies']):>7.2f} "
              f"{ratio(k['right'], k['flagged']):>10.2f}{note}")
    precision = ratio(totals["tp"], totals["tp"] + totals["fp"])
    recall = ratio(totals["tp"], totals["tp"] + totals["fn"])
    print()
    print(f"all seeds ({', '.join(map(str, args.seed))}): precision {precision:.3f}, recall {recall:.3f} "
          f"(TP {totals['tp']}, FP {totals['fp']}, FN {totals['fn']}); fully rewritten copies found "
          f"{totals['rewritten_tp']}/{totals['rewritten_tp'] + totals['rewritten_fn']}; textbook-sharing pairs "
          f"flagged {totals['textbook_flagged']}/{totals['textbook']}; one-short-function copies flagged "
          f"{totals['short_flagged']}/{totals['short']}; blank flagged {blank_flagged}")
    print(f"course.toml: threshold {s.threshold}, min_match {s.min_match}, noise {s.noise}, common_share "
          f"{s.common_share}; time per class: median {statistics.median(times):.2f} s")
    recall_ok = all(ratio(k["found"], k["copies"]) >= TARGET_RECALL for kind, k in kinds.items()
                    if kind not in REWRITTEN and not kind.startswith("partial (dropout)"))
    ok = precision >= TARGET_PRECISION and recall_ok and not totals["textbook_flagged"] and not blank_flagged
    print("targets met (recall >= 0.9 per copy kind, precision >= 0.95, no textbook pair or blank flagged)" if ok
          else "TARGETS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
