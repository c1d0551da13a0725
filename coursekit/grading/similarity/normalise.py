"""The normal form of answer code, on the syntax tree: what a copier can change for free is taken out.

Each submission's answer cells are parsed (one tree per cell) and rewritten together, because a
helper written in one cell may be called from another:

* **Statements that compute nothing the answer returns**: ``print(...)`` and other bare calls of
  ``print``/``display``, logging (``logging.info``, ``logger.debug``, ``warnings.warn``,
  ``sys.stdout.write``), ``assert``, ``pass``, expression statements without a call (docstrings,
  ``x.shape``), ``if False:`` / ``while False:`` blocks (``if True:`` keeps its body), everything after
  ``return``, ``raise``, ``break``, ``continue`` or an ``if`` whose branches all end in one, assignments
  to local names (or tuples of them) the function never reads, functions defined inside a function that
  it never calls, and functions or classes of the student's that nothing calls. A block left empty goes
  (an emptied ``if`` with an ``else`` is ``if not``; an emptied ``try`` leaves its ``finally``).
* **Helpers**: a function or method of the student's (not one the released skeleton defines) whose
  body is straight-line code ending in ``return EXPR`` is inlined where it is called, so pulling code
  out into a helper, or inlining one, leaves the same tree.
* **Equivalent spellings**: ``x += e`` is ``x = x + e``; ``torch.f(x, ...)`` is ``x.f(...)`` for the
  functions that are also tensor methods; ``x.mul(y)``, ``x.pow(2)``, ``x.gt(0)`` ... are the operators;
  ``x * x`` (unless x draws random numbers), ``x.square()``, ``x.pow(2)``, ``pow(x, 2)`` and
  ``math.pow(x, 2)`` are ``x ** 2``; ``a > b`` is ``b < a``; the dtype casts
  (``.float()``, ``.to(x.dtype)``, ``.type_as(x)`` ...) are one cast; ``torch.rand(x.shape)`` is
  ``torch.rand_like(x)``; a temporary assigned and read once in the next statement is substituted;
  ``acc = []`` + ``for``/``append`` is a list comprehension, an accumulating ``for`` loop is
  ``sum(...)``, a counting ``while`` loop is a ``for`` loop over ``range`` and a loop over
  ``range(len(seq))`` that only reads ``seq[i]`` is a loop over ``seq``.

Operand order of commutative operators and numeric literal forms are left to the tokeniser
(``tokens.py``), which writes them in one canonical order. Every statement keeps where it came
from (``_spans``: cell, first and last line), so matches can be shown on the student's own lines.
"""

from __future__ import annotations

import ast
import copy
from collections.abc import Iterable

#: Statements that are calls of these names are output, not computation.
OUTPUT_CALLS = frozenset({"print", "display", "pprint"})
#: Modules whose calls, as statements, only report: ``logging.info(...)``, ``warnings.warn(...)``.
REPORTING_MODULES = frozenset({"logging", "warnings"})
#: Methods of a logger (any name with "log" in it: ``logger``, ``log``, ``self.logger``).
LOG_METHODS = frozenset({"debug", "info", "warning", "warn", "error", "critical", "exception", "log"})
#: Calls whose result differs from one call to the next: ``f(x) * f(x)`` is not ``f(x) ** 2`` for these.
RANDOM_CALLS = frozenset({"rand", "randn", "randint", "rand_like", "randn_like", "randint_like", "bernoulli",
                          "multinomial", "normal", "uniform_", "normal_", "bernoulli_", "random", "dropout"})

#: torch functions that are also tensor methods with the tensor first: ``torch.f(x, *a)`` is ``x.f(*a)``.
TENSOR_METHODS = frozenset("""
abs absolute acos add addmm all amax amin any argmax argmin asin atan bmm ceil clamp clamp_max clamp_min clip
cos cosh cumprod cumsum detach diag div divide dot eq erf exp expm1 flatten floor fmod ge gt heaviside isnan
le lerp log log10 log1p log2 logical_and logical_not logical_or logsumexp lt masked_fill matmul max maximum mean
median min minimum mm mul multiply mv ne neg negative norm numel permute pow prod reciprocal relu reshape round
rsqrt sigmoid sign sin sinh softmax sqrt square squeeze std sub subtract sum t tanh transpose true_divide trunc
unsqueeze var view xlogy
""".split())

