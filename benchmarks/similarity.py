"""How well the similarity report finds copied answers: precision and recall over a generated class.

The class (seeded, ``--seed``) is built from hand-written implementations of every TODO of lab2:
8 for each of MyReLU, MySigmoid and MyTanh (``__call__`` and ``derivative`` together), 8 for
Network.forward, 8 for l2_penalty and 8 for dropout_layer, correct and incorrect ones (unstable
sigmoid, missing scaling, in-place dropout, an activation on the logits ...). Each is written with
a few choices of its own (which guard first, ``.float()`` or ``.to(x.dtype)``, a temporary or
not, comments, names), as students who pick the same idea still write it their own way. An
independent student draws one implementation per TODO; some leave a TODO unfinished.

Planted copies take a classmate's (or the instructor's) answers and disguise them: renamed
variables and parameters, reordered classes, methods and guards, other comments and whitespace,
or all of these; a *partial* copy takes one answer cell only (the activations cell, or
dropout_layer) and writes the rest independently. A pair is *positive* when the two hand in the
same author's activations cell (six methods) or two or more of the same author's cells. A shared
dropout_layer alone is reported on its own line and left out of precision and recall: 5-8 lines,
most of them the range check, which independent students write nearly the same way (the table
shows how close they come). Every other pair is independent work, including pairs that happened
to pick the same implementations (counted and shown). Blank submissions (the notebook as
released) are in the class too.

The report must reach recall >= 0.9 and precision >= 0.9 at course.toml's threshold, flag no
blank submission and no independent student against the solution; the exit status is 1 when a
target is missed. A table of other thresholds is printed for context.

    python benchmarks/similarity.py [--seed 0] [--students 40] [--keep DIR]
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import itertools
import keyword
import random
import re
import sys
import tempfile
import time
import tokenize
from collections.abc import Callable
from pathlib import Path

import nbformat

from coursekit.config import load_config
from coursekit.grading.similarity import SOLUTION, Result, compare_class

ROOT = Path(__file__).resolve().parents[1]
TARGET_RECALL = 0.9
TARGET_PRECISION = 0.9


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


UNITS: dict[str, list[Callable]] = {
    "relu": [relu_where, relu_clamp, relu_mask, relu_maximum, relu_index, relu_abs, relu_max_scalar, relu_masked_fill],
    "sigmoid": [sigmoid_stable_where, sigmoid_naive, sigmoid_exp_ratio, sigmoid_tanh, sigmoid_split,
                sigmoid_logaddexp, sigmoid_clamped, sigmoid_reciprocal],
    "tanh": [tanh_stable, tanh_via_sigmoid, tanh_naive, tanh_expm1, tanh_where, tanh_builtin, tanh_clamped,
             tanh_sinh_cosh],
    "forward": [forward_loop, forward_chain, forward_index, forward_no_first_activation, forward_activation_on_logits,
                forward_list_two_steps, forward_reshape, forward_while],
    "l2": [l2_pow, l2_square_sum, l2_half_times, l2_norm, l2_dot, l2_no_half, l2_norm_not_squared, l2_loop],
    "dropout": [dropout_rand_mask, dropout_bernoulli, dropout_uniform_where, dropout_no_scaling, dropout_in_place,
                dropout_unchecked, dropout_clone_index, dropout_scale_first],
}
#: which answer cell each unit lives in
CELL_OF = {"relu": "activations", "sigmoid": "activations", "tanh": "activations", "forward": "network",
           "l2": "l2_penalty", "dropout": "dropout_layer"}


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
    """What a student hands in: answer cell source per grade_id, and where each cell came from."""

    cells: dict[str, str]
    origin: dict[str, str]      # grade_id -> who wrote it (a student, or SOLUTION); "" when blank


def independent_work(student: str, r: random.Random, released: dict[str, str], unfinished: set[str],
                     with_habits: bool = True) -> Work:
    """One implementation per TODO, drawn at random and written with the student's habits; the
    TODOs in `unfinished` stay as released."""
    style = habits(r) if with_habits else (lambda code: code)
    bodies = {}
    for unit, options in UNITS.items():
        body = None if unit in unfinished else r.choice(options)(r)
        bodies[unit] = None if body is None else (tuple(style(b) for b in body) if isinstance(body, tuple)
                                                  else style(body))
    cells, origin = {}, {}
    for gid, stub in released.items():
        flat = []
        for unit in (u for u in UNITS if CELL_OF[u] == gid):
            body = bodies[unit]
            methods = 2 if gid == "activations" else 1
            flat.extend((None,) * methods if body is None else (body if isinstance(body, tuple) else (body,)))
        spaces = 8 if gid in ("activations", "network") else 4
        cells[gid] = fill_stubs(stub, flat, spaces)
        origin[gid] = "" if all(b is None for b in flat) else student
    return Work(cells, origin)


# --- disguises of a copy ------------------------------------------------------------------------------

KEEP = set(keyword.kwlist) | {"torch", "self", "nn", "super", "len", "range", "list", "ValueError", "MyReLU",
                              "MySigmoid", "MyTanh", "Network", "l2_penalty", "dropout_layer", "__call__",
                              "derivative", "forward", "__init__", "print", "float", "int", "isinstance"}
FRESH = ["val", "inp", "tmp", "res", "acc", "buf", "arr", "vec", "cur", "node", "q", "u", "y2", "data", "xx",
         "keep_mask", "hid", "layer_fc", "act", "sig_val", "probability", "p_drop", "weights", "tensor_in"]


def rename(code: str, r: random.Random) -> str:
    """Rename every local name and parameter (not attributes, torch, self or the graded names)."""
    tokens = list(tokenize.generate_tokens(io.StringIO(code).readline))
    names = sorted({t.string for i, t in enumerate(tokens) if t.type == tokenize.NAME and t.string not in KEEP
                    and not (i > 0 and tokens[i - 1].string == ".")})
    fresh = r.sample(FRESH, len(names)) if len(names) <= len(FRESH) else [f"v{i}" for i in range(len(names))]
    mapping = dict(zip(names, fresh))
    lines = code.splitlines(keepends=True)
    for i in reversed(range(len(tokens))):
        t = tokens[i]
        if t.type == tokenize.NAME and t.string in mapping and not (i > 0 and tokens[i - 1].string == "."):
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


DISGUISES = {
    "verbatim": (),
    "renamed": ("rename",),
    "reordered": ("reorder",),
    "restyled": ("restyle",),
    "renamed+reordered+restyled": ("rename", "reorder", "restyle"),
}


def disguise(gid: str, code: str, how: tuple[str, ...], r: random.Random) -> str:
    if "reorder" in how:
        code = reorder(gid, code, r)
    if "rename" in how:
        code = rename(code, r)
    if "restyle" in how:
        code = restyle(code, r)
    return code


# --- the class ------------------------------------------------------------------------------------------

@dataclasses.dataclass
class Planted:
    copier: str
    source: str
    kind: str          # "full" or "partial:<grade_id>"
    how: str


def build_class(seed: int, n_independent: int, released: dict[str, str], solution: dict[str, str],
                with_habits: bool = True):
    """Every student's Work, the planted copies, and the blank students."""
    r = random.Random(seed)
    works: dict[str, Work] = {}
    unfinished_pool = ["dropout", "tanh", "l2", "forward", "sigmoid"]
    for i in range(n_independent):
        student = f"s{i:02d}"
        unfinished = set(r.sample(unfinished_pool, r.choice([1, 2]))) if i % 7 == 6 else set()
        works[student] = independent_work(student, random.Random(f"{seed}-{student}"), released, unfinished,
                                          with_habits)
    complete = [s for s, w in works.items() if all(w.origin.values())]
    sources = r.sample(complete, 8)
    planted: list[Planted] = []
    kinds = list(DISGUISES)
    plan = [  # (copier, source, what, disguise)
        ("c_verbatim", sources[0], "full", "verbatim"),
        ("c_renamed", sources[1], "full", "renamed"),
        ("c_reordered", sources[2], "full", "reordered"),
        ("c_restyled", sources[3], "full", "restyled"),
        ("c_all", sources[4], "full", "renamed+reordered+restyled"),
        ("c_all_2", sources[4], "full", "renamed+reordered+restyled"),  # a cluster of three
        ("c_part_act", sources[5], "partial:activations", r.choice(kinds)),
        ("c_part_act_2", sources[6], "partial:activations", "renamed+reordered+restyled"),
        ("c_part_drop", sources[7], "partial:dropout_layer", r.choice(kinds)),
        ("c_part_drop_2", sources[0], "partial:dropout_layer", "renamed+reordered+restyled"),
        ("c_solution", SOLUTION, "full", "verbatim"),
        ("c_solution_disguised", SOLUTION, "full", "renamed+reordered+restyled"),
    ]
    for copier, source, what, how in plan:
        cr = random.Random(f"{seed}-{copier}")
        if source == SOLUTION:
            original = Work(dict(solution), {gid: SOLUTION for gid in solution})
        else:
            original = works[source]
        if what == "full":
            mine = Work(dict(original.cells), dict(original.origin))
            copied = list(released)
        else:
            gid = what.split(":")[1]
            mine = independent_work(copier, cr, released, set(), with_habits)
            mine.cells[gid], mine.origin[gid] = original.cells[gid], original.origin[gid]
            copied = [gid]
        for gid in copied:
            mine.cells[gid] = disguise(gid, mine.cells[gid], DISGUISES[how], cr)
        works[copier] = mine
        planted.append(Planted(copier, source, what, how))
    blanks = ["blank_1", "blank_2", "blank_3"]
    for student in blanks:
        works[student] = Work(dict(released), {gid: "" for gid in released})
    return works, planted, blanks


