"""Tokens of normalised code, and their fingerprints (k-grams).

The normal form (``normalise.py``) is written out as a list of tokens: a local name (variable or
parameter) is ``V``, a function of the student's that was kept is ``F``; builtins, imported modules,
``self``, attributes (``.exp``, ``.layers``) and the names the released skeleton defines are kept as
they are; every string is ``S`` and every number is written as a float (``1`` and ``1.0`` alike).
Operands of ``+``, ``*``, ``==``, ``!=``, ``and`` and ``or`` and keyword arguments are written in a
canonical order. Each token remembers the statement it came from, so a match can be shown on the
student's own lines.

A cell that is not valid Python (unfinished code) is tokenised by copydetect's lexer (pygments)
instead: the same name, string and number rules, without the syntax tree's rewrites.

A fingerprint is a k-gram: the tokens from one token up to the first at which ``noise``
characters of normalised code are reached. Every k-gram is kept (no winnowing), so the result does
not depend on hashing order. Grams never cross from one cell into another, nor into or out of a
function or class, so reordered methods and classes leave every gram as it was.
"""

from __future__ import annotations

import ast
import builtins
from dataclasses import dataclass, field

import numpy as np

from coursekit.config import require_extra
from coursekit.grading.similarity.normalise import spans_of

#: What needs copydetect (the extra coursekit[similarity]), in the message when it is missing.
PURPOSE = "the similarity report (`coursekit similarity`)"

KEEP = frozenset(dir(builtins)) | {"self", "cls", "torch", "nn", "F", "np", "math", "functools"}

_BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%",
           ast.Pow: "**", ast.MatMult: "@", ast.BitAnd: "&", ast.BitOr: "|", ast.BitXor: "^",
           ast.LShift: "<<", ast.RShift: ">>"}
_COMMUTATIVE = (ast.Add, ast.Mult, ast.BitAnd, ast.BitOr, ast.BitXor)
_CMPOPS = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=",
           ast.Is: "is", ast.IsNot: "is not", ast.In: "in", ast.NotIn: "not in"}
_UNARY = {ast.USub: "-", ast.UAdd: "+", ast.Not: "not", ast.Invert: "~"}


def number(value) -> str:
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, (int, float)):
        try:
            return repr(float(value))
        except OverflowError:
            return "INT"
    return repr(value)


