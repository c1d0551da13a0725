"""Broken and malicious submissions, each generated from the instructor's answers, with the outcome
the grader must give it (written here by hand, never read back from the grader).

Every case starts from the reference answers (full marks for honest work: 80 autograded points)
and then breaks or attacks something. ``lost`` lists the graded cells that must score 0; all others
must score full points, so a case can never score more than its honest code earns. ``reason`` is
text that must appear in what the student gets back (the feedback page, or the failure reason).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

import nbformat

from coursekit.authoring.samples import Sample, make_submission
from dlcourse.lab2 import PARTS

TESTS = tuple(PARTS)
DROPOUT = frozenset(gid for gid, part in PARTS.items() if part.todo == "dropout_layer")
ACTIVATIONS = frozenset(gid for gid, part in PARTS.items() if part.todo == "activations")
ALL = frozenset(TESTS)
#: The activations TODO's parts and the experiments that run the activations.
ACTIVATIONS_AND_EXPERIMENTS = ACTIVATIONS | {"test_gradient_vanishing", "test_relu_death"}


@dataclass(frozen=True)
class Case:
    """One broken or malicious submission and what the grader must do with it.

    student: the submission's folder name.
    attack: what it tries, in one line.
    build: reference notebook -> the files of the submission folder (name -> bytes).
    status: "graded" (nbgrader scores it) or "failed" (reported with a reason, not graded).
    lost: graded cells that must score 0 (the others full points).
    reason: text that must appear in the feedback (graded) or the failure reason (failed).
    base: the notebook the case starts from: "reference" (every answer right) or "blank" (as released).
    """

    student: str
    attack: str
    build: Callable[[nbformat.NotebookNode], dict[str, bytes]]
    status: str = "graded"
    lost: frozenset[str] = field(default_factory=frozenset)
    reason: str = ""
    base: str = "reference"


NOTEBOOK = "lab2.ipynb"


def _dump(nb: nbformat.NotebookNode) -> bytes:
    return nbformat.writes(nb).encode("utf-8")


def _cell(nb: nbformat.NotebookNode, gid: str) -> nbformat.NotebookNode:
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == gid)


def append(gid: str, code: str) -> Callable[[nbformat.NotebookNode], dict[str, bytes]]:
    """The reference with `code` run at the end of answer cell `gid`."""
    def build(nb: nbformat.NotebookNode) -> dict[str, bytes]:
        nb = nbformat.from_dict(nb)
        _cell(nb, gid).source += "\n\n" + code.strip() + "\n"
        return {NOTEBOOK: _dump(nb)}
    return build


def edit(gid: str, old: str, new: str, then: Callable | None = None) -> Callable:
    """The reference with one answer edited (a planted bug), then optionally more changes."""
    def build(nb: nbformat.NotebookNode) -> dict[str, bytes]:
        nb = nbformat.from_dict(nb)
        cell = _cell(nb, gid)
        assert cell.source.count(old) == 1, (gid, old)
        cell.source = cell.source.replace(old, new)
        return then(nb) if then else {NOTEBOOK: _dump(nb)}
    return build


def notebook_change(change: Callable[[nbformat.NotebookNode], None]) -> Callable:
    def build(nb: nbformat.NotebookNode) -> dict[str, bytes]:
        nb = nbformat.from_dict(nb)
        change(nb)
        return {NOTEBOOK: _dump(nb)}
    return build


RELU_BUG = ("return (x > 0).to(x.dtype)", "return torch.ones_like(x)")
SIGMOID_BUG = ("return torch.where(x >= 0, 1 / (1 + z), z / (1 + z))", "return torch.exp(x) / (1 + torch.exp(x))")
TANH_BUG = ("return torch.sign(x) * (-torch.expm1(-2 * x.abs())) / (1 + z)", "return torch.tanh(x)")
DROPOUT_BUG = ("return mask * X / (1.0 - dropout)", "return mask * X")


def _with_relu_bug_and(code: str) -> Callable:
    """A wrong ReLU derivative, and code that tries to hide it from the tests."""
    def then(nb):
        _cell(nb, "activations").source += "\n\n" + code.strip() + "\n"
        return {NOTEBOOK: _dump(nb)}
    return edit("activations", *RELU_BUG, then=then)


def _drop_test(gid: str) -> Callable[[nbformat.NotebookNode], None]:
    def change(nb):
        nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") != gid]
    return change


def _then_change(change: Callable[[nbformat.NotebookNode], None]) -> Callable:
    def then(nb):
        change(nb)
        return {NOTEBOOK: _dump(nb)}
    return then


def _set_meta(gid: str, **values) -> Callable[[nbformat.NotebookNode], None]:
    def change(nb):
        _cell(nb, gid).metadata["nbgrader"].update(values)
    return change


def _gut_test(gid: str) -> Callable[[nbformat.NotebookNode], None]:
    def change(nb):
        _cell(nb, gid).source = '"""(emptied by the student)"""\npass\n'
    return change


def _exits(nb) -> dict[str, bytes]:
    nb = nbformat.from_dict(nb)
    _cell(nb, "activations").source += "\n\nimport sys\nsys.exit()\n"
    _cell(nb, "network").source += "\n\nraise SystemExit(3)\n"
    _cell(nb, "l2_penalty").source += "\n\nraise KeyboardInterrupt\n"
    return {NOTEBOOK: _dump(nb)}


def _edited_test_cells(nb) -> dict[str, bytes]:
    """Every way of editing the test cells' metadata or source at once, each over a planted bug."""
    nb = nbformat.from_dict(nb)
    for gid, (old, new) in (("activations", RELU_BUG), ("activations", SIGMOID_BUG), ("activations", TANH_BUG),
                            ("l2_penalty", ("return torch.sum(w.pow(2)) / 2", "return torch.sum(w.pow(2))"))):
        cell = _cell(nb, gid)
        assert cell.source.count(old) == 1, (gid, old)
        cell.source = cell.source.replace(old, new)
    _gut_test("test_sigmoid")(nb)
    _set_meta("test_tanh", grade_id="test_tanh_mine")(nb)
    _set_meta("test_network_forward", points=100)(nb)
    _set_meta("test_l2_penalty", locked=False, solution=True)(nb)
    _drop_test("test_relu_derivative")(nb)
    return {NOTEBOOK: _dump(nb)}


