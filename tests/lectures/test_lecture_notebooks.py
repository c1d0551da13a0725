"""The lecture notebooks in notebooks/: committed clean, and they run top to bottom.

Each notebook is executed with nbclient at the small ``grading`` profile (COURSE_PROFILE=grading,
MPLBACKEND=Agg, the MNIST mirror of tests/conftest.py) and must finish in under 90 s with no
error output. Every figure cell must show exactly one image. The notebooks ``assert`` the effects
they teach (an assert that fails is an error output), and the printed values are checked here too;
tests/test_lectures.py checks the same effects on the library functions directly.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from coursekit.authoring.lectures import lecture_html
from coursekit.grading.htmlmath import find_formulas
from coursekit.partkit.profiles import environment

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
TIME_LIMIT = 90  # seconds per notebook at the grading profile

#: notebook -> the plotting calls whose cells must each show one figure
FIGURES = {
    "dropout.ipynb": ["lectures.plot_dropout_means(", "plotting.plot_dropout(",
                      "lectures.plot_dropout_sweep("],
    "numerical_stability.ipynb": ["lectures.plot_sigmoid_grad(", "lectures.plot_matrix_products(",
                                  "lectures.plot_variance_by_depth("],
}


def code_cells(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [cell for cell in nb.cells if cell.cell_type == "code"]


def text_of(cell: nbformat.NotebookNode) -> str:
    parts = []
    for output in cell.get("outputs", []):
        if output.output_type == "stream":
            parts.append(output.text)
        elif "data" in output:
            parts.append(output.data.get("text/markdown", output.data.get("text/plain", "")))
    return "".join(parts)


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_committed_without_outputs_and_without_helpers(name):
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(nb)
    for cell in code_cells(nb):
        assert cell.outputs == [] and cell.execution_count is None, "commit notebooks without outputs"
        assert not re.search(r"^\s*(def|class) ", cell.source, re.MULTILINE), (
            "reusable code belongs in dlcourse.lectures, not in the notebook")
    sources = "\n".join(cell.source for cell in code_cells(nb))
    assert "from dlcourse import start" in sources and "session = start()" in sources
    headings = [line for cell in nb.cells if cell.cell_type == "markdown"
                for line in cell.source.splitlines() if line.startswith("## ")]
    assert "## 练习" in headings and "## 与 Lab 2 的对应" in headings


@pytest.fixture(scope="module")
def executed(mnist_mirror: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Both notebooks executed once at the grading profile: {name: (notebook, seconds)}."""
    results = {}
    with environment(COURSE_PROFILE="grading", MPLBACKEND="Agg", COURSE_DATA_MIRROR=str(mnist_mirror)):
        for name in sorted(FIGURES):
            nb = nbformat.read(NOTEBOOKS / name, as_version=4)
            started = time.monotonic()
            client = NotebookClient(nb, timeout=TIME_LIMIT, kernel_name="python3", allow_errors=True,
                                    resources={"metadata": {"path": str(NOTEBOOKS)}})
            client.execute()
            results[name] = (nb, time.monotonic() - started)
            nbformat.write(nb, tmp_path_factory.mktemp("executed") / name)  # for a look after a failure
    return results


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_runs_without_error_within_the_time_limit(executed, name):
    nb, seconds = executed[name]
    errors = [f"{out.ename}: {out.evalue}" for cell in code_cells(nb) for out in cell.outputs
              if out.output_type == "error"]
    assert not errors, errors
    assert all(cell.execution_count is not None for cell in code_cells(nb)), "every cell ran"
    assert "profile = grading" in text_of(code_cells(nb)[0])
    assert seconds < TIME_LIMIT, f"{name} took {seconds:.0f} s at the grading profile"


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_each_figure_is_shown_once(executed, name):
    nb, _ = executed[name]
    for call in FIGURES[name]:
        cells = [cell for cell in code_cells(nb) if call in cell.source]
        assert len(cells) == 1, f"one cell calls {call}"
        images = [out for out in cells[0].outputs if "image/png" in out.get("data", {})]
        assert len(images) == 1, f"the cell calling {call} shows {len(images)} figures"


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_the_executed_lecture_as_html_needs_no_network(executed, name):
    """What `python -m coursekit.authoring.lectures html` writes: figures embedded, formulas as MathML
    (every formula of the text, none failing), no script at all, no progress bar frozen at its start."""
    nb, _ = executed[name]
    page = lecture_html(nb)
    assert "<script" not in page and "cdnjs" not in page
    assert "it/s]" not in page
    assert page.count('src="data:image/png;base64,') >= len(FIGURES[name])
    formulas = sum(len(find_formulas(cell.source)) for cell in nb.cells if cell.cell_type == "markdown")
    assert formulas > 20 and page.count("<math") == formulas


def test_no_link_to_the_instructor_notebook():
    """Students receive the lectures: nothing in them may point at source/ (the solutions)."""
    for path in [*NOTEBOOKS.glob("*.ipynb"), NOTEBOOKS / "README.md", *(ROOT / "coursekit" / "lectures").glob("*.py")]:
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"(?<![\w.-])(\.\./)*source/\w", text), f"{path.relative_to(ROOT)} points into source/"


def test_dropout_notebook_effects(executed):
    nb, _ = executed["dropout.ipynb"]
    out = "\n".join(text_of(cell) for cell in code_cells(nb))
    # the 2x8 demo: p = 1 gives all zeros
    assert re.search(r"p = 1\.0:\ntensor\(\[\[0\., 0\., 0\.", out)
    # the Monte Carlo table: unscaled/test ratio next to 1 - p for each p
    rows = re.findall(r"^\| (0\.\d+) \| [^|]+ \| [^|]+ \| [^|]+ \| ([0-9.]+) \| ([0-9.]+) \|", out, re.MULTILINE)
    assert [float(p) for p, _, _ in rows] == [0.2, 0.5, 0.8]
    for p, ratio, one_minus_p in rows:
        assert abs(float(ratio) - float(one_minus_p)) < 0.05
        assert float(one_minus_p) == pytest.approx(1 - float(p))
    assert "train 模式，两次输出相同吗？ False" in out
    assert "eval  模式，两次输出相同吗？ True" in out
    assert "从零实现：训练准确率" in out and "nn.Dropout：训练准确率" in out
    assert re.search(r"T = \d+ 次前向传播取平均：测试准确率 0\.\d+", out)


def test_numerical_stability_notebook_effects(executed):
    nb, _ = executed["numerical_stability.ipynb"]
    out = "\n".join(text_of(cell) for cell in code_cells(nb))
    assert "最大值 0.2500，在 x = 0.0 处" in out
    norm_100 = float(re.search(r"前 100 个矩阵之积的范数：([0-9.e+]+)", out).group(1))
    assert norm_100 > 1e10
    assert "两个单元权重之差的最大值：0.0" in out
    rows = {(act, scheme): (float(a), float(g), float(r)) for act, scheme, a, g, r in re.findall(
        r"^\| (identity|tanh) \| (default|xavier|small) \| ([0-9.e+-]+) \| ([0-9.e+-]+) \| ([0-9.e+-]+) \|",
        out, re.MULTILINE)}
    assert len(rows) == 6
    assert rows[("identity", "xavier")][0] <= 2 and rows[("identity", "xavier")][1] <= 2
    assert rows[("identity", "small")][2] < 1e-6
