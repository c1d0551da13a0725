"""coursekit.grading.htmlmath: LaTeX in markdown becomes MathML, code and prices stay as they are.

The formulas of the course's own notebooks are collected from the files here, with nbconvert's own
math parser (what MathJax would have typeset), so a formula added to a notebook later is covered too.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from coursekit.authoring.lectures import lecture_html
from coursekit.grading.htmlmath import (OFFLINE_LAB_TEMPLATE, MathError, MathMLHTMLExporter, find_formulas,
                                        markdown_with_mathml, to_mathml)

ROOT = Path(__file__).resolve().parents[2]
#: Every notebook whose text a student reads as HTML: the lab (source and release) and the lectures.
NOTEBOOKS = sorted([*ROOT.glob("source/*/*.ipynb"), *ROOT.glob("release/*/*.ipynb"), *ROOT.glob("notebooks/*.ipynb")])


class _MathRecorder(IPythonRenderer):
    """nbconvert's markdown renderer, noting every formula it would leave to MathJax."""

    def __init__(self) -> None:
        super().__init__(escape=False)
        self.formulas: list[str] = []

    def block_math(self, body: str) -> str:
        self.formulas.append(body)
        return super().block_math(body)

    def inline_math(self, body: str) -> str:
        self.formulas.append(body)
        return super().inline_math(body)

    def latex_environment(self, name: str, body: str) -> str:
        self.formulas.append(f"\\begin{{{name}}}{body}\\end{{{name}}}")
        return super().latex_environment(name, body)

    def multiline_math(self, text: str) -> str:
        self.formulas.append(text)
        return super().multiline_math(text)


def nbconvert_formulas(markdown: str) -> list[str]:
    """The formulas nbconvert's markdown parser finds in a text, whitespace-trimmed."""
    recorder = _MathRecorder()
    MarkdownWithMath(renderer=recorder).render(markdown)
    return [formula.strip() for formula in recorder.formulas]


def markdown_cells(path: Path) -> list[str]:
    return [cell.source for cell in nbformat.read(path, as_version=4).cells if cell.cell_type == "markdown"]


def course_formulas() -> list[tuple[str, str]]:
    """(notebook, formula) for every distinct formula nbconvert finds in the course's notebooks."""
    found = {}
    for path in NOTEBOOKS:
        for source in markdown_cells(path):
            for formula in nbconvert_formulas(source):
                found.setdefault(formula, path.relative_to(ROOT).as_posix())
    return [(where, formula) for formula, where in found.items()]


def visible_text(html: str) -> str:
    return re.sub(r"<[^>]+>", "", html)


# --- the course's own notebooks -------------------------------------------------------------

def test_the_course_notebooks_have_formulas_to_check():
    assert {p.parent.name for p in NOTEBOOKS} >= {"lab2", "notebooks"}
    assert len(course_formulas()) > 50


@pytest.mark.parametrize("where, tex", course_formulas(), ids=lambda value: value[:40])
def test_every_formula_of_the_course_converts(where, tex):
    mathml = to_mathml(tex)  # inline or display: the same conversion
    assert mathml.startswith("<math display=") and mathml.endswith("</math>")
    assert "\\" not in visible_text(mathml), f"{where}: LaTeX left in the MathML of {tex!r}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_formula_of_a_notebook_is_left_for_mathjax(path):
    """After the conversion nbconvert finds no formula left in any markdown cell of the notebook."""
    for source in markdown_cells(path):
        converted = markdown_with_mathml(source)
        assert converted.failures == [], [str(f) for f in converted.failures]
        assert nbconvert_formulas(converted.text) == [], source[:200]
        ours = {f.tex.strip() for f in find_formulas(source)}
        assert set(nbconvert_formulas(source)) <= ours, "a formula nbconvert sees was not found"


# --- where formulas are, and where they are not --------------------------------------------