#: Tensor methods that are a binary operator.
BINARY_METHODS = {"add": ast.Add, "sub": ast.Sub, "subtract": ast.Sub, "mul": ast.Mult, "multiply": ast.Mult,
                  "div": ast.Div, "divide": ast.Div, "true_divide": ast.Div, "matmul": ast.MatMult,
                  "pow": ast.Pow}
COMPARE_METHODS = {"gt": ast.Gt, "lt": ast.Lt, "ge": ast.GtE, "le": ast.LtE, "eq": ast.Eq, "ne": ast.NotEq}
CASTS = frozenset({"float", "double", "half", "type_as", "to", "type"})
LIKE = frozenset({"rand", "randn", "zeros", "ones", "empty"})


def spans_of(node: ast.AST) -> list:
    return list(getattr(node, "_spans", ()))


def tag(tree: ast.AST, cell: str) -> ast.AST:
    """Give every statement of a cell's tree its origin: (cell, first line, last line)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.stmt):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.If, ast.For,
                                 ast.While, ast.With, ast.Try)):
                first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", ())])
                body = node.body[0].lineno if getattr(node, "body", None) else node.lineno
                node._spans = [(cell, first, max(first, body - 1))]
            else:
                node._spans = [(cell, node.lineno, node.end_lineno or node.lineno)]
    return tree


def _name(node) -> str | None:
    return node.id if isinstance(node, ast.Name) else None


def _is_const(node, *values) -> bool:
    """A number literal equal to one of ``values`` (True and False are not numbers here)."""
    return isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) \
        and not isinstance(node.value, bool) and node.value in values


def _loads(nodes: Iterable[ast.AST]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for root in nodes:
        for node in ast.walk(root):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                counts[node.id] = counts.get(node.id, 0) + 1
    return counts


def _stores(root: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(root) if isinstance(n, ast.Name) and isinstance(n.ctx, (ast.Store, ast.Del))}


def _has(root: ast.AST, kinds) -> bool:
    return any(isinstance(n, kinds) for n in ast.walk(root))


# --- statements that compute nothing ------------------------------------------------------------------

def _receiver(node: ast.expr) -> str:
    """The last name of ``a.b.c``: ``c``; of ``a``: ``a``."""
    if isinstance(node, ast.Attribute):
        return node.attr
    return _name(node) or ""


def _reporting(call: ast.Call) -> bool:
    """Output or logging: ``print(...)``, ``logging.info(...)``, ``logger.debug(...)``, ``sys.stdout.write(...)``."""
    func = call.func
    if _name(func) in OUTPUT_CALLS:
        return True
    if not isinstance(func, ast.Attribute):
        return False
    owner = _receiver(func.value)
    if owner in REPORTING_MODULES:
        return True
    if func.attr in LOG_METHODS and "log" in owner.lower():
        return True
    return func.attr == "write" and owner in ("stdout", "stderr")


def _without_effect(node: ast.expr) -> bool:
    """An expression whose value is all it does: no call, await, yield or assignment inside."""
    return not _has(node, (ast.Call, ast.Await, ast.Yield, ast.YieldFrom, ast.NamedExpr))


def _noise(stmt: ast.stmt) -> bool:
    """Output, asserts, ``pass``, and expression statements that compute a value nothing keeps."""
    if isinstance(stmt, (ast.Assert, ast.Pass)):
        return True
    if isinstance(stmt, ast.Expr):
        value = stmt.value
        if isinstance(value, ast.Call) and _reporting(value):
            return True
        return _without_effect(value)
    return False


_EXITS = (ast.Return, ast.Raise, ast.Break, ast.Continue)


def _exits(stmt: ast.stmt) -> bool:
    """The statement never lets the block go on: a return, raise, break or continue, or an ``if`` whose
    branches all end in one."""
    if isinstance(stmt, _EXITS):
        return True
    return isinstance(stmt, ast.If) and bool(stmt.body) and bool(stmt.orelse) \
        and _exits(stmt.body[-1]) and _exits(stmt.orelse[-1])


def _truth(test: ast.expr) -> bool | None:
    """The truth of a constant condition (``if False:``, ``while 0:``), None when it is not constant."""
    return bool(test.value) if isinstance(test, ast.Constant) else None


def clean_block(body: list[ast.stmt]) -> list[ast.stmt]:
    """A block without output, asserts, passes, constant-condition branches and unreachable code."""
    out: list[ast.stmt] = []
    for stmt in body:
        if _noise(stmt):
            continue
        if isinstance(stmt, ast.If):
            truth = _truth(stmt.test)
            if truth is not None:
                out.extend(clean_block(stmt.body if truth else stmt.orelse))
                if out and _exits(out[-1]):
                    break
                continue
        if isinstance(stmt, ast.While) and _truth(stmt.test) is False:
            out.extend(clean_block(stmt.orelse))
            continue
        for field in ("body", "orelse", "finalbody"):
            block = getattr(stmt, field, None)
            if isinstance(block, list) and block and isinstance(block[0], ast.stmt):
                setattr(stmt, field, clean_block(block))
        if isinstance(stmt, ast.Try):
            for handler in stmt.handlers:
                handler.body = clean_block(handler.body)
        if isinstance(stmt, ast.If) and not stmt.body:
            if not stmt.orelse:
                continue
            # ``if c: print(...)`` / ``else: B`` is ``if not c: B``
            stmt = _merge(ast.If(ast.UnaryOp(ast.Not(), stmt.test), stmt.orelse, []), stmt)
        if isinstance(stmt, (ast.For, ast.While, ast.With)) and not stmt.body:
            continue
        if isinstance(stmt, ast.Try) and not stmt.body:
            # the handlers and ``else`` never run without a body; ``finally`` does
            out.extend(stmt.finalbody)
            continue
        out.append(stmt)
        if _exits(stmt):
            break
    return out


def _functions(body: list[ast.stmt]) -> list[ast.FunctionDef]:
    return [s for s in body if isinstance(s, ast.FunctionDef)]


def _unread(target: ast.expr, read: set[str]) -> bool:
    """An assignment target that is a plain name (or a tuple of them) nothing reads."""
    if isinstance(target, (ast.Tuple, ast.List)):
        return all(_unread(e, read) for e in target.elts)
    if isinstance(target, ast.Starred):
        return _unread(target.value, read)
    return isinstance(target, ast.Name) and target.id not in read


def drop_dead_stores(func: ast.FunctionDef) -> None:
    """Assignments to a plain local name that the function never reads, repeated until none is left."""
    for _ in range(4):
        reads = set(_loads(func.body))
        nonlocal_names = {n for s in ast.walk(func) if isinstance(s, (ast.Global, ast.Nonlocal)) for n in s.names}
        changed = False

        def prune(block: list[ast.stmt]) -> list[ast.stmt]:
            nonlocal changed
            out = []
            for stmt in block:
                if isinstance(stmt, ast.Assign) and all(_unread(t, reads | nonlocal_names) for t in stmt.targets):
                    changed = True
                    continue
                if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) \
                        and stmt.name not in reads and stmt.name not in nonlocal_names:
                    changed = True   # a function defined inside this one that it never calls
                    continue
                for field in ("body", "orelse", "finalbody"):
                    inner = getattr(stmt, field, None)
                    if isinstance(inner, list) and inner and isinstance(inner[0], ast.stmt) \
                            and not isinstance(stmt, (ast.FunctionDef, ast.ClassDef)):
                        setattr(stmt, field, prune(inner) or [ast.Pass()])
                out.append(stmt)
            return out

        func.body = prune(func.body) or [ast.Pass()]
        func.body = [s for s in func.body if not isinstance(s, ast.Pass)] or func.body
        if not changed:
            return


# --- helpers: inlined where they are called -----------------------------------------------------------

class _Substitute(ast.NodeTransformer):
    def __init__(self, values: dict[str, ast.expr]):
        self.values = values

    def visit_Name(self, node: ast.Name):
        if isinstance(node.ctx, ast.Load) and node.id in self.values:
            return copy.deepcopy(self.values[node.id])
        return node


def _inlinable(func: ast.FunctionDef) -> bool:
    body = func.body
    if not body or not isinstance(body[-1], ast.Return) or body[-1].value is None:
        return False
    if func.args.vararg or func.args.kwarg or func.args.kwonlyargs or func.decorator_list:
        return False
    prefix = body[:-1]
    return not any(_has(s, (ast.Return, ast.Yield, ast.YieldFrom, ast.FunctionDef, ast.ClassDef, ast.Lambda))
                   for s in prefix) and not _has(body[-1], (ast.Yield, ast.YieldFrom, ast.Lambda))


class _Inline(ast.NodeTransformer):
    """Replace calls of helpers by their returned expression; the statements before it are collected."""

    def __init__(self, helpers: dict[str, ast.FunctionDef], methods: dict[str, ast.FunctionDef]):
        self.helpers, self.methods = helpers, methods
        self.before: list[ast.stmt] = []
        self.spans: list = []
        self.used: set[str] = set()

    def visit_Call(self, node: ast.Call):
        self.generic_visit(node)
        func = None
        if isinstance(node.func, ast.Name) and node.func.id in self.helpers:
            func, key, args = self.helpers[node.func.id], node.func.id, node.args
            params = [a.arg for a in func.args.posonlyargs + func.args.args]
        elif (isinstance(node.func, ast.Attribute) and _name(node.func.value) == "self"
              and node.func.attr in self.methods):
            func, key, args = self.methods[node.func.attr], "self." + node.func.attr, node.args
            params = [a.arg for a in func.args.posonlyargs + func.args.args][1:]
        if func is None or any(isinstance(a, ast.Starred) for a in args):
            return node
        values = dict(zip(params, args))
        for kw in node.keywords:
            if kw.arg is None:
                return node
            values[kw.arg] = kw.value
        defaults = func.args.defaults
        for name, default in zip(params[len(params) - len(defaults):], defaults):
            values.setdefault(name, default)
        if set(params) - set(values):
            return node
        self.used.add(key)
        body = copy.deepcopy(func.body)
        substitute = _Substitute(values)
        for stmt in body[:-1]:
            self.before.append(substitute.visit(stmt))
        self.spans.extend(spans_of(body[-1]))
        return substitute.visit(body[-1].value)


def _inline_block(block: list[ast.stmt], inliner: _Inline) -> list[ast.stmt]:
    out = []
    for stmt in block:
        if isinstance(stmt, (ast.FunctionDef, ast.ClassDef)):
            stmt.body = _inline_block(stmt.body, inliner)
            out.append(stmt)
            continue
        for field in ("body", "orelse", "finalbody"):
            inner = getattr(stmt, field, None)
            if isinstance(inner, list) and inner and isinstance(inner[0], ast.stmt):
                setattr(stmt, field, _inline_block(inner, inliner))
        inliner.before, inliner.spans = [], []
        # only the statement's own expressions, not its nested blocks (already done)
        for field, value in ast.iter_fields(stmt):
            if isinstance(value, ast.expr):
                setattr(stmt, field, inliner.visit(value))
            elif isinstance(value, list) and value and isinstance(value[0], ast.expr):
                setattr(stmt, field, [inliner.visit(v) for v in value])
        out.extend(inliner.before)
        if inliner.spans:
            stmt._spans = spans_of(stmt) + inliner.spans
        out.append(stmt)
    return out


def inline_helpers(trees: list[ast.Module], protected: set[str]) -> None:
    """Inline the student's small helpers (module functions and methods) and drop what is left unused."""
    for _ in range(3):
        helpers = {f.name: f for t in trees for f in _functions(t.body) if f.name not in protected and _inlinable(f)}
        methods = {f.name: f for t in trees for c in t.body if isinstance(c, ast.ClassDef)
                   for f in _functions(c.body) if f.name not in protected and _inlinable(f)}
        if not helpers and not methods:
            break
        inliner = _Inline(helpers, methods)
        for tree in trees:
            tree.body = _inline_block(tree.body, inliner)
        if not inliner.used:
            break
    drop_unused(trees, protected)


