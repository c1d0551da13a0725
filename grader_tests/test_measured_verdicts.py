"""Verdicts measured by the judge: the graded cells do not run in the kernel; the judge calls the
student's functions in grading workers, one per group of answer cells, on hidden cases drawn from the
grader's secret, and runs the experiments itself with those functions.

One scratch class of honest habits and attacks, graded by ``coursekit grade`` in the sandbox. Expected marks are
written by hand: honest habits score like the reference, each attack or mistake costs exactly its own
TODO's parts (and the experiments that run them).
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from coursekit.authoring.release import copy_course
from coursekit.config import load_config
from coursekit.grading.gradetable import grade_rows
from grader_tests.adversarial import reference_notebook
from grader_tests.conftest import ROOT, coursekit, run_step, share_secret

ALL = ["test_relu", "test_relu_derivative", "test_sigmoid", "test_sigmoid_derivative", "test_tanh",
       "test_tanh_derivative", "test_network_forward", "test_network_backward", "test_gradient_vanishing",
       "test_dead_units", "test_relu_death", "test_l2_penalty", "test_weight_decay", "test_dropout_keep_rate",
       "test_dropout_scaling", "test_dropout_edges", "test_dropout_fresh_masks", "test_dropout_contract",
       "test_dropout_experiment"]
#: student -> the autograded parts it loses (hand-written).
LOST = {
    "reference": [],
    "blank": ALL,
    "module_acts": [],                     # activations as nn.Module subclasses
    "honest_habits": [],                   # magics and display in an added cell, print/display in an answer
    "golden_mask": ["test_dropout_fresh_masks"],   # a deterministic sequence, never torch's generator
    "lookup": ["test_dead_units"],         # a table keyed on the shapes the hidden cases used to have
    "added_helper": ["test_relu_derivative"],      # a helper defined in a cell the grader does not run
    "kill_all": ["test_l2_penalty", "test_weight_decay"],  # os.kill(-1, SIGKILL) in the l2_penalty cell
    # torch.relu by a computed getattr, kept in a dict: the activations TODO breaks its rules
    "alias_builtin": ["test_relu", "test_relu_derivative", "test_sigmoid", "test_sigmoid_derivative", "test_tanh",
                      "test_tanh_derivative", "test_gradient_vanishing", "test_relu_death"],
    # every TODO a stub; the activations cell rewrites the worker's serving code to answer with torch's results
    "stub_hijack": ALL,
    "send_rewrite": ALL,
}


def cell(nb, gid):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == gid)


def variant(base, **answers):
    nb = nbformat.from_dict(json.loads(nbformat.writes(base)))
    for gid, code in answers.items():
        if gid.startswith("add_after_"):
            target = gid[len("add_after_"):]
            i = next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == target)
            nb.cells.insert(i + 1, nbformat.v4.new_code_cell(code))
        else:
            cell(nb, gid).source = code
    return nb


HIJACK = '''
import torch, sys
g = getattr
class MyReLU:
    def __call__(self, x): raise NotImplementedError()
    def derivative(self, x): raise NotImplementedError()
MySigmoid = MyTanh = MyReLU
# reach whatever the process has and report torch's answers for everything
_t = {"relu": g(torch, "re" + "lu"), "sigmoid": g(torch, "sig" + "moid"), "tanh": g(torch, "ta" + "nh")}
for mod in list(sys.modules.values()):
    if g(mod, "__name__", "").startswith("coursekit.partkit.serve"):
        W = g(mod, "Worker")
        orig = W.call
        def fake(self, target, args, **kw):
            r = orig(self, target, args, **kw)
            name = target[0]
            key = {"MyReLU": "relu", "MySigmoid": "sigmoid", "MyTanh": "tanh"}.get(name)
            if key:
                x = args[0].clone().requires_grad_(True)
                y = _t[key](x)
                r["value"] = y.detach() if target[1] == "__call__" else torch.autograd.grad(y.sum(), x)[0]
                r["calls"] = []
            return r
        setattr(W, "call", fake)
'''


# A cell the student added to a blank notebook (the kernel runs it; no rule reads it): the kernel's
# message sending (reachable from sys.stdout) is wrapped so that every error a cell shows goes out
# as a pass line instead, and every verdict function check() can reach is made lenient.
SEND_REWRITE = '''
import sys
g = getattr
try:
    session = g(sys.stdout, "session")
    original = g(session, "send")
    def send(stream, msg_or_type, content=None, *a, **k):
        if msg_or_type == "error" or (isinstance(content, dict) and content.get("ename")):
            msg_or_type, content = "stream", {"name": "stdout", "text": "[评分程序] 通过。\\n"}
        return original(stream, msg_or_type, content, *a, **k)
    session.send = send
except AttributeError:
    pass
try:
    f = g(check, "__globals__")
    for key in list(f):
        if key.startswith("judge") or key.startswith("_judge"):
            f[key] = lambda *a, **k: None
except (NameError, AttributeError):
    pass
'''


def submissions(ref, blank):
    MODULE_ACTS = cell(ref, "activations").source.replace("class MyReLU:", "class MyReLU(nn.Module):").replace(
        "class MySigmoid:", "class MySigmoid(nn.Module):").replace("class MyTanh:", "class MyTanh(nn.Module):").replace(
        "def __call__(self, x):", "def forward(self, x):")
    GOLDEN = '''def dropout_layer(X, dropout):
        if not 0 <= dropout <= 1:
            raise ValueError("p")
        if dropout == 1:
            return torch.zeros_like(X)
        if dropout == 0:
            return X
        global _k
        try: _k
        except NameError: _k = 0
        n = X.numel()
        idx = torch.arange(_k, _k + n, dtype=torch.float64)
        _k += n
        u = torch.frac(idx * 0.6180339887498949).reshape(X.shape).to(X.dtype)
        return (u > dropout).to(X.dtype) * X / (1 - dropout)
    '''
    LOOKUP = '''def dead_unit_fraction(H):
        table = {(6, 5): 0.4, (4, 7): 1/7, (3, 4): 0.0, (64, 100): 0.05, (512, 100): 0.12, (10, 3): 1.0, (1, 8): 0.125, (20, 30): 2/30}
        return torch.tensor(table.get(tuple(H.shape), 0.0))
    '''
    return {
        "stub_hijack": variant(blank, activations=HIJACK),
        "send_rewrite": variant(blank, add_after_setup=SEND_REWRITE),
        "reference": ref,
        "blank": blank,
        "module_acts": variant(ref, activations=MODULE_ACTS),
        "honest_habits": variant(ref, add_after_activations="%timeit 1 + 1\n!ls\nfrom IPython.display import display\ndisplay(1)\n",
                                 dropout_layer=cell(ref, "dropout_layer").source + "\nprint('ok')\ndisplay(torch.ones(2))\n"),
        "golden_mask": variant(ref, dropout_layer=GOLDEN),
        "lookup": variant(ref, dead_units=LOOKUP),
        "added_helper": variant(ref, add_after_setup="def helper(x):\n    return (x > 0).to(x.dtype)\n",
                                activations=cell(ref, "activations").source.replace("return (x > 0).to(x.dtype)", "return helper(x)")),
        "kill_all": variant(ref, l2_penalty=cell(ref, "l2_penalty").source + "\nimport os, signal\nos.kill(-1, signal.SIGKILL)\n"),
        "alias_builtin": variant(ref, activations=cell(ref, "activations").source.replace(
            "class MyReLU:", "from torch import nn\n_f = {'r': getattr(torch, 're' + 'lu')}\nclass MyReLU:").replace(
            "return torch.where(x > 0, x, torch.zeros_like(x))", "return _f['r'](x)")),
    }


@pytest.fixture(scope="module")
def measured_course(tmp_path_factory) -> Path:
    config_path = copy_course(ROOT, tmp_path_factory.mktemp("measured-course"), with_release=False)
    share_secret(config_path)
    for step in ("setup-data", "build lab2"):
        run_step(config_path, *step.split())
    config = load_config(config_path)
    release = config.directory("release") / "lab2" / "lab2.ipynb"
    ref = reference_notebook(release, config.directory("source") / "lab2" / "lab2.ipynb")
    blank = nbformat.read(release, as_version=4)
    for student, nb in submissions(ref, blank).items():
        folder = config.directory("submitted") / student / "lab2"
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / "lab2.ipynb")
        (folder / "timestamp.txt").write_text("2026-12-01 00:00:00.000000 UTC\n")
    result = coursekit(config_path, "grade", "--workers", "2")
    assert result.returncode == 0, result.stderr[-3000:]
    return config_path


@pytest.fixture(scope="module")
def rows(measured_course):
    _, table = grade_rows(load_config(measured_course), "lab2")
    return {row["student"]: row for row in table}


@pytest.mark.parametrize("student", sorted(LOST))
def test_each_submission_loses_exactly_its_own_parts(rows, student):
    lost = sorted(gid for gid in ALL if rows[student]["cells"][gid] == 0)
    assert lost == sorted(LOST[student])


def graded_text(course: Path, student: str) -> str:
    nb = nbformat.read(course.parent / "autograded" / student / "lab2" / "lab2.ipynb", as_version=4)
    return "\n".join(f"{o.get('ename', '')}: {o.get('evalue', '')}{o.get('text', '')}"
                     for c in nb.cells for o in c.get("outputs", []))


@pytest.mark.parametrize("student, words", [
    ("added_helper", "helper 没有定义在答案单元格 activations 里"),
    ("golden_mask", "torch.manual_seed 相同时"),
    ("kill_all", "评分进程停止了响应"),
    ("alias_builtin", "动态查找属性"),
    ("stub_hijack", "伸手去改评分进程"),
])
def test_the_reason_is_in_the_graded_notebook(measured_course, student, words):
    assert words in graded_text(measured_course, student)


def test_experiment_figures_come_from_the_judge(measured_course):
    nb = nbformat.read(measured_course.parent / "autograded" / "reference" / "lab2" / "lab2.ipynb", as_version=4)
    figures = [o for gid in ("test_gradient_vanishing", "test_relu_death", "test_weight_decay",
                             "test_dropout_experiment")
               for o in cell(nb, gid).outputs if "image/png" in o.get("data", {})]
    assert len(figures) == 4


def test_the_grading_secret_stays_in_the_course_folder(measured_course):
    """Neither the file nor its text reaches what students get or what grading wrote."""
    secret = measured_course.parent / ".grading-secret"
    assert secret.is_file() and oct(secret.stat().st_mode & 0o777) == "0o600"
    text = secret.read_text().strip()
    for folder in ("release", "autograded", "feedback"):
        for path in (measured_course.parent / folder).rglob("*"):
            assert path.name != secret.name, path
            assert not path.is_file() or text not in path.read_text(encoding="utf-8", errors="replace"), path