def _renamed(nb) -> dict[str, bytes]:
    return {"lab2 (1).ipynb": _dump(nb)}


def _other_assignment(nb) -> dict[str, bytes]:
    other = nbformat.v4.new_notebook()
    other.cells = [nbformat.v4.new_code_cell("def add(a, b):\n    return a + b",
                                             metadata={"nbgrader": {"grade_id": "ps1_add", "solution": True,
                                                                    "grade": False, "locked": False,
                                                                    "schema_version": 3}})]
    return {NOTEBOOK: _dump(other)}


#: Tries each way out of the sandbox and prints one line per attempt, then carries on honestly.
ESCAPES = r'''
import os as _os, socket as _socket
def _attempt(name, action):
    try:
        action()
        print(f"ESCAPE {name}: OPEN")
    except Exception as _err:
        print(f"ESCAPE {name}: blocked ({type(_err).__name__})")
_attempt("read-source", lambda: open("../../../source/lab2/lab2.ipynb").read())
_attempt("read-release-answers", lambda: open("../../../release/lab2/lab2.ipynb").read())
_attempt("read-gradebook", lambda: open("../../../gradebook.db", "rb").read(16))
_attempt("write-gradebook", lambda: open("../../../gradebook.db", "ab").write(b"x"))
_attempt("read-other-student", lambda: open("../../../submitted/reference/lab2/lab2.ipynb").read())
_attempt("list-submissions", lambda: _os.listdir("../../../submitted"))
_attempt("read-home", lambda: open(_os.path.expanduser("~root/.bashrc")).read())
_attempt("write-course-toml", lambda: open(_os.environ.get("COURSE_TOML", "course.toml"), "a").write("#"))
_attempt("network-dns", lambda: _socket.getaddrinfo("pypi.org", 443))
_attempt("network-connect", lambda: _socket.create_connection(("10.0.2.2", 80), timeout=3))
def _write_gb():
    import tempfile as _tempfile
    with open(_os.path.join(_tempfile.gettempdir(), "big.bin"), "wb") as _f:
        for _ in range(1024):
            _f.write(b"\0" * 2**20)
_attempt("write-1GB", _write_gb)
'''

FORK_BOMB = r'''
import os as _os, time as _time
_children = []
try:
    for _ in range(5000):
        _pid = _os.fork()
        if _pid == 0:
            _time.sleep(60)
            _os._exit(0)
        _children.append(_pid)
    print(f"FORK: not limited ({len(_children)} processes)")
except OSError as _err:
    print(f"FORK: limited after {len(_children)} processes ({type(_err).__name__})")
for _pid in _children:
    _os.kill(_pid, 9)
    _os.waitpid(_pid, 0)
'''