def drop_unused(trees: list[ast.Module], protected: set[str]) -> None:
    """Functions, methods and classes of the student's that nothing in the submission refers to."""
    for _ in range(3):
        referred = set()
        for tree in trees:
            for node in ast.walk(tree):
                if isinstance(node, ast.Name):
                    referred.add(node.id)
                elif isinstance(node, ast.Attribute):
                    referred.add(node.attr)
        changed = False
        for tree in trees:
            def keep(stmt) -> bool:
                nonlocal changed
                defined = isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                if defined and stmt.name not in protected and stmt.name not in referred \
                        and not (stmt.name.startswith("__") and stmt.name.endswith("__")):
                    changed = True
                    return False
                return True
            tree.body = [s for s in tree.body if keep(s)]
            for cls in tree.body:
                if isinstance(cls, ast.ClassDef):
                    cls.body = [s for s in cls.body if keep(s)] or [ast.Pass()]
        if not changed:
            return


# --- expressions ---------------------------------------------------------------------------------------

def _same(a: ast.AST, b: ast.AST) -> bool:
    return ast.dump(a) == ast.dump(b)


def _shape_of(node: ast.expr) -> ast.expr | None:
    """x for ``x.shape``, ``x.size()`` or ``*x.shape``."""
    if isinstance(node, ast.Starred):
        node = node.value
    if isinstance(node, ast.Attribute) and node.attr == "shape":
        return node.value
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "size" \
            and not node.args and not node.keywords:
        return node.func.value
    return None