@pytest.mark.parametrize("text", [
    "一杯咖啡 $5，两杯 $10。",
    "costs $5 and $10 today",
    "$20,000 and $30,000",
    "an escaped \\$x\\$ pair",
    "a lone $ sign",
    "`$x$` in a code span",
    "``a `$x$` b`` in a double-backtick span",
    "```python\nprice = \"$x$\"\n```",
    "~~~\n$$a$$\n~~~",
    "text\n\n    $indented$ code\n\nmore",
    "<code>$x$</code> and <pre>$$y$$</pre>",
])
def test_what_is_not_math_is_left_alone(text):
    assert find_formulas(text) == []
    assert markdown_with_mathml(text).text == text


def test_formulas_and_their_kind():
    text = ("inline $a_1$, display $$\\frac{1}{2}$$, \\(b\\) and \\[c\\], list:\n\n- item\n\n    $d$ continues it\n\n"
            "\\begin{align*} e &= f \\end{align*}")
    assert [(f.tex, f.display) for f in find_formulas(text)] == [
        ("a_1", False), ("\\frac{1}{2}", True), ("b", False), ("c", True), ("d", False),
        ("\\begin{align*} e &= f \\end{align*}", True)]


def test_code_next_to_math_is_kept_and_math_converted():
    text = "`dropout_layer($X$)` returns $\\dfrac{h}{1-p}$\n```\n$raw$\n```\n"
    converted = markdown_with_mathml(text).text
    assert converted.startswith("`dropout_layer($X$)` returns <math display=\"inline\">")
    assert converted.endswith("</math>\n```\n$raw$\n```\n")


def test_a_formula_does_not_cross_a_paragraph():
    assert find_formulas("first $a\n\nsecond b$") == []


# --- MathML that markdown leaves alone -----------------------------------------------------

def test_markdown_does_not_touch_the_mathml():
    """Underscores, stars and bars inside formulas survive nbconvert's markdown, in a table too."""
    source = "| norm | product |\n|---|---|\n| $\\|w\\|_2$ | $a_1 * b_1 * c$ |\n\ntext $x_1 + y_2 * z * w_3$ and _emphasis_ outside"
    html = MarkdownWithMath(renderer=IPythonRenderer(escape=False)).render(markdown_with_mathml(source).text)
    assert re.findall(r"<em>(.*?)</em>", html) == ["emphasis"] and "<strong>" not in html
    assert html.count("<td>") == 2 and html.count("<math") == 3
    assert "‖" in html or "&#x02016;" in html


def test_cases_with_row_gap_and_display_style():
    mathml = to_mathml("h' = \\begin{cases} 0, & p, \\\\[2pt] \\dfrac{h}{1-p}, & 1-p. \\end{cases}", display=True)
    assert mathml.startswith('<math display="block">')
    assert mathml.count("<mtr>") == 2 and "2pt" not in mathml
    assert 'displaystyle="true"' in mathml  # \dfrac


@pytest.mark.parametrize("tex, shown", [("\\Bigl\\|x\\Bigr\\|", "‖"), ("\\bigl\\{x\\bigr\\}", "&#123;"),
                                        ("\\bigl\\langle x\\bigr\\rangle", "⟨"), ("\\bigl\\lvert x\\bigr\\rvert", "&#124;"),
                                        ("\\bigl(1-\\sigma(x)\\bigr)", "&#40;")])
def test_sized_delimiters(tex, shown):
    mathml = to_mathml(tex)
    assert mathml.count(f'maxsize="1.') == 2 and shown in mathml


def test_aligned_and_arg():
    mathml = to_mathml("\\begin{aligned} a &= \\arg\\min_w f \\\\ c &= d \\end{aligned}", display=True)
    assert mathml.count("<mtr>") == 2 and mathml.count("<mtd") == 4 and "<mo>arg</mo>" in mathml


def test_an_empty_sized_delimiter_shows_nothing():
    mathml = to_mathml("\\Bigl. x \\Bigr|")
    assert mathml.count("<mo") == 1 and "&#46;" not in mathml


@pytest.mark.parametrize("tex, reason", [("\\foo{x}", "unknown command"), ("x^", "MissingSuperScriptOrSubscript"),
                                         ("a & b", "'&' outside")])
def test_what_latex2mathml_cannot_show_is_an_error(tex, reason):
    with pytest.raises(MathError, match=re.escape(reason)):
        to_mathml(tex)