def added_cells(*after_and_code: tuple[str, str]) -> Callable[[nbformat.NotebookNode], dict[str, bytes]]:
    """Cells of the student's own (no nbgrader metadata) inserted before the given graded cells."""
    def build(nb: nbformat.NotebookNode) -> dict[str, bytes]:
        nb = nbformat.from_dict(nb)
        for before, code in after_and_code:
            index = next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == before)
            nb.cells.insert(index, nbformat.v4.new_code_cell(code.strip()))
        return {NOTEBOOK: _dump(nb)}
    return build


FAKE_RESULTS = """
class _Fake:
    layer_names = ["input"] + ["hidden"] * 6 + ["output"]
    fractions = {"relu": [[0.5]], "tanh": [[0.0]]}
    def first_layer_mean(self, act):
        return {"relu": 1.0, "sigmoid": 1e-6, "tanh": 0.5}[act]
    def final_dead_units(self, act):
        return {"relu": 50, "tanh": 0}[act]
vanishing = death = _Fake()
def check(*args, **kwargs):
    print("passed")
"""

#: dropout_layer written with each of PyTorch's own dropouts; the contract (ValueError, p = 0 and 1) is
#: kept, so the parts can only be lost through the rule that forbids the shortcut.
DROPOUT_SHORTCUTS = {
    "dropout_functional": ("import torch.nn.functional as F", "F.dropout(X, dropout, training=True)"),
    "dropout_alias": ("from torch.nn.functional import dropout as keep_some", "keep_some(X, dropout, True)"),
    "dropout_module": ("from torch import nn", "nn.Dropout(dropout).train()(X)"),
    "dropout_aten": ("import torch", "X if dropout == 0 else torch.ops.aten.native_dropout(X, dropout, True)[0]"),
}


def dropout_shortcut(imports: str, expression: str) -> Callable:
    body = (f"{imports}\n\n\ndef dropout_layer(X, dropout):\n    if not 0 <= dropout <= 1:\n"
            f"        raise ValueError('dropout must be in [0, 1]')\n    return {expression}\n")
    def build(nb: nbformat.NotebookNode) -> dict[str, bytes]:
        nb = nbformat.from_dict(nb)
        _cell(nb, "dropout_layer").source = body
        return {NOTEBOOK: _dump(nb)}
    return build