def _random(node: ast.expr) -> bool:
    """The expression draws random numbers (two of them are not one squared)."""
    return any(isinstance(n, ast.Call) and _receiver(n.func) in RANDOM_CALLS for n in ast.walk(node))


class Canonical(ast.NodeTransformer):
    """Equivalent expressions written one way (bottom-up)."""

    def visit_AugAssign(self, node: ast.AugAssign):
        self.generic_visit(node)
        target_load = copy.deepcopy(node.target)
        for sub in ast.walk(target_load):
            if hasattr(sub, "ctx"):
                sub.ctx = ast.Load()
        new = ast.Assign(targets=[node.target], value=self.visit(ast.BinOp(target_load, node.op, node.value)))
        new._spans = spans_of(node)
        return new

    def visit_AnnAssign(self, node: ast.AnnAssign):
        self.generic_visit(node)
        if node.value is None:
            return node
        new = ast.Assign(targets=[node.target], value=node.value)
        new._spans = spans_of(node)
        return new

    def visit_Call(self, node: ast.Call):
        self.generic_visit(node)
        func = node.func
        if (_name(func) == "pow" or (isinstance(func, ast.Attribute) and func.attr == "pow"
                                     and _name(func.value) == "math")) \
                and len(node.args) == 2 and not node.keywords:
            return self.visit_BinOp(ast.BinOp(node.args[0], ast.Pow(), node.args[1]))
        if isinstance(func, ast.Attribute) and _name(func.value) == "torch":
            if func.attr in LIKE and node.args:
                of = _shape_of(node.args[0]) if len(node.args) == 1 else None
                if of is not None:
                    kws = [k for k in node.keywords if not (k.arg in ("device", "dtype") and isinstance(k.value, ast.Attribute)
                                                             and _same(k.value.value, of))]
                    return ast.Call(ast.Attribute(ast.Name("torch", ast.Load()), func.attr + "_like", ast.Load()),
                                    [of], kws)
            if func.attr.endswith("_like") and func.attr[:-5] in LIKE and node.args:
                of = node.args[0]
                node.keywords = [k for k in node.keywords if not (k.arg in ("device", "dtype")
                                 and isinstance(k.value, ast.Attribute) and _same(k.value.value, of))]
                return node
            if func.attr in TENSOR_METHODS and node.args and not isinstance(node.args[0], ast.Starred):
                node = ast.Call(ast.Attribute(node.args[0], func.attr, ast.Load()), node.args[1:], node.keywords)
                func = node.func
        if isinstance(func, ast.Attribute):
            name, args = func.attr, node.args
            if name in BINARY_METHODS and len(args) == 1 and not node.keywords:
                return self.visit_BinOp(ast.BinOp(func.value, BINARY_METHODS[name](), args[0]))
            if name in COMPARE_METHODS and len(args) == 1 and not node.keywords:
                return self.visit_Compare(ast.Compare(func.value, [COMPARE_METHODS[name]()], [args[0]]))
            if name == "square" and not args and not node.keywords:
                return ast.BinOp(func.value, ast.Pow(), ast.Constant(2))
            if name in ("neg", "negative") and not args and not node.keywords:
                return ast.UnaryOp(ast.USub(), func.value)
            if name in CASTS and (name not in ("to", "type") or self._dtype_arg(node)):
                return ast.Call(ast.Attribute(func.value, "cast", ast.Load()), [], [])
            if name in ("reshape", "view") and args and all(_is_const(a, -1) or isinstance(a, ast.UnaryOp) for a in args):
                node.func = ast.Attribute(func.value, "flatten", ast.Load())
                node.args = []
        return node

    @staticmethod
    def _dtype_arg(node: ast.Call) -> bool:
        """``.to(x.dtype)``, ``.to(dtype=...)``, ``.type(x.dtype)``, ``.to(torch.float32)``: a cast, not a move."""
        values = list(node.args) + [k.value for k in node.keywords if k.arg == "dtype"]
        if any(k.arg not in ("dtype",) for k in node.keywords):
            return False
        return bool(values) and all(
            isinstance(v, ast.Attribute) and (v.attr == "dtype" or _name(v.value) == "torch") for v in values)

    def visit_BinOp(self, node: ast.BinOp):
        self.generic_visit(node)
        if isinstance(node.op, ast.Mult) and _same(node.left, node.right) and not _random(node.left):
            return ast.BinOp(node.left, ast.Pow(), ast.Constant(2))
        return node

    def visit_Compare(self, node: ast.Compare):
        self.generic_visit(node)
        if len(node.ops) == 1 and isinstance(node.ops[0], (ast.Gt, ast.GtE)):
            op = ast.Lt() if isinstance(node.ops[0], ast.Gt) else ast.LtE()
            return ast.Compare(node.comparators[0], [op], [node.left])
        return node

    def visit_UnaryOp(self, node: ast.UnaryOp):
        self.generic_visit(node)
        if isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant) \
                and isinstance(node.operand.value, (int, float)) and not isinstance(node.operand.value, bool):
            return ast.Constant(-node.operand.value)
        if isinstance(node.op, ast.UAdd):
            return node.operand
        return node


