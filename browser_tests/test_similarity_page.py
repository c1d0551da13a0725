"""The similarity report's page in chromium at 1,280 px: no horizontal scroll, the histogram drawn, the
flagged pairs side by side. The class is the benchmark's (benchmarks/similarity.py, seed 0): copies of
every kind, textbook-sharing students, long lines. A screenshot of the page is saved."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nbformat
import pytest

from coursekit.config import load_config
from coursekit.grading.similarity import compare_class, write_html

ROOT = Path(__file__).resolve().parents[1]
WIDTH = 1280


@pytest.fixture(scope="module")
def page_file(tmp_path_factory) -> Path:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import similarity as benchmark
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    config = load_config(ROOT / "course.toml")
    notebook = config.assignment("lab2").notebook
    release = ROOT / "release" / "lab2" / notebook
    source = ROOT / "source" / "lab2" / notebook
    release_nb = nbformat.read(release, as_version=4)
    released = benchmark.code_answer_cells(release_nb)
    solution = {gid: benchmark.without_solution_markers(text)
                for gid, text in benchmark.code_answer_cells(nbformat.read(source, as_version=4)).items()}
    works, _, _ = benchmark.build_class(0, 20, released, solution)
    folder = tmp_path_factory.mktemp("similarity-class") / "submitted"
    benchmark.write_class(folder, works, release_nb, notebook)
    result = compare_class("lab2", release, source, folder, notebook, config.similarity, root=ROOT)
    assert result.flagged, "the class has flagged pairs to show"
    return write_html(result, folder.parent / "reports" / "lab2" / "similarity.html")


def test_the_page_fits_1280_pixels_and_shows_the_evidence(browser, page_file, tmp_path_factory):
    context = browser.new_context(viewport={"width": WIDTH, "height": 900})
    page = context.new_page()
    try:
        page.goto(page_file.as_uri(), wait_until="load")
        widths = page.evaluate("() => [document.documentElement.scrollWidth, document.documentElement.clientWidth,"
                               " document.body.scrollWidth]")
        assert widths[0] <= widths[1] == WIDTH and widths[2] <= WIDTH, f"horizontal overflow: {widths}"
        overflowing = page.evaluate("""() => [...document.querySelectorAll('pre, table, svg, h4, p')]
            .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 0.5)
            .map(e => e.tagName + ': ' + e.textContent.slice(0, 60))""")
        assert overflowing == [], overflowing
        svg = page.locator("svg.histogram")
        assert svg.count() == 1 and svg.bounding_box()["width"] > 300
        assert page.locator("svg.histogram line.threshold").count() == 1
        assert page.locator("details[open] .side").count() >= 5
        assert page.locator("mark.rare").count() > 0 and page.locator("mark.common").count() > 0
        assert page.locator("span.released mark").count() == 0, "the released skeleton is never marked"
        first = page.locator("table td.reason").first.inner_text()
        assert "characters in common that" in first
        folder = Path(os.environ.get("COURSE_SCREENSHOTS") or "/tmp/similarity-screenshots")
        folder.mkdir(parents=True, exist_ok=True)
        shot = folder / "similarity-page-1280.png"
        page.screenshot(path=str(shot), full_page=False)
        page.locator("details").first.screenshot(path=str(folder / "similarity-pair-1280.png"))
        assert shot.stat().st_size > 10_000
    finally:
        context.close()
