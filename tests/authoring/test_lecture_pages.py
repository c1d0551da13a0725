"""coursekit.authoring.lectures: a lecture notebook as one page that needs no network, and the command that
writes the pages (executing a lecture for real: tests/lectures/test_lectures.py, whose basename this file
cannot share: pytest imports tests/ files by basename)."""

from __future__ import annotations

import base64
from pathlib import Path

import nbformat
from bs4 import BeautifulSoup
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from coursekit.authoring import lectures

ROOT = Path(__file__).resolve().parents[2]
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(24)).decode()


def lecture() -> nbformat.NotebookNode:
    """A small lecture as it is saved after a run: a formula, a training loop's bar, its printout and figure."""
    return new_notebook(cells=[
        new_markdown_cell("Dropout keeps $1-p$ of the units:\n\n$$h' = \\frac{h}{1-p}$$"),
        new_code_cell("train()", outputs=[
            new_output("display_data", data={lectures.WIDGET_VIEW: {"model_id": "bar"}, "text/plain": "0/10"}),
            new_output("stream", name="stdout", text="epoch 1 loss 0.5\n"),
            new_output("display_data", data={"image/png": PNG, "text/plain": "<Figure>"})])])


def test_a_lecture_page_has_mathml_its_figures_inside_and_nothing_from_the_network():
    nb = lecture()
    page = BeautifulSoup(lectures.lecture_html(nb), "html.parser")
    formulas = page.find_all("math")
    assert [m["display"] for m in formulas] == ["inline", "block"]
    assert formulas[1].find("mfrac") is not None, "the fraction is MathML, not TeX left for a script"
    assert not page.find_all("script") and not page.find_all("link"), "no script or stylesheet to fetch"
    images = [img["src"] for img in page.find_all("img")]
    assert images == [f"data:image/png;base64,{PNG}"], "the figure is in the page"
    text = page.get_text()
    assert "epoch 1 loss 0.5" in text and "0/10" not in text, "the printout stays, the bar's first frame does not"
    assert lectures.WIDGET_VIEW in nb.cells[1].outputs[0].data, "the notebook itself is left as it was"


def test_html_without_executing_writes_one_page_per_notebook_and_leaves_the_notebooks(tmp_path, monkeypatch, capsys):
    notebooks = []
    for name in ("dropout", "stability"):
        path = tmp_path / "notebooks" / f"{name}.ipynb"
        path.parent.mkdir(exist_ok=True)
        nbformat.write(lecture(), path)
        notebooks.append(path)
    before = [p.read_bytes() for p in notebooks]
    monkeypatch.setenv("COURSE_TOML", str(ROOT / "course.toml"))
    out = tmp_path / "html"
    assert lectures.main(["html", "--no-execute", "--out", str(out), *map(str, notebooks)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["dropout.html", "stability.html"]
    assert "<math" in (out / "dropout.html").read_text(encoding="utf-8")
    assert [p.read_bytes() for p in notebooks] == before
    assert "not executed" in capsys.readouterr().out


def test_the_default_notebooks_are_the_courses_lectures():
    assert all((ROOT / name).is_file() for name in lectures.DEFAULT_NOTEBOOKS)