# --- blocks: temporaries and loops ---------------------------------------------------------------------

def _zero(node: ast.expr) -> bool:
    if _is_const(node, 0):
        return True
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and _name(node.func.value) == "torch" \
            and node.func.attr in ("zeros", "tensor", "zeros_like") and node.args:
        return node.func.attr != "tensor" or _is_const(node.args[0], 0)
    return False


def _merge(new: ast.stmt, *old: ast.stmt) -> ast.stmt:
    new._spans = [s for o in old for s in spans_of(o)]
    return new


def _loop_to_expression(block: list[ast.stmt], i: int) -> ast.stmt | None:
    """``acc = []; for t in it: acc.append(e)`` and ``acc = 0; for t in it: acc = acc + e`` as one assignment."""
    first, loop = block[i], block[i + 1]
    if not (isinstance(first, ast.Assign) and len(first.targets) == 1 and isinstance(first.targets[0], ast.Name)
            and isinstance(loop, ast.For) and not loop.orelse and len(loop.body) == 1):
        return None
    acc = first.targets[0].id
    inner, conditions = loop.body[0], []
    while isinstance(inner, ast.If) and not inner.orelse and len(inner.body) == 1:
        conditions.append(inner.test)
        inner = inner.body[0]
    generator = ast.comprehension(target=loop.target, iter=loop.iter, ifs=conditions, is_async=0)
    if (isinstance(first.value, ast.List) and not first.value.elts and isinstance(inner, ast.Expr)
            and isinstance(inner.value, ast.Call) and isinstance(inner.value.func, ast.Attribute)
            and inner.value.func.attr == "append" and _name(inner.value.func.value) == acc
            and len(inner.value.args) == 1 and acc not in _loads([inner.value.args[0]])):
        return _merge(ast.Assign([first.targets[0]], ast.ListComp(inner.value.args[0], [generator])), first, loop)
    if (isinstance(inner, ast.Assign) and len(inner.targets) == 1 and _name(inner.targets[0]) == acc
            and isinstance(inner.value, ast.BinOp) and isinstance(inner.value.op, ast.Add)):
        left, right = inner.value.left, inner.value.right
        term = right if _name(left) == acc else left if _name(right) == acc else None
        if term is not None and acc not in _loads([term]):
            total = ast.Call(ast.Name("sum", ast.Load()), [ast.GeneratorExp(term, [generator])], [])
            value = total if _zero(first.value) else ast.BinOp(first.value, ast.Add(), total)
            return _merge(ast.Assign([first.targets[0]], value), first, loop)
    return None