class Writer:
    """Tokens of expressions (a pure function of the tree) and of statements (with their origin)."""

    def __init__(self, keep: frozenset[str], functions: frozenset[str]):
        self.keep, self.functions = keep, functions
        self.tokens: list[str] = []
        self.origin: list[int] = []
        self.origins: list[list] = []
        self.breaks: list[int] = []   # token indices where a function or class begins or ends

    # expressions
    def expr(self, node) -> list[str]:
        method = getattr(self, "e_" + type(node).__name__, None)
        if method is None:
            return [type(node).__name__]
        return method(node)

    def operand(self, node) -> list[str]:
        tokens = self.expr(node)
        if isinstance(node, (ast.BinOp, ast.BoolOp, ast.Compare, ast.IfExp, ast.UnaryOp, ast.Lambda, ast.NamedExpr)):
            return ["(", *tokens, ")"]
        return tokens

    def joined(self, parts: list[list[str]], sep: str, ordered: bool = False) -> list[str]:
        if ordered:
            parts = sorted(parts, key=" ".join)
        out: list[str] = []
        for i, part in enumerate(parts):
            if i:
                out.append(sep)
            out.extend(part)
        return out

    def e_Name(self, node):
        if node.id in self.keep:
            return [node.id]
        return ["F" if node.id in self.functions else "V"]

    def e_Constant(self, node):
        if isinstance(node.value, (str, bytes)):
            return ["S"]
        if node.value is Ellipsis:
            return ["..."]
        return [number(node.value)]

    def e_JoinedStr(self, node):
        return ["S"]

    def e_Attribute(self, node):
        return [*self.operand(node.value), "." + node.attr]

    def _chain(self, node, op) -> list:
        if isinstance(node, ast.BinOp) and isinstance(node.op, op):
            return self._chain(node.left, op) + self._chain(node.right, op)
        return [node]

    def e_BinOp(self, node):
        symbol = _BINOPS.get(type(node.op), "?")
        if isinstance(node.op, _COMMUTATIVE):
            items = self._chain(node, type(node.op))
            return self.joined([self.operand(i) for i in items], symbol, ordered=True)
        return [*self.operand(node.left), symbol, *self.operand(node.right)]

    def e_BoolOp(self, node):
        return self.joined([self.operand(v) for v in node.values], "and" if isinstance(node.op, ast.And) else "or",
                           ordered=True)

    def e_UnaryOp(self, node):
        return [_UNARY[type(node.op)], *self.operand(node.operand)]

    def e_Compare(self, node):
        if len(node.ops) == 1 and isinstance(node.ops[0], (ast.Eq, ast.NotEq)):
            return self.joined([self.operand(node.left), self.operand(node.comparators[0])],
                               _CMPOPS[type(node.ops[0])], ordered=True)
        out = self.operand(node.left)
        for op, right in zip(node.ops, node.comparators):
            out += [_CMPOPS[type(op)], *self.operand(right)]
        return out

    def e_Call(self, node):
        args = [self.expr(a) for a in node.args]
        kwargs = sorted([[f"{k.arg}=" if k.arg else "**", *self.expr(k.value)] for k in node.keywords], key=" ".join)
        return [*self.operand(node.func), "(", *self.joined(args + kwargs, ","), ")"]

    def e_Starred(self, node):
        return ["*", *self.expr(node.value)]

    def e_Subscript(self, node):
        return [*self.operand(node.value), "[", *self.expr(node.slice), "]"]

    def e_Slice(self, node):
        out = self.expr(node.lower) if node.lower else []
        out += [":"] + (self.expr(node.upper) if node.upper else [])
        if node.step:
            out += [":"] + self.expr(node.step)
        return out

    def e_Tuple(self, node):
        return ["(", *self.joined([self.expr(e) for e in node.elts], ","), ",)"]

    def e_List(self, node):
        return ["[", *self.joined([self.expr(e) for e in node.elts], ","), "]"]

    def e_Set(self, node):
        return ["{", *self.joined([self.expr(e) for e in node.elts], ",", ordered=True), "}"]

    def e_Dict(self, node):
        items = [[*(self.expr(k) if k is not None else ["**"]), ":", *self.expr(v)]
                 for k, v in zip(node.keys, node.values)]
        return ["{", *self.joined(items, ","), "}"]

    def e_IfExp(self, node):
        return [*self.operand(node.body), "if", *self.operand(node.test), "else", *self.operand(node.orelse)]

    def e_Lambda(self, node):
        return ["lambda", *self.joined([["V"] for _ in node.args.args], ","), ":", *self.expr(node.body)]

    def e_NamedExpr(self, node):
        return [*self.expr(node.target), ":=", *self.expr(node.value)]

    def _generators(self, generators):
        out = []
        for g in generators:
            out += ["for", *self.expr(g.target), "in", *self.operand(g.iter)]
            for condition in g.ifs:
                out += ["if", *self.operand(condition)]
        return out

    def e_ListComp(self, node):
        return ["[", *self.expr(node.elt), *self._generators(node.generators), "]"]

    def e_GeneratorExp(self, node):
        return ["(", *self.expr(node.elt), *self._generators(node.generators), ")"]

    def e_SetComp(self, node):
        return ["{", *self.expr(node.elt), *self._generators(node.generators), "}"]

    def e_DictComp(self, node):
        return ["{", *self.expr(node.key), ":", *self.expr(node.value), *self._generators(node.generators), "}"]

    def e_Await(self, node):
        return ["await", *self.expr(node.value)]

    def e_Yield(self, node):
        return ["yield", *(self.expr(node.value) if node.value else [])]

    def e_YieldFrom(self, node):
        return ["yield from", *self.expr(node.value)]

    # statements
    def emit(self, node, tokens: list[str]) -> None:
        self.origins.append(spans_of(node))
        here = len(self.origins) - 1
        self.tokens.extend(tokens)
        self.origin.extend([here] * len(tokens))

    def block(self, node, head: list[str], body: list) -> None:
        self.emit(node, [*head, ":", "{"])
        for stmt in body:
            self.stmt(stmt)
        self.emit(node, ["}"])

    def stmt(self, node) -> None:
        e = self.expr
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            name = node.name if node.name in self.keep else "F"
            params = [["V"] if a.arg not in ("self", "cls") else [a.arg]
                      for a in node.args.posonlyargs + node.args.args + node.args.kwonlyargs]
            self.breaks.append(len(self.tokens))
            self.block(node, ["def", name, "(", *self.joined(params, ","), ")"], node.body)
            self.breaks.append(len(self.tokens))
        elif isinstance(node, ast.ClassDef):
            name = node.name if node.name in self.keep else "F"
            self.breaks.append(len(self.tokens))
            self.block(node, ["class", name, "(", *self.joined([e(b) for b in node.bases], ","), ")"], node.body)
            self.breaks.append(len(self.tokens))
        elif isinstance(node, ast.Return):
            self.emit(node, ["return", *(e(node.value) if node.value is not None else [])])
        elif isinstance(node, ast.Assign):
            self.emit(node, [*self.joined([e(t) for t in node.targets], "="), "=", *e(node.value)])
        elif isinstance(node, ast.Expr):
            self.emit(node, e(node.value))
        elif isinstance(node, ast.If):
            self.block(node, ["if", *e(node.test)], node.body)
            if node.orelse:
                self.block(node, ["else"], node.orelse)
        elif isinstance(node, (ast.For, ast.AsyncFor)):
            self.block(node, ["for", *e(node.target), "in", *e(node.iter)], node.body)
            if node.orelse:
                self.block(node, ["else"], node.orelse)
        elif isinstance(node, ast.While):
            self.block(node, ["while", *e(node.test)], node.body)
        elif isinstance(node, (ast.With, ast.AsyncWith)):
            items = [[*e(i.context_expr), *(["as", *e(i.optional_vars)] if i.optional_vars else [])] for i in node.items]
            self.block(node, ["with", *self.joined(items, ",")], node.body)
        elif isinstance(node, ast.Raise):
            self.emit(node, ["raise", *(e(node.exc) if node.exc else [])])
        elif isinstance(node, ast.Try):
            self.block(node, ["try"], node.body)
            for handler in node.handlers:
                self.block(node, ["except", *(e(handler.type) if handler.type else [])], handler.body)
            if node.orelse:
                self.block(node, ["else"], node.orelse)
            if node.finalbody:
                self.block(node, ["finally"], node.finalbody)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            self.emit(node, ["import", *sorted(a.name for a in node.names)])
        elif isinstance(node, ast.Delete):
            self.emit(node, ["del", *self.joined([e(t) for t in node.targets], ",")])
        elif isinstance(node, (ast.Break, ast.Continue)):
            self.emit(node, [type(node).__name__.lower()])
        elif isinstance(node, (ast.Global, ast.Nonlocal, ast.Pass)):
            return
        else:
            self.emit(node, [type(node).__name__])