def shared_cells(a: Work, b: Work) -> list[str]:
    """The answer cells the two hand in from the same author (a copy, a copy of a copy, or the solution)."""
    return [gid for gid in a.origin if a.origin[gid] and a.origin[gid] == b.origin[gid]]


def positive(a: Work, b: Work) -> bool:
    """A planted pair the report must flag: a shared activations cell (six methods), or two or more
    shared cells. A shared dropout_layer, Network.forward or l2_penalty alone is counted apart: a
    few lines that independent students write the same way too (see the module's docstring)."""
    shared = shared_cells(a, b)
    return "activations" in shared or len(shared) >= 2


def below_evidence(a: Work, b: Work) -> bool:
    """Copied, but only one short answer cell."""
    return bool(shared_cells(a, b)) and not positive(a, b)


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

def work_of(name: str, works: dict[str, Work], solution_ids: list[str]) -> Work:
    return works.get(name) or Work({}, {gid: SOLUTION for gid in solution_ids})


def evaluate(result: Result, works: dict[str, Work], threshold: float | None = None) -> dict:
    """Counts over every compared pair (the solution included) at course.toml's or another threshold."""
    gids = list(next(iter(works.values())).origin)
    counts = {"tp": 0, "fp": 0, "fn": 0, "short_copies": 0, "short_flagged": 0, "misses": [], "false": []}
    for pair in result.pairs:
        got = pair.flagged if threshold is None else pair.would_flag(threshold, result.settings.min_match)
        wa, wb = work_of(pair.a, works, gids), work_of(pair.b, works, gids)
        if below_evidence(wa, wb):
            counts["short_copies"] += 1
            counts["short_flagged"] += got
            continue
        truth = positive(wa, wb)
        counts["tp"] += truth and got
        counts["fp"] += got and not truth
        counts["fn"] += truth and not got
        if truth and not got:
            counts["misses"].append(pair)
        if got and not truth:
            counts["false"].append(pair)
    return counts