def _while_to_for(block: list[ast.stmt], i: int) -> ast.stmt | None:
    """``k = 0; while k < n: ...; k = k + 1`` as ``for k in range(n): ...``."""
    first, loop = block[i], block[i + 1]
    if not (isinstance(first, ast.Assign) and len(first.targets) == 1 and isinstance(first.targets[0], ast.Name)
            and _is_const(first.value, 0) and isinstance(loop, ast.While) and not loop.orelse and loop.body):
        return None
    k = first.targets[0].id
    test, last = loop.test, loop.body[-1]
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Lt)
            and _name(test.left) == k and isinstance(last, ast.Assign) and _name(last.targets[0]) == k
            and isinstance(last.value, ast.BinOp) and isinstance(last.value.op, ast.Add)
            and _name(last.value.left) == k and _is_const(last.value.right, 1)):
        return None
    body = loop.body[:-1]
    if any(k in _stores(s) for s in body) or not body:
        return None
    new = ast.For(target=ast.Name(k, ast.Store()), iter=ast.Call(ast.Name("range", ast.Load()), [test.comparators[0]], []),
                  body=body, orelse=[])
    return _merge(new, first, loop)


def _index_to_element(loop: ast.For) -> None:
    """``for i in range(len(seq)): ... seq[i] ...`` as ``for i in seq: ... i ...`` when i is read only as seq[i]."""
    it = loop.iter
    if not (isinstance(loop.target, ast.Name) and isinstance(it, ast.Call) and _name(it.func) == "range"
            and len(it.args) == 1 and isinstance(it.args[0], ast.Call) and _name(it.args[0].func) == "len"
            and len(it.args[0].args) == 1):
        return
    i, seq = loop.target.id, it.args[0].args[0]
    indexed = 0
    for node in ast.walk(ast.Module(body=loop.body, type_ignores=[])):
        if isinstance(node, ast.Subscript) and _same(node.value, seq) and _name(node.slice) == i:
            indexed += 1
    if indexed == 0 or indexed != _loads(loop.body).get(i, 0) or any(i in _stores(s) for s in loop.body):
        return

    class Swap(ast.NodeTransformer):
        def visit_Subscript(self, node):
            self.generic_visit(node)
            if _same(node.value, seq) and _name(node.slice) == i:
                return ast.Name(i, ast.Load())
            return node
    loop.body = [Swap().visit(s) for s in loop.body]
    loop.iter = seq


