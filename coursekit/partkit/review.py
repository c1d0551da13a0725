"""Read a student's answer cell before it runs: what its TODO may not do, found from its text.

The grader reviews every answer cell in its own process (``coursekit.grading.judge``); the notebook's
visible checks run the same review on the cell that defined the student's function, so a student
sees a rule broken before submitting, in the same words. Two kinds of finding, each costing only the
parts of the TODO whose cell has it (and the experiments that run them), never another part:

* **forbidden**: a shortcut the TODO's rule excludes (in Lab 2: PyTorch's own activation functions in
  the activations cell, any form of dropout in ``dropout_layer``); it belongs to the definition that uses it;
* **tampering**: code that reaches past the student's own objects into the grading worker or the
  interpreter: the course package, the import system, builtins, function and frame internals, the
  garbage collector, ctypes, pickle, dynamic ``eval``/``exec``/``getattr``, assignments to attributes
  of modules or of objects the cell did not make. It belongs to every definition of its cell.

Neither decides whether an answer is right: the grader measures that itself, calling the student's
functions in a worker that ran only their TODO's cells (docs/design.md, "Where verdicts are formed"). This
review enforces how an answer may be written; its limits (a rule written so that no name shows) are
stated in docs/design.md, and each worker also records the forbidden PyTorch calls it sees while it runs.
Only names and attributes are read, never what a value is at run time: the rules are stated as names
in the notebook (each TODO's :class:`~coursekit.partkit.part.Rule`) and a submission that keeps to them is never flagged. Cells a student added
are not reviewed: they are not run while grading.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from coursekit.partkit.part import Rule

#: Modules whose import reaches into the grading worker or the interpreter (top-level package names).
TAMPER_MODULES = frozenset({
    "coursekit", "nbgrader", "nbclient", "nbformat", "jupyter_client", "ipykernel", "zmq",
    "builtins", "importlib", "gc", "ctypes", "_ctypes", "inspect", "types", "pickle", "_pickle", "marshal",
    "copyreg", "dill", "cloudpickle", "code", "codeop", "runpy",
})
#: Names whose use reaches past the student's own code.
TAMPER_NAMES = frozenset({
    "__import__", "__builtins__", "__loader__", "__spec__", "__build_class__", "eval", "exec", "compile",
    "globals", "vars", "setattr", "delattr", "breakpoint",
})
#: Attributes that reach interpreter internals: frames, code objects, the module table, tracing.
TAMPER_ATTRIBUTES = frozenset({
    "modules", "meta_path", "path_hooks", "path_importer_cache", "settrace", "setprofile", "_getframe",
    "_current_frames", "addaudithook", "f_back", "f_globals", "f_locals", "f_builtins", "f_code", "f_trace",
    "tb_frame", "tb_next", "gi_frame", "cr_frame", "ag_frame", "gi_code", "co_code", "co_consts", "cpp_extension",
    "load_inline", "load_library", "load", "loads", "Unpickler", "_C", "_VF", "displayhook", "excepthook",
    "attrgetter", "methodcaller", "library", "overrides", "_python_dispatch", "register_module_forward_hook",
    "register_module_forward_pre_hook", "register_module_full_backward_hook", "register_module_backward_hook",
    "register_module_full_backward_pre_hook", "register_module_buffer_registration_hook",
    "register_module_module_registration_hook", "register_module_parameter_registration_hook",
})
#: The only special methods an answer may define (a __torch_function__ or __del__ would run code of
#: the student's inside the grader's measuring code).
ALLOWED_DUNDER_DEFINITIONS = frozenset({"__init__", "__call__", "__repr__", "__str__"})
#: The only special attributes student code may use (``super().__init__()``, ``type(self).__name__``).
ALLOWED_DUNDERS = frozenset({"__init__", "__call__", "__name__", "__doc__", "__class__", "__len__"})

@dataclass(frozen=True)
class Finding:
    """One thing a reviewed cell may not do.

    kind: ``tampering`` or ``forbidden``; line: 1-based line in the cell; what: the code's words.
    """

    kind: str
    line: int
    what: str
    code: str = ""

    def describe(self) -> str:
        code = f"`{self.code}`" if self.code else ""
        return f"第 {self.line} 行{code}：{self.what}"


def python_source(source: str) -> str:
    """The cell as IPython would run it: ``%magic`` and ``!command`` lines become ``get_ipython()`` calls."""
    if not re.search(r"^\s*[%!]", source, re.MULTILINE) and "?" not in source:
        return source
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except ImportError:
        return source
    try:
        return TransformerManager().transform_cell(source)
    except Exception:  # a cell IPython cannot transform is reviewed as it is
        return source


def _root(node: ast.AST) -> str | None:
    """The name an attribute or subscript chain starts from (``torch`` in ``torch.nn.f[0].x``)."""
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def bound_names(tree: ast.AST) -> set[str]:
    """Every name the code binds itself: assignments, defs, classes, parameters, imports, loop targets."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
    return names