def ratio(a: int, b: int) -> float:
    return a / b if b else 1.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--students", type=int, default=40, help="independent students (copies and blanks come on top)")
    parser.add_argument("--keep", type=Path, help="write the class here and keep it (default: a temporary folder)")
    parser.add_argument("--no-habits", action="store_true",
                        help="independent students who pick the same implementation write it character for character")
    args = parser.parse_args()

    config = load_config(ROOT / "course.toml")
    notebook = config.assignment("lab2").notebook
    release_nb = nbformat.read(ROOT / "release" / "lab2" / notebook, as_version=4)
    source_nb = nbformat.read(ROOT / "source" / "lab2" / notebook, as_version=4)
    from coursekit.grading.similarity import code_answer_cells, without_solution_markers
    released = code_answer_cells(release_nb)
    solution = {gid: without_solution_markers(src) for gid, src in code_answer_cells(source_nb).items()}
    works, planted, blanks = build_class(args.seed, args.students, released, solution, not args.no_habits)

    with tempfile.TemporaryDirectory() as scratch:
        folder = args.keep or Path(scratch) / "submitted"
        folder.mkdir(parents=True, exist_ok=True)
        write_class(folder, works, release_nb, notebook)
        started = time.perf_counter()
        result = compare_class("lab2", ROOT / "release" / "lab2" / notebook, ROOT / "source" / "lab2" / notebook,
                               folder, notebook, config.similarity)
        seconds = time.perf_counter() - started

    s = config.similarity
    counts = evaluate(result, works)
    precision = ratio(counts["tp"], counts["tp"] + counts["fp"])
    recall = ratio(counts["tp"], counts["tp"] + counts["fn"])
    independent = [n for n in works if n.startswith("s")]
    same_choice = sum(1 for a, b in itertools.combinations(independent, 2) if works[a].cells == works[b].cells)
    blank_flagged = [p for p in result.flagged if p.a in blanks or p.b in blanks]
    print(f"class: {len(works)} submissions ({args.students} independent, {len(planted)} planted copies, "
          f"{len(blanks)} blank); {len(result.pairs)} pairs compared (the instructor's solution included); "
          f"seed {args.seed}; habits {'on' if not args.no_habits else 'off'}")
    print(f"independent students with identical answers in every cell (unavoidable positives): {same_choice}")
    print()
    print(f"{'threshold':>9} {'flagged':>8} {'TP':>4} {'FP':>4} {'FN':>4} {'precision':>10} {'recall':>7}")
    for t in sorted({0.7, 0.8, 0.85, 0.9, s.threshold, 1.0}):
        c = evaluate(result, works, t)
        mark = "  <- course.toml" if t == s.threshold else ""
        print(f"{t:>9.2f} {c['tp'] + c['fp']:>8} {c['tp']:>4} {c['fp']:>4} {c['fn']:>4} "
              f"{ratio(c['tp'], c['tp'] + c['fp']):>10.3f} {ratio(c['tp'], c['tp'] + c['fn']):>7.3f}{mark}")
    print()
    print("planted copies: copier, source, what was copied, disguise, the pair's score, per-cell scores")
    scores = {frozenset((p.a, p.b)): p for p in result.pairs}
    for plant in planted:
        pair = scores[frozenset((plant.copier, plant.source))]
        state = "flagged" if pair.flagged else ("not flagged (one short cell)" if plant.kind == "partial:dropout_layer"
                                                else "MISSED")
        cells = ", ".join(f"{g} {m.score:.2f}" for g, m in pair.parts.items())
        print(f"  {plant.copier:<21} {plant.source:<21} {plant.kind:<22} {plant.how:<27} {pair.score:.2f}  "
              f"{state:<8} [{cells}]")
    for pair in counts["misses"]:
        print(f"  missed pair: {pair.a} ~ {pair.b} score {pair.score:.2f}")
    for pair in counts["false"]:
        print(f"  false flag: {pair.a} ~ {pair.b} score {pair.score:.2f} "
              f"[{', '.join(f'{g} {m.score:.2f}' for g, m in pair.parts.items())}]")
    gids = list(next(iter(works.values())).origin)
    negatives = sorted(p.score for p in result.pairs
                       if not shared_cells(work_of(p.a, works, gids), work_of(p.b, works, gids)))
    print(f"independent pairs: {len(negatives)}, highest score {negatives[-1]:.2f}, "
          f"99th percentile {negatives[int(0.99 * (len(negatives) - 1))]:.2f}")
    print(f"copies of dropout_layer alone (not counted above): {counts['short_flagged']} of "
          f"{counts['short_copies']} pairs flagged")
    print(f"blank submissions: {len(result.blank)} not compared, {len(blank_flagged)} flagged")
    print()
    print(f"course.toml: threshold {s.threshold}, min_match {s.min_match}, noise {s.noise}: "
          f"precision {precision:.3f}, recall {recall:.3f}; wall time for the class {seconds:.2f} s")
    ok = precision >= TARGET_PRECISION and recall >= TARGET_RECALL and not blank_flagged
    print("targets met (precision >= 0.9, recall >= 0.9, no blank flagged)" if ok else "TARGETS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