def _single_use_next(name: str, stmt: ast.stmt) -> bool:
    return isinstance(stmt, (ast.Return, ast.Assign, ast.Expr)) and _loads([stmt]).get(name, 0) == 1 \
        and not _has(stmt, (ast.Lambda, ast.ListComp, ast.GeneratorExp, ast.SetComp, ast.DictComp))


def tidy_block(block: list[ast.stmt], in_function: bool) -> list[ast.stmt]:
    """Loops as expressions and temporaries substituted, inner blocks first."""
    for stmt in block:
        for field in ("body", "orelse", "finalbody"):
            inner = getattr(stmt, field, None)
            if isinstance(inner, list) and inner and isinstance(inner[0], ast.stmt):
                setattr(stmt, field, tidy_block(inner, in_function or isinstance(stmt, ast.FunctionDef)))
        if isinstance(stmt, ast.For):
            _index_to_element(stmt)
    out = list(block)
    changed = True
    while changed:
        changed = False
        for i in range(len(out) - 1):
            new = _loop_to_expression(out, i) or _while_to_for(out, i)
            if new is not None:
                if isinstance(new, ast.For):
                    _index_to_element(new)
                out[i:i + 2] = [new]
                changed = True
                break
            first, nxt = out[i], out[i + 1]
            if in_function and isinstance(first, ast.Assign) and len(first.targets) == 1 \
                    and isinstance(first.targets[0], ast.Name):
                name = first.targets[0].id
                later = _loads(out[i + 2:]).get(name, 0)
                if later == 0 and _single_use_next(name, nxt) and name not in _stores(nxt) \
                        and name not in _loads([first.value]):
                    substituted = _Substitute({name: first.value}).visit(nxt)
                    out[i:i + 2] = [_merge(substituted, first, nxt)]
                    changed = True
                    break
    return out


# --- all together ---------------------------------------------------------------------------------------

def _each_function(tree: ast.Module):
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node


def normalise(trees: list[ast.Module], protected: set[str]) -> list[ast.Module]:
    """Rewrite one submission's cell trees (tagged with ``tag``) into their normal form, in place."""
    for tree in trees:
        tree.body = clean_block(tree.body)
        for func in _each_function(tree):
            func.body = clean_block(func.body) or [ast.Pass()]
    for tree in trees:
        Canonical().visit(tree)
    inline_helpers(trees, protected)
    for tree in trees:
        for func in _each_function(tree):
            drop_dead_stores(func)
        tree.body = tidy_block(tree.body, False)
        Canonical().visit(tree)
    return trees
