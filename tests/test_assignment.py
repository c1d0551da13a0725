"""The instructor notebook's structure: graded cells, points, test-cell shape, the lab's sections."""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat
import pytest

from coursekit.config import load_config
from coursekit.authoring.release import check_points, notebook_points
from coursekit.authoring.samples import answers, solution_text
from dlcourse.lab2 import PARTS

ROOT = Path(__file__).resolve().parents[1]
CONFIG = load_config(ROOT / "course.toml")
LAB2 = CONFIG.assignment("lab2")
SOURCE = nbformat.read(CONFIG.directory("source") / "lab2" / LAB2.notebook, as_version=4)


def nbgrader(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def test_points_agree_with_course_toml_and_total_100():
    check_points(CONFIG, "lab2")
    assert notebook_points(CONFIG.directory("source") / "lab2" / LAB2.notebook) == {
        k: float(v) for k, v in LAB2.points.items()}
    assert LAB2.total_points == 100
    manual = [gid for gid in LAB2.points if gid.startswith("answer_q")]
    assert len(manual) == 5 and sum(LAB2.points[g] for g in manual) == 20


def test_grade_ids_unique_and_every_graded_cell_well_formed():
    """Each autograded cell is one part of the assignment (dlcourse.lab2): a docstring and its check() calls; a part
    with hidden cases checks the same criteria on more inputs in its hidden block."""
    ids = [nbgrader(c)["grade_id"] for c in SOURCE.cells if nbgrader(c)]
    assert len(ids) == len(set(ids))
    tests = [c for c in SOURCE.cells if nbgrader(c).get("grade") and not nbgrader(c).get("solution")]
    assert [nbgrader(c)["grade_id"] for c in tests] == [g for g in LAB2.points if g.startswith("test_")]
    assert set(PARTS) == {nbgrader(c)["grade_id"] for c in tests}, "the assignment (dlcourse.lab2) names every autograded cell"
    for cell in tests:
        gid = nbgrader(cell)["grade_id"]
        assert nbgrader(cell)["locked"], gid
        tree = ast.parse(cell.source)
        assert isinstance(tree.body[0], ast.Expr) and isinstance(tree.body[0].value, ast.Constant), \
            f"{gid} starts with a one-line docstring"
        visible, _, rest = cell.source.partition("### BEGIN HIDDEN TESTS")
        assert visible.rstrip().endswith(f'check("{gid}", {_subject(gid)})'), f"{gid}: its visible check comes last"
        if PARTS[gid].hidden:
            hidden = rest.partition("### END HIDDEN TESTS")[0].strip()
            assert hidden == f'check("{gid}", {_subject(gid)}, cases="hidden")', gid
        else:
            assert not rest, f"{gid}: an experiment's criteria are all visible"
        assert len(cell.source.splitlines()) <= 15, f"{gid}: a graded cell stays short"


def _subject(gid: str) -> str:
    """What a part's check() is handed: the student's definition, or the experiment's result."""
    return {"test_gradient_vanishing": "vanishing", "test_relu_death": "death", "test_weight_decay": "wd_runs",
            "test_dropout_experiment": "dropout_runs"}.get(gid, PARTS[gid].definition)


def test_manual_answers_are_markdown_with_rubric():
    for cell in SOURCE.cells:
        meta = nbgrader(cell)
        if meta.get("grade") and meta.get("solution"):
            assert cell.cell_type == "markdown"
            assert "评分要点" in cell.source and "参考答案" in cell.source, meta["grade_id"]


def test_solution_cells_are_the_student_tasks():
    tasks = {"activations", "network", "dead_units", "l2_penalty", "dropout_layer"}
    code_solutions = {nbgrader(c)["grade_id"] for c in SOURCE.cells
                      if nbgrader(c).get("solution") and c.cell_type == "code"}
    assert code_solutions == tasks
    namespace: dict = {}
    exec("import torch\nfrom torch import nn\n" + "\n".join(  # the answers are plain, importable Python
        solution_text(c.source) for c in SOURCE.cells if nbgrader(c).get("grade_id") in tasks), namespace)
    for name in ("MyReLU", "MySigmoid", "MyTanh", "Network", "dead_unit_fraction", "l2_penalty", "dropout_layer"):
        assert name in namespace


def test_every_section_of_the_lab_is_there():
    text = "\n".join(c.source for c in SOURCE.cells)
    for needle in ("## 1. 激活函数", "## 2.", "## 3. 梯度消失", "## 4. ReLU 死亡", "## 5. L2 正则化", "## 6. Dropout",
                   "思考题 1", "思考题 2", "思考题 3", "思考题 4", "思考题 5", "torch.arange(16",
                   "weight_decay", "nn.Dropout", "plot_activations", "plot_vanishing", "plot_relu_death",
                   "plot_weight_decay", "plot_dropout"):
        assert needle in text, needle


@pytest.mark.parametrize("gid", ["activations", "network", "dead_units", "l2_penalty", "dropout_layer"])
def test_release_stub_raises_not_implemented(gid):
    release = nbformat.read(CONFIG.directory("release") / "lab2" / LAB2.notebook, as_version=4)
    cell = next(c for c in release.cells if nbgrader(c).get("grade_id") == gid)
    assert "raise NotImplementedError()" in cell.source
    assert '"""' in cell.source, "the signature keeps its docstring"
    assert gid in answers(SOURCE)


def readme_points() -> dict[str, int]:
    """grade_id -> points from README's Points table ("3 + 3" splits over the row's grade ids;
    "5 × 4" gives 4 to each of the five; `a` … `b` names a range of 思考题)."""
    import re
    section = (ROOT / "README.md").read_text(encoding="utf-8").split("## Points", 1)[1].split("\n## ", 1)[0]
    points: dict[str, int] = {}
    for row in section.splitlines():
        cells = [c.strip() for c in row.strip().strip("|").split("|")]
        if len(cells) != 3 or not cells[0].startswith("`"):
            continue
        ids = re.findall(r"`(\w+)`", cells[0])
        if "…" in cells[0]:
            first, last = int(ids[0][-1]), int(ids[-1][-1])
            ids = [f"{ids[0][:-1]}{n}" for n in range(first, last + 1)]
        if "×" in cells[2]:
            values = [int(cells[2].split("×")[1])] * len(ids)
        else:
            values = [int(v) for v in cells[2].split("+")]
        assert len(values) == len(ids), row
        points.update(zip(ids, values, strict=True))
    return points


def test_readme_points_table_agrees_with_course_toml_and_the_notebook():
    assert readme_points() == LAB2.points


def test_each_experiment_shows_how_it_measures_and_ends_with_an_exploration():
    """Four experiments: each section shows the package code that measures it (show_code) and has one
    exploration cell the student edits, which nbgrader neither locks nor runs while grading."""
    shown = [c for c in SOURCE.cells if c.cell_type == "code" and c.source.startswith("show_code(")]
    assert len(shown) == 4 and all(nbgrader(c).get("locked") for c in shown)
    explorations = [c for c in SOURCE.cells if c.cell_type == "code" and c.source.startswith("# 探索")]
    assert len(explorations) == 4
    for cell in explorations:
        assert not nbgrader(cell), "an exploration cell is the student's to change"
        assert "？" in cell.source, "it asks a question"
    from dlcourse import experiments, training
    for cell in shown:  # every function shown exists in the package
        for name in cell.source.removeprefix("show_code(").rstrip(")").split(", "):
            module, function = name.split(".")
            assert callable(getattr({"experiments": experiments, "training": training}[module], function))