def lexer_tokens(code: str, cell: str) -> tuple[list[str], list[list]]:
    """Tokens of code that does not parse, with copydetect's lexer (pygments); one origin per line."""
    require_extra("copydetect", PURPOSE)
    from pygments import token as kinds
    from pygments.lexers import PythonLexer

    tokens, origins, starts = [], [], [0]
    for line in code.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    for index, kind, text in PythonLexer().get_tokens_unprocessed(code):
        if kind in kinds.Text or kind in kinds.Comment or not text.strip():
            continue
        if kind in kinds.Name and text not in KEEP:
            text = "V"
        elif kind in kinds.Literal.String:
            if text in ("'", '"', '"""', "'''") or (tokens and tokens[-1] == "S"):
                continue
            text = "S"
        elif kind in kinds.Literal.Number:
            try:
                text = number(ast.literal_eval(text))
            except (ValueError, SyntaxError):
                pass
        line = int(np.searchsorted(starts, index, side="right"))
        tokens.append(text)
        origins.append([(cell, line, line)])
    return tokens, origins


@dataclass
class Stream:
    """One submission's tokens (all cells), with where each came from and its k-grams."""

    cells: list[str]                     # grade_ids, in order
    texts: list[str] = field(default_factory=list)
    cell: list[int] = field(default_factory=list)          # index into cells, per token
    origin: list[int] = field(default_factory=list)        # index into origins, per token
    origins: list[list] = field(default_factory=list)      # per statement: [(cell, first line, last line), ...]
    runs: list[tuple[int, int]] = field(default_factory=list)  # token ranges that grams do not cross
    # filled by grams()
    chars: np.ndarray | None = None
    written: np.ndarray | None = None
    start: np.ndarray | None = None
    end: np.ndarray | None = None
    hashes: np.ndarray | None = None

    def add(self, cell: str, tokens: list[str], origin: list[int], origins: list[list],
            breaks: tuple[int, ...] = ()) -> None:
        """One cell's tokens; grams cross neither the cell's ends nor ``breaks`` (indices into ``tokens``)."""
        base, first = len(self.origins), len(self.texts)
        self.origins.extend(origins)
        self.texts.extend(tokens)
        self.origin.extend(base + o for o in origin)
        self.cell.extend([self.cells.index(cell)] * len(tokens))
        edges = sorted({0, len(tokens), *breaks})
        self.runs.extend((first + a, first + b) for a, b in zip(edges, edges[1:]) if b > a)


def grams(stream: Stream, noise: int, vocabulary: dict[str, int]) -> Stream:
    """Every k-gram of each run: its token range and a hash of its tokens (process-independent)."""
    ids = np.array([vocabulary.setdefault(t, len(vocabulary)) for t in stream.texts], dtype=np.int64)
    chars = np.array([len(t) for t in stream.texts], dtype=np.float64)
    stream.chars = chars
    starts, ends, hashes = [], [], []
    for first, last in stream.runs:
        prefix = np.concatenate([[0.0], np.cumsum(chars[first:last])])
        want = prefix[:-1] + noise
        stop = np.searchsorted(prefix, want, side="left")
        for i in np.nonzero(stop <= last - first)[0]:
            j = int(stop[i])
            starts.append(first + int(i))
            ends.append(first + j)
            hashes.append(hash(tuple(ids[first + int(i):first + j].tolist())))
    stream.start = np.array(starts, dtype=np.int64)
    stream.end = np.array(ends, dtype=np.int64)
    stream.hashes = np.array(hashes, dtype=np.int64)
    return stream