def review(source: str, *, rule: Rule | None = None, protected: frozenset[str] = frozenset()) -> list[Finding]:
    """What `source` (one answer cell) may not do.

    rule: the TODO's rule (:class:`coursekit.partkit.part.Rule`; None: only the tampering rules);
    protected: more top-level packages whose import reaches past the student's objects (the course's).
    A cell that is not valid Python is not reviewed (it fails when it runs).
    """
    try:
        tree = ast.parse(python_source(source))
    except (SyntaxError, ValueError):
        return []
    lines = python_source(source).splitlines()
    own = bound_names(tree)
    own_definitions = {node.name for node in ast.walk(tree)
                       if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
    # Attributes the cell gives its own objects (methods, self.x = ...): ``s.sigmoid_part(x)`` is theirs.
    own_attributes = own_definitions | {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)
                                        and isinstance(node.ctx, ast.Store) and _root(node) == "self"}
    words = tuple(rule.words) if rule else ()
    findings: list[Finding] = []

    def tamper(node: ast.AST, what: str) -> None:
        findings.append(Finding("tampering", getattr(node, "lineno", 0), what))

    def forbidden_word(name: str) -> str | None:
        low = name.lower()
        return next((w for w in words if w in low), None)

    def check_attribute(node: ast.AST, attr: str, root: str | None) -> None:
        if attr.startswith("__") and attr.endswith("__") and attr not in ALLOWED_DUNDERS:
            tamper(node, f"访问特殊属性 .{attr}")
        elif attr in TAMPER_ATTRIBUTES:
            tamper(node, f"访问解释器内部的 .{attr}")
        elif words and root != "self" and root not in own_definitions and attr not in own_attributes:
            word = forbidden_word(attr)
            if word:
                findings.append(Finding("forbidden", node.lineno, f".{attr}（{rule.label}）"))

    called = {node.func for node in ast.walk(tree) if isinstance(node, ast.Call)}
    _imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            for module in modules:
                if module.split(".")[0] in TAMPER_MODULES | protected or (node.__class__ is ast.ImportFrom and node.level):
                    tamper(node, f"导入 {module or '.'}")
                elif any(part in TAMPER_ATTRIBUTES for part in module.split(".")[1:]):
                    tamper(node, f"导入 {module}")
            for alias in node.names:
                _imported.add((alias.asname or alias.name).split(".")[0])
                if alias.name == "*" and words:
                    findings.append(Finding("forbidden", node.lineno, f"from {node.module} import *（看不出用了哪些函数）"))
                imported_parts = alias.name.split(".") if isinstance(node, ast.Import) else [alias.name]
                for part in imported_parts:
                    if part in TAMPER_NAMES or part in TAMPER_ATTRIBUTES or (
                            part.startswith("__") and part not in ALLOWED_DUNDERS):
                        tamper(node, f"导入 {part}")
                    elif words and forbidden_word(part) and (isinstance(node, ast.ImportFrom) or "." in alias.name):
                        findings.append(Finding("forbidden", node.lineno, f"导入 {alias.name}（{rule.label}）"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            if node.id in TAMPER_NAMES and node.id not in own:
                tamper(node, f"使用 {node.id}")
            elif node.id == "getattr" and node not in called and node.id not in own:
                tamper(node, "把 getattr 当作值传递或改名（动态查找属性）")
            elif node.id.startswith("__") and node.id.endswith("__") and node.id not in ALLOWED_DUNDERS \
                    and node.id not in own:
                tamper(node, f"使用 {node.id}")
        elif isinstance(node, ast.Attribute):
            check_attribute(node, node.attr, _root(node))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr":
            name = node.args[1] if len(node.args) > 1 else None
            if not (isinstance(name, ast.Constant) and isinstance(name.value, str)):
                tamper(node, "getattr 的属性名不是写明的字符串（动态查找属性）")
            else:
                check_attribute(node, name.value, _root(node.args[0]))
        elif isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
            targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
            for target in targets:
                for item in (target.elts if isinstance(target, (ast.Tuple, ast.List)) else [target]):
                    root = _root(item)
                    if isinstance(item, (ast.Attribute, ast.Subscript)) and root is not None and (
                            root in _imported or root not in own):
                        tamper(item, f"修改 {ast.unparse(item)}（不属于你自己的对象）")
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("__") \
                and node.name.endswith("__") and node.name not in ALLOWED_DUNDER_DEFINITIONS:
            tamper(node, f"定义特殊方法 {node.name}")
    excerpt = {f.line: (lines[f.line - 1].strip() if 0 < f.line <= len(lines) else "") for f in findings}
    findings = [Finding(f.kind, f.line, f.what, excerpt[f.line][:100]) for f in findings]
    return sorted(set(findings), key=lambda f: (f.line, f.kind, f.what))


def describe(findings: list[Finding], limit: int = 6) -> str:
    """The findings in one line each (at most `limit`, then how many more)."""
    lines = [f.describe() for f in findings[:limit]]
    if len(findings) > limit:
        lines.append(f"……另有 {len(findings) - limit} 处")
    return "；".join(lines)


def _definitions(tree: ast.Module) -> dict[str, tuple[int, int]]:
    """Top-level classes and functions of a cell: name -> (first line, last line)."""
    return {node.name: (node.lineno, node.end_lineno or node.lineno) for node in tree.body
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}


def _loaded_names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def by_definition(source: str, findings: list[Finding]) -> dict[str, list[Finding]]:
    """Which top-level class or function each finding belongs to.

    A finding inside ``class MyTanh`` belongs to MyTanh. One in a top-level statement (``from torch
    import tanh as t``, ``act = torch.relu``) belongs to every definition that uses a name the
    statement binds; a statement no definition uses changes nothing that is graded and belongs to
    none. A tampering finding belongs to every definition of the cell (``MyTanh = MyReLU`` included).
    """
    try:
        tree = ast.parse(python_source(source))
    except (SyntaxError, ValueError):
        return {}
    spans = _definitions(tree)
    uses = {name: _loaded_names(node) for node in tree.body
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) for name in [node.name]}
    result: dict[str, list[Finding]] = {}
    for finding in findings:
        owners = [name for name, (first, last) in spans.items() if first <= finding.line <= last]
        if finding.kind == "tampering":  # every name the cell defines at its top level
            owners = list(spans) + sorted({name for statement in tree.body if isinstance(statement, ast.Assign)
                                           for name in bound_names(statement)} - set(spans))
        elif not owners:
            statement = next((s for s in tree.body if s.lineno <= finding.line <= (s.end_lineno or s.lineno)), None)
            if isinstance(statement, ast.ImportFrom) and any(a.name == "*" for a in statement.names):
                owners = list(spans)  # `from torch import *`: which names each definition took cannot be told
            else:
                bound = bound_names(statement) if statement is not None else set()
                owners = [name for name, loaded in uses.items() if loaded & bound]
        for owner in owners:
            result.setdefault(owner, []).append(finding)
    return result


def forbidden_by_definition(source: str, rule: Rule | None, protected: frozenset[str] = frozenset()) -> dict[str, str]:
    """Definition name -> what in it breaks the rules (either kind)."""
    findings = review(source, rule=rule, protected=protected)
    return {name: describe(found) for name, found in by_definition(source, findings).items()}


def rules_broken(source: str, rule: Rule | None, definitions: frozenset[str] = frozenset(),
                 protected: frozenset[str] = frozenset()) -> tuple[dict[str, str], dict[str, str]]:
    """(forbidden, tampering): definition name -> what in the cell breaks that kind of rule for it.
    Tampering counts for each of ``definitions`` (the TODO's graded names) however the cell binds them."""
    findings = review(source, rule=rule, protected=protected)
    forbidden = [f for f in findings if f.kind == "forbidden"]
    reaching = [f for f in findings if f.kind == "tampering"]
    tampering = {name: describe(found) for name, found in by_definition(source, reaching).items()}
    if reaching:
        for name in definitions:
            tampering.setdefault(name, describe(reaching))
    return {name: describe(found) for name, found in by_definition(source, forbidden).items()}, tampering
