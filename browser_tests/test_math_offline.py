"""Formulas render with the network off: a feedback page and a lecture page in chromium.

A scratch course is built (``coursekit build``); a submission whose 思考题 2 answer and TA comment
hold formulas is entered in the gradebook and its feedback written by the real ``nbgrader
generate_feedback`` (the course's settings: coursekit.grading.htmlmath's exporter). The page is
copied alone into a student's feedback folder and opened from there, as a student opens it. Both
lectures are written by ``python -m coursekit.authoring.lectures html --no-execute`` (their math is
in the text; the executed notebooks are checked in tests/lectures/). chromium runs offline
(``set_offline``) and every request that is not for a local file is aborted and recorded.

On each page: nothing was requested from the network; every ``<math>`` element is laid out by the
browser as MathML (computed ``display`` ``math``, i.e. inline math, or ``block math``) with a non-zero box; fractions have
their numerator above their denominator; the rendered text (markdown cells, the TA's comment) shows no LaTeX.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import nbformat
import pytest

from browser_tests.conftest import CHROMIUM, mirror_path

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is not installed (CI installs Debian's chromium with apt-get)", allow_module_level=True)
pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed (pip install -e '.[dev]')")

from coursekit.authoring.lectures import DEFAULT_NOTEBOOKS, render_html  # noqa: E402
from coursekit.authoring.release import copy_course  # noqa: E402
from coursekit.config import load_config  # noqa: E402
from coursekit.grading.nbgrader_settings import open_gradebook  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
STUDENT = "mathstudent"
ANSWER = ("反向传播时每经过一层，梯度乘上 $\\sigma'(z) \\le \\tfrac14$ 和权重矩阵 $\\mathbf{W}^{(l)}$，"
          "所以 $$\\Bigl\\|\\frac{\\partial \\ell}{\\partial \\mathbf{h}^{(1)}}\\Bigr\\| \\le "
          "\\prod_{l=2}^{L} \\tfrac14\\,\\|\\mathbf{W}^{(l)}\\|$$ 顺便一提，一杯咖啡 $5。")
COMMENT = "推导对，再说明 $\\|\\mathbf{W}\\| > 4$ 时会怎样：$\\dfrac{1}{4}\\cdot 8 = 2$。"

#: In the page: the <math> elements, how the browser lays them out, and the text around them.
MEASURE = """() => {
  const maths = Array.from(document.querySelectorAll('math'));
  const boxes = maths.map(m => m.getBoundingClientRect());
  const fractions = Array.from(document.querySelectorAll('mfrac')).map(f => {
    const [num, den] = Array.from(f.children).map(c => c.getBoundingClientRect());
    return num.bottom <= den.top + 1 && num.width > 0 && den.width > 0;
  });
  const prose = Array.from(document.querySelectorAll('.text_cell_render, .jp-RenderedMarkdown, .panel-footer'))
    .map(e => e.innerText).join('\\n');
  return {count: maths.length,
          displays: Array.from(new Set(maths.map(m => getComputedStyle(m).display))),
          empty: boxes.filter(b => !(b.width > 0 && b.height > 0)).length,
          blocks: document.querySelectorAll('math[display="block"]').length,
          fractions: fractions.length, stacked: fractions.filter(Boolean).length, prose: prose};
}"""


@pytest.fixture(scope="module")
def pages(tmp_path_factory) -> dict[str, Path]:
    """{name: HTML file}: the feedback page in a student's feedback folder, and the two lectures."""
    base = tmp_path_factory.mktemp("math-offline")
    config_path = copy_course(ROOT, base / "course", with_release=False)
    env = {**os.environ, "COURSE_DATA_MIRROR": str(mirror_path()),
           "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")}
    course_dir = config_path.parent

    def run(*command: str) -> None:
        result = subprocess.run([sys.executable, "-m", *command], cwd=course_dir, env=env, capture_output=True,
                                text=True)
        assert result.returncode == 0, f"{command} failed:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"

    run("coursekit", "--config", str(config_path), "build")
    config = load_config(config_path)
    notebook = nbformat.read(config.directory("release") / "lab2" / "lab2.ipynb", as_version=4)
    answer = next(c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "answer_q2")
    answer.source = ANSWER
    submission = config.directory("autograded") / STUDENT / "lab2"
    submission.mkdir(parents=True)
    nbformat.write(notebook, submission / "lab2.ipynb")
    (submission / "timestamp.txt").write_text("2026-01-05 12:00:00.000000 UTC")
    with warnings.catch_warnings(), open_gradebook(config) as gradebook:
        warnings.simplefilter("ignore")  # SQLAlchemy's autoflush notes from inside nbgrader's add_submission
        gradebook.add_student(STUDENT)
        gradebook.add_submission("lab2", STUDENT)
        gradebook.find_comment("answer_q2", "lab2", "lab2", STUDENT).manual_comment = COMMENT
        gradebook.db.commit()
    run("nbgrader", "generate_feedback", "lab2", f"--student={STUDENT}", "--force")

    # a student keeps the one page in their own folder, away from the course
    feedback = base / "student" / "lab2" / "feedback" / "2026-01-06 09:00:00.000000 UTC" / "lab2.html"
    feedback.parent.mkdir(parents=True)
    shutil.copy(config.directory("feedback") / STUDENT / "lab2" / "lab2.html", feedback)
    lectures = render_html([ROOT / name for name in DEFAULT_NOTEBOOKS], base / "lectures", execute=False)
    return {"feedback": feedback, **{page.stem: page for page in lectures}}


@pytest.fixture(scope="module")
def offline_browser(browser):
    """The session's chromium (one Playwright per test session); each test's context is set offline."""
    return browser


def open_offline(browser, page_file: Path):
    """The page opened from its file with the network off; returns (page, requests that were refused)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    context.set_offline(True)
    refused: list[str] = []

    def route(route):
        if route.request.url.startswith("file:"):
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.goto(page_file.as_uri(), wait_until="load")
    return page, refused


@pytest.mark.parametrize("name, least", [("feedback", 40), ("dropout", 30), ("numerical_stability", 30)])
def test_formulas_render_offline(offline_browser, pages, name, least, tmp_path):
    page, refused = open_offline(offline_browser, pages[name])
    try:
        seen = page.evaluate(MEASURE)
        page.locator("math[display=block]").first.scroll_into_view_if_needed()
        page.screenshot(path=str(tmp_path / f"{name}.png"))
    finally:
        page.context.close()
    where = f"{pages[name]} (screenshot {tmp_path / f'{name}.png'})"
    assert refused == [], f"{where} asked the network for {refused}"
    assert seen["count"] >= least, f"{where}: only {seen['count']} formulas"
    assert set(seen["displays"]) <= {"math", "inline math", "block math"}, f"{where}: not laid out as MathML: {seen['displays']}"
    assert seen["empty"] == 0, f"{where}: {seen['empty']} formulas have an empty box"
    assert seen["blocks"] >= 2 and seen["fractions"] >= 3 and seen["stacked"] == seen["fractions"], (where, seen)
    for raw in ("\\frac", "\\dfrac", "\\tfrac", "\\sigma", "\\mathbf", "\\le", "$$", "^{", "_{"):
        assert raw not in seen["prose"], f"{where}: {raw!r} is visible"
    if name == "feedback":
        assert "一杯咖啡 $5。" in seen["prose"], "a price is shown as written"
        assert "推导对，再说明" in seen["prose"], "the TA's comment is shown"
