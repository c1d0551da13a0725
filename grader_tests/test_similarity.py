"""`coursekit similarity` on a small class: exactly the planted pairs are flagged, and nothing
reaches a student's feedback.

The class: three students who wrote their own answers (ann, cy, gus), bob who handed in ann's
answers with every variable renamed, dee who handed in the instructor's solution, two blank
notebooks (eve, fay: the release as is) and one file that is not a notebook (broken).
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from bs4 import BeautifulSoup

from coursekit.authoring.release import copy_course
from coursekit.authoring.samples import Sample, make_submission
from coursekit.grading.similarity import SOLUTION
from grader_tests.conftest import run_step

ROOT = Path(__file__).resolve().parents[1]
STUB = "# YOUR CODE HERE\n{indent}raise NotImplementedError()"

# Each student's bodies, in the order of the stubs: activations (6 methods), network, l2, dropout.
ANN = {
    "activations": [
        "return torch.clamp(x, min=0)",
        "grad = torch.zeros_like(x)\ngrad[x > 0] = 1\nreturn grad",
        "out = torch.empty_like(x)\npos = x >= 0\nout[pos] = 1 / (1 + torch.exp(-x[pos]))\n"
        "ex = torch.exp(x[~pos])\nout[~pos] = ex / (1 + ex)\nreturn out",
        "sig = self(x)\nreturn sig * (1 - sig)",
        "e_neg = torch.exp(-2 * x.abs())\npos = (1 - e_neg) / (1 + e_neg)\nreturn torch.where(x >= 0, pos, -pos)",
        "th = self(x)\nreturn (1 + th) * (1 - th)",
    ],
    "network": ["hidden = X\nfor lin in [self.input_layer, *self.layers]:\n    hidden = self.activation(lin(hidden))\n"
                "return self.output_layer(hidden)"],
    "l2_penalty": ["flat = w.flatten()\nreturn torch.dot(flat, flat) / 2"],
    "dropout_layer": ["if dropout > 1 or dropout < 0:\n    raise ValueError('bad dropout')\nif dropout == 0:\n"
                      "    return X.clone()\nif dropout == 1:\n    return X * 0\nkeep = torch.bernoulli(torch.full_like(X, 1 - dropout))\n"
                      "return X * keep / (1 - dropout)"],
}
RENAMES = {"grad": "g_out", "out": "result", "pos": "positive", "ex": "e_x", "sig": "s_val", "e_neg": "decay",
           "th": "t_val", "hidden": "act", "lin": "layer_fc", "flat": "vec", "keep": "keep_mask"}
CY = {
    "activations": [
        "return x * (x > 0).to(x.dtype)",
        "return (x > 0).type_as(x)",
        "return 1.0 / (1.0 + torch.exp(-x))",
        "return self(x) * (1 - self(x))",
        "a = torch.exp(x)\nb = torch.exp(-x)\nreturn (a - b) / (a + b)",
        "return 1 - self(x) ** 2",
    ],
    "network": ["h = self.activation(self.input_layer(X))\nfor i in range(len(self.layers)):\n"
                "    h = self.activation(self.layers[i](h))\nlogits = self.output_layer(h)\nreturn logits"],
    "l2_penalty": ["return 0.5 * (w * w).sum()"],
    "dropout_layer": ["assert_ok = 0 <= dropout <= 1\nif not assert_ok:\n    raise ValueError(dropout)\n"
                      "mask = torch.empty_like(X).uniform_(0, 1) >= dropout\n"
                      "return torch.where(mask, X / (1 - dropout), torch.zeros_like(X)) if dropout < 1 else X * 0"],
}
GUS = {
    "activations": [
        "y = x.clone()\ny[y < 0] = 0\nreturn y",
        "return torch.heaviside(x, torch.zeros_like(x))",
        "return torch.exp(-torch.logaddexp(torch.zeros_like(x), -x))",
        "p = self(x)\nreturn p - p * p",
        "return 2 * MySigmoid()(2 * x) - 1",
        "return 1.0 - torch.square(self(x))",
    ],
    "network": ["k = 0\nh = self.activation(self.input_layer(X))\nwhile k < len(self.layers):\n"
                "    h = self.activation(self.layers[k](h))\n    k += 1\nreturn self.output_layer(h)"],
    "l2_penalty": ["total = torch.zeros((), dtype=w.dtype)\nfor v in w.flatten():\n    total = total + v * v\n"
                   "return total / 2"],
    "dropout_layer": ["if dropout < 0 or dropout > 1:\n    raise ValueError('p')\nout = X.clone()\n"
                      "zero = torch.rand_like(X) < dropout\nout[zero] = 0\nif dropout < 1:\n"
                      "    out[~zero] = out[~zero] / (1 - dropout)\nreturn out"],
}


def fill(release_nb, bodies: dict[str, list[str]]):
    """The release notebook with each stub of each answer cell replaced by the next body."""
    nb = nbformat.from_dict(release_nb)
    for cell in nb.cells:
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if gid not in bodies:
            continue
        indent = " " * 8 if gid in ("activations", "network") else " " * 4
        pieces = cell.source.split(STUB.format(indent=indent))
        assert len(pieces) == len(bodies[gid]) + 1, gid
        text = pieces[0]
        for body, rest in zip(bodies[gid], pieces[1:]):
            lines = body.splitlines()
            text += "\n".join([lines[0]] + [indent + line for line in lines[1:]]) + rest
        cell.source = text
    return nb


def renamed(bodies: dict[str, list[str]]) -> dict[str, list[str]]:
    def one(body: str) -> str:
        for old, new in RENAMES.items():
            body = re.sub(rf"(?<![.\w]){old}\b", new, body)
        return body
    return {gid: [one(b) for b in items] for gid, items in bodies.items()}


@pytest.fixture(scope="module")
def small_class(tmp_path_factory):
    config_path = copy_course(ROOT, tmp_path_factory.mktemp("similarity-course"))
    release_path = config_path.parent / "release" / "lab2" / "lab2.ipynb"
    release_nb = nbformat.read(release_path, as_version=4)
    source_nb = nbformat.read(config_path.parent / "source" / "lab2" / "lab2.ipynb", as_version=4)
    submitted = config_path.parent / "submitted"
    notebooks = {
        "ann": fill(release_nb, ANN),
        "bob": fill(release_nb, renamed(ANN)),
        "cy": fill(release_nb, CY),
        "gus": fill(release_nb, GUS),
        "dee": make_submission(release_nb, source_nb, Sample("dee", "the instructor's solution verbatim")),
        "eve": release_nb,
        "fay": release_nb,
    }
    for student, nb in notebooks.items():
        folder = submitted / student / "lab2"
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / "lab2.ipynb")
    (submitted / "broken" / "lab2").mkdir(parents=True)
    (submitted / "broken" / "lab2" / "lab2.ipynb").write_text('{"cells": [ not json', encoding="utf-8")
    result = run_step(config_path, "similarity")
    return config_path, result.stdout


def flagged_pairs(stdout: str) -> set[frozenset[str]]:
    return {frozenset(m.groups()) for m in re.finditer(r"^  (.+?) ~ (.+?): \d+% overall", stdout, re.MULTILINE)}


def test_exactly_the_planted_pairs_are_flagged(small_class):
    _, stdout = small_class
    assert flagged_pairs(stdout) == {frozenset({"ann", "bob"}), frozenset({"dee", SOLUTION})}, stdout
    assert "2 flagged pair(s)" in stdout
    assert "blank (answer cells as released, not compared): eve" in stdout
    assert "blank (answer cells as released, not compared): fay" in stdout
    assert re.search(r"unreadable, skipped: broken: lab2.ipynb is not a readable notebook", stdout)
    assert "5 compared, 2 blank, 1 unreadable" in stdout


def test_page_shows_both_answers_side_by_side_with_the_matches_marked(small_class):
    config_path, _ = small_class
    page = config_path.parent / "reports" / "lab2" / "similarity.html"
    soup = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
    pairs = soup.find_all("details")
    assert sorted(p.summary.get_text(" ", strip=True).split(":")[0].strip() for p in pairs) == \
        ["ann ~ bob", f"dee ~ {SOLUTION}"]
    ann_bob = next(p for p in pairs if "ann ~ bob" in p.summary.get_text())
    sides = ann_bob.find_all("div", class_="side")
    assert [h.get_text().split(":")[0] for h in ann_bob.find_all("h4")] == \
        ["activations", "network", "dead_units", "l2_penalty", "dropout_layer"], "one block per answer cell"
    left, right = sides[0].find_all("pre")
    marked_left = " ".join(m.get_text() for m in left.find_all("mark"))
    marked_right = " ".join(m.get_text() for m in right.find_all("mark"))
    assert "torch.clamp(x, min=0)" in marked_left
    assert "g_out" in marked_right and "grad" in marked_left, "the renamed copy is matched on the renamed lines"
    assert left.find("span", class_="released") is not None, "the released skeleton is shown, dimmed"
    text = soup.get_text(" ")
    assert "eve" in text and "fay" in text and "broken" in text
    assert "cy ~" not in " ".join(p.summary.get_text() for p in pairs)


def test_nothing_is_written_for_students(small_class):
    config_path, _ = small_class
    feedback = config_path.parent / "feedback"
    assert not feedback.exists() or not any(feedback.rglob("*"))
    written = {p.relative_to(config_path.parent).as_posix() for p in (config_path.parent / "reports").rglob("*")}
    assert written == {"reports/lab2", "reports/lab2/similarity.html"}