def test_a_formula_that_fails_stays_as_it_was_and_is_reported():
    converted = markdown_with_mathml("good $x^2$, bad $\\foo{x}$.")
    assert converted.text.startswith("good <math") and converted.text.endswith(", bad $\\foo{x}$.")
    assert [f.tex for f in converted.failures] == ["\\foo{x}"]


# --- the HTML pages --------------------------------------------------------------------------

def small_notebook():
    nb = new_notebook(cells=[
        new_markdown_cell("# 标题\n\n$E[h'] = h$，价格 $5。\n\n$$\\sum_{i=1}^{d} w_i^2$$"),
        new_code_cell("x = '$y$'", outputs=[new_output("display_data", data={"text/markdown": "结果 $\\tfrac14$",
                                                                             "text/plain": "结果"})]),
    ])
    nb.cells[0].metadata["nbgrader"] = {"grade": True, "solution": True, "grade_id": "answer_q1", "points": 4,
                                        "score": 3, "comment": "助教：$\\sigma'(x) \\le \\tfrac14$ 写得对"}
    return nb


def assert_offline_math(html: str) -> None:
    assert not re.search(r"<script[^>]*\bsrc=", html), "a script from the network"
    assert not re.search(r"<script|MathJax|mathjax/|cdnjs", html), "MathJax or another script is still loaded"
    assert "$E[h'] = h$" not in html and "\\sum" not in html and "\\tfrac" not in html


def test_the_lecture_page_has_mathml_and_no_script():
    html = lecture_html(small_notebook())
    assert_offline_math(html)
    assert html.count("<math") == 3  # two in the markdown cell, one in the markdown output
    assert "价格 $5。" in html, "a price is not math"
    assert "<span class=\"s1\">'$y$'</span>" in html, "code is shown as written"


def test_generate_feedback_uses_the_exporter_with_nbgrader_s_feedback_template():
    """The exporter nbgrader's GenerateFeedback makes from the course's settings, TA comments included."""
    from nbgrader.converters import GenerateFeedback
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config import Config

    from coursekit.config import load_config
    from coursekit.grading.nbgrader_settings import nbgrader_settings

    config = Config({"GenerateFeedback": nbgrader_settings(load_config(ROOT / "course.toml"))["GenerateFeedback"]})
    converter = GenerateFeedback(coursedir=CourseDirectory(config=config), config=config)
    exporter = converter.exporter_class(parent=converter, config=converter.config)
    assert isinstance(exporter, MathMLHTMLExporter)
    html, _ = exporter.from_notebook_node(small_notebook(), resources={"nbgrader": {
        "notebook": "lab2", "score": 3, "max_score": 4, "late_penalty": 0}})
    assert_offline_math(html)
    assert "Student's answer" in html and "Comments:" in html
    assert html.count("<math") == 4  # the cell's two, the TA's comment, the markdown output


def test_the_offline_lab_template_is_the_lab_template():
    exporter = MathMLHTMLExporter(template_file=OFFLINE_LAB_TEMPLATE)
    html, _ = exporter.from_notebook_node(small_notebook())
    assert "jp-Notebook" in html and "jp-MarkdownCell" in html


def test_widget_outputs_show_their_text_and_load_nothing():
    """A widget saved with its state: the page shows the output's text and loads no widget manager."""
    nb = new_notebook(cells=[new_code_cell("train()", outputs=[new_output("display_data", data={
        "application/vnd.jupyter.widget-view+json": {"model_id": "m1", "version_major": 2, "version_minor": 0},
        "text/plain": "from scratch: 100%|██████████| 30/30"})])])
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {
        "state": {"m1": {"model_name": "HBoxModel", "model_module": "@jupyter-widgets/controls",
                         "model_module_version": "2.0.0", "state": {}}}, "version_major": 2, "version_minor": 0}}
    html, _ = MathMLHTMLExporter(template_file=OFFLINE_LAB_TEMPLATE).from_notebook_node(nb)
    assert "from scratch: 100%|██████████| 30/30" in html
    assert "<script" not in html and "unpkg" not in html
    assert "widgets" in nb.metadata, "the notebook itself is not changed"