CASES = (
    # --- code meant to earn points without an answer (each on the blank notebook) ---------------
    Case("planted_results", "cells of its own plant fake experiment results and a check() that always passes",
         added_cells(("test_gradient_vanishing", FAKE_RESULTS), ("test_relu_death", FAKE_RESULTS),
                     ("test_relu", FAKE_RESULTS)), base="blank", lost=ALL, reason="评分时不运行你自己添加的单元格"),
    Case("planted_in_answer", "an answer cell redefines check() and replaces an experiment with a fake",
         append("network", FAKE_RESULTS + "\nexperiments.run_gradient_vanishing = lambda *a, **k: _Fake()"),
         base="blank", lost=ALL, reason="不属于你自己的对象"),
    Case("guard_switched_off", "switches the in-kernel guard off and replaces the checks' judge",
         append("activations", "import coursekit.partkit.local as g\ng.judged = lambda *a: None\n"
                               "import dlcourse.lab2 as p\np.judge = lambda measurement: None\np._SEND = False"),
         base="blank", lost=ALL, reason="导入 coursekit"),
    Case("code_swapped", "swaps the code of the judge in place (same function object, new behaviour)",
         append("activations", "check.__globals__['judge'].__code__ = (lambda measurement: None).__code__"),
         base="blank", lost=ALL, reason="__globals__"),
    Case("reach_gc", "finds the grader's objects through the garbage collector",
         append("activations", "import gc as _g\nfor _o in _g.get_objects():\n    pass"),
         base="blank", lost=ALL, reason="导入 gc"),
    Case("reach_ctypes", "writes the interpreter's memory with ctypes",
         append("activations", "import ctypes\nctypes.memmove(0, 0, 0)"), base="blank", lost=ALL, reason="导入 ctypes"),
    Case("reach_frames", "reads the caller's frame (the measuring code) from inside MyReLU",
         append("activations", "import sys\nclass MyReLU:\n    def __call__(self, x):\n"
                               "        sys._getframe(1).f_globals['_SEND'] = False\n        return x\n"
                               "    def derivative(self, x):\n        return x"),
         base="blank", lost=ALL, reason="_getframe"),
    Case("reach_import_system", "installs an import hook and fetches builtins by a computed name",
         append("activations", "import sys\nsys.meta_path.insert(0, None)\n"
                               "_name = 'ev' + 'al'\n_f = getattr(__builtins__, _name)"),
         base="blank", lost=ALL, reason="meta_path"),
    Case("forged_measurement", "MyReLU sends a measurement of its own making to the grader",
         append("activations", "class MyReLU:\n    def __call__(self, x):\n"
                               "        display({'application/vnd.coursekit.measurement+json': {'grade_id': 'test_relu',"
                               " 'cases': 'hidden', 'data': ''}}, raw=True)\n        return x\n"
                               "    def derivative(self, x):\n        return x"),
         base="blank", lost=ALL, reason="MyReLU()(x) 的结果不对"),
    # --- every form of PyTorch's own dropout (on the reference: only the dropout parts are lost) -
    *(Case(name, f"dropout_layer written with {expression}", dropout_shortcut(imports, expression), lost=DROPOUT,
           reason="现成的 dropout") for name, (imports, expression) in DROPOUT_SHORTCUTS.items()),
    Case("dropout_dynamic", "dropout_layer looks PyTorch's dropout up by a computed name",
         dropout_shortcut("import torch.nn.functional as F", "getattr(F, 'drop' + 'out')(X, dropout, True)"),
         lost=DROPOUT, reason="动态查找属性"),
    Case("dropout_lecture", "dropout_layer calls the course package's from-scratch lecture version",
         dropout_shortcut("from dlcourse.lectures import dropout_layer as lecture_dropout",
                          "lecture_dropout(X, dropout)"), lost=DROPOUT, reason="coursekit"),
    # --- the kernel misbehaves ----------------------------------------------------------------
    Case("infinite_loop", "an infinite loop in an answer cell (interrupted at the cell timeout)",
         append("activations", "while True:\n    pass"), reason="已被中断"),
    Case("unstoppable_loop", "an infinite loop that swallows the interrupt",
         append("network", "import time as _t\nwhile True:\n    try:\n        _t.sleep(0.5)\n"
                           "    except KeyboardInterrupt:\n        pass"),
         reason="仍无响应"),
    Case("exits", "sys.exit(), raise SystemExit and raise KeyboardInterrupt, each at the end of an answer cell",
         lambda nb: _exits(nb), reason="SystemExit"),
    Case("os_exit", "os._exit() kills the kernel in the dropout cell",
         append("dropout_layer", "import os\nos._exit(0)"), lost=DROPOUT, reason="内核在第"),
    Case("memory_bomb", "allocates far beyond the memory limit",
         append("dropout_layer", "_bomb = b'x' * (6 * 2**30)"), lost=DROPOUT, reason="内存上限"),
    Case("fork_bomb", "forks until something stops it", append("activations", FORK_BOMB), reason="FORK: limited"),
    Case("escape", "reads/writes outside its folder, opens the network, writes 1 GB, prints 100 MB",
         append("activations", ESCAPES + "\nprint('x' * 100_000_000)"), reason="ESCAPE read-source: blocked"),
    # --- the notebook is changed where the student should not ---------------------------------
    Case("edited_test_cells", "deletes test_relu, empties test_sigmoid, renames test_tanh's grade_id, sets "
         "test_network_forward's points to 100, unlocks test_l2_penalty and marks it as an answer; each of the "
         "four changed test cells guards a planted bug (ReLU derivative, unstable sigmoid, torch.tanh, no 1/2)",
         _edited_test_cells, lost=frozenset({"test_relu_derivative", "test_sigmoid", "test_sigmoid_derivative", "test_tanh",
                                             "test_tanh_derivative", "test_gradient_vanishing", "test_relu_death",
                                             "test_l2_penalty"})),
    Case("hardcoded_visible", "l2_penalty returns the visible check's answer for every input",
         edit("l2_penalty", "return torch.sum(w.pow(2)) / 2", "return torch.tensor(7.0)"),
         lost=frozenset({"test_l2_penalty", "test_weight_decay"}), reason="l2_penalty"),
    # --- the file is not the assignment's notebook --------------------------------------------
    Case("renamed_notebook", "the notebook is saved as 'lab2 (1).ipynb'", _renamed, status="failed", reason="改名"),
    Case("missing_notebook", "only a timestamp, no notebook", lambda nb: {}, status="failed", reason="没有 lab2.ipynb"),
    Case("empty_file", "lab2.ipynb has 0 bytes", lambda nb: {NOTEBOOK: b""}, status="failed", reason="空文件"),
    Case("invalid_json", "lab2.ipynb is cut off in the middle", lambda nb: {NOTEBOOK: _dump(nb)[:5000]},
         status="failed", reason="JSON"),
    Case("other_assignment", "a notebook of another assignment", _other_assignment, status="failed",
         reason="另一份作业"),
    # --- code that tries to make the tests pass -----------------------------------------------
    Case("patch_allclose", "replaces torch.allclose (wrong ReLU derivative)",
         _with_relu_bug_and("torch.allclose = lambda *a, **k: True"), lost=ACTIVATIONS_AND_EXPERIMENTS,
         reason="torch.allclose"),
    Case("patch_assert_close", "replaces torch.testing.assert_close and coursekit's assert_close",
         _with_relu_bug_and("import torch.testing\nimport coursekit.partkit.checks\n"
                            "torch.testing.assert_close = lambda *a, **k: None\n"
                            "coursekit.partkit.checks.assert_close = lambda *a, **k: None"),
         lost=ACTIVATIONS_AND_EXPERIMENTS, reason="assert_close"),
    Case("patch_numpy", "replaces numpy.allclose and numpy.testing",
         _with_relu_bug_and("import numpy, numpy.testing\nnumpy.allclose = lambda *a, **k: True\n"
                            "numpy.testing.assert_allclose = lambda *a, **k: None"), lost=ACTIVATIONS_AND_EXPERIMENTS,
         reason="numpy"),
    Case("patch_assertionerror", "makes AssertionError something no test raises",
         _with_relu_bug_and("import builtins\nbuiltins.AssertionError = type('Nothing', (Exception,), {})"),
         lost=ACTIVATIONS_AND_EXPERIMENTS, reason="AssertionError"),
    Case("patch_import", "replaces __import__ to hand the tests a fake coursekit.partkit.checks",
         _with_relu_bug_and(
             "import builtins, types\n_real_import = builtins.__import__\n"
             "_fake = types.SimpleNamespace(explain=None, assert_close=lambda *a, **k: None, fail=lambda m: None)\n"
             "def _import(name, *args, **kwargs):\n"
             "    return _fake if name == 'coursekit.partkit.checks' else _real_import(name, *args, **kwargs)\n"
             "builtins.__import__ = _import"), lost=ACTIVATIONS_AND_EXPERIMENTS, reason="__import__"),
    Case("patch_rand", "replaces torch.rand so the dropout mask statistics look right",
         append("dropout_layer", "import torch\n_real_rand = torch.rand\n"
                                 "torch.rand = lambda *a, **k: _real_rand(*a, **k) * 0 + 0.99"),
         lost=DROPOUT, reason="torch.rand"),
    Case("patch_manual_seed", "replaces torch.manual_seed",
         append("dropout_layer", "import torch\ntorch.manual_seed = lambda seed: torch.default_generator"),
         lost=DROPOUT, reason="torch.manual_seed"),
    Case("custom_exc", "IPython set_custom_exc swallows every error (wrong ReLU derivative)",
         _with_relu_bug_and("get_ipython().set_custom_exc((BaseException,), lambda *a, **k: None)"),
         lost=frozenset({"test_relu_derivative"}), reason="MyReLU().derivative(x)"),
    Case("post_run_cell", "a post_run_cell hook clears each cell's output (wrong ReLU derivative)",
         _with_relu_bug_and("from IPython.display import clear_output\n"
                            "get_ipython().events.register('post_run_cell', lambda result: clear_output())"),
         lost=frozenset({"test_relu_derivative"}), reason="MyReLU().derivative(x)"),
    Case("input_transformer", "an input transformer rewrites every later test cell to `pass`",
         _with_relu_bug_and("get_ipython().input_transformers_post.append("
                            "lambda lines: ['pass\\n'] if any('checks' in l for l in lines) else lines)"),
         lost=frozenset({"test_relu_derivative"}), reason="MyReLU().derivative(x)"),
)


def case(student: str) -> Case:
    return next(c for c in CASES if c.student == student)


def write_case(folder, reference: nbformat.NotebookNode, one: Case, timestamp: str,
               blank: nbformat.NotebookNode | None = None) -> None:
    """Write one case's files into submitted/<student>/<assignment>/."""
    folder.mkdir(parents=True, exist_ok=True)
    base = blank if one.base == "blank" else reference
    assert base is not None, f"{one.student} starts from the blank notebook"
    for name, content in one.build(base).items():
        (folder / name).write_bytes(content)
    (folder / "timestamp.txt").write_text(timestamp + "\n")


def reference_notebook(release, source) -> nbformat.NotebookNode:
    return make_submission(nbformat.read(release, as_version=4), nbformat.read(source, as_version=4),
                           Sample("reference", "the instructor's answers"))


def expected_json() -> str:
    """The expectations as JSON (for the closing note and for reading them side by side)."""
    return json.dumps({c.student: {"attack": c.attack, "status": c.status, "lost": sorted(c.lost),
                                   "reason": c.reason} for c in CASES}, ensure_ascii=False, indent=1)
