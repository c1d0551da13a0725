"""Feedback teaches without giving the hidden tests away; the class report tells the truth."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest
from bs4 import BeautifulSoup

from coursekit.config import load_config
from grader_tests.conftest import coursekit, run_step
from grader_tests.test_sample_grades import EXPECTED_LOST, TESTS

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "source" / "lab2" / "lab2.ipynb"


def hidden_lines() -> set[str]:
    """Every line between the hidden-test markers in source/, less blanks, comments and short lines."""
    lines, inside = set(), False
    for cell in nbformat.read(SOURCE, as_version=4).cells:
        for line in cell.source.splitlines():
            if "BEGIN HIDDEN TESTS" in line:
                inside = True
            elif "END HIDDEN TESTS" in line:
                inside = False
            elif inside and len(line.strip()) >= 12 and not line.strip().startswith("#"):
                lines.add(line.strip())
    return lines


def page_text(path: Path) -> str:
    return BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser").get_text()


def feedback_path(config, student: str) -> Path:
    return config.directory("feedback") / student / "lab2" / "lab2.html"


def summary_rows(path: Path) -> list[list[str]]:
    """The cells of the summary table (the first table of the feedback page)."""
    table = BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser").find("table")
    return [[td.get_text(" ", strip=True).replace("\u00a0", " ") for td in tr.find_all("td")]
            for tr in table.find_all("tr")[1:]]


def test_summary_table_shows_exactly_the_lost_parts(graded_config):
    source = nbformat.read(SOURCE, as_version=4)
    labels = {c.metadata["nbgrader"]["grade_id"]: c.source.splitlines()[0].strip('"') for c in source.cells
              if c.metadata.get("nbgrader", {}).get("grade_id") in TESTS}
    for student in ("partial", "reference", "blank"):
        rows = summary_rows(feedback_path(graded_config, student))
        assert len(rows) == len(TESTS) + 5, "every autograded part and 5 思考题"
        failed = {label for label, _, status in rows if status.startswith("✗")}
        expected = {labels[gid] for gid in EXPECTED_LOST[student]}
        assert {row[0] for row in rows if row[0] in labels.values()} == set(labels.values())
        assert failed & set(labels.values()) == expected, student
        assert all(status.startswith("✓") for label, _, status in rows
                   if label in labels.values() and label not in expected), student
    partial = {row[0]: row for row in summary_rows(feedback_path(graded_config, "partial"))}
    assert partial[labels["test_dropout_scaling"]][1] == "0 / 4"
    assert "1 - dropout" in partial[labels["test_dropout_scaling"]][2], "the status line says why"
    assert partial[labels["test_dropout_keep_rate"]][1:] == ["4 / 4", "✓ 通过"], "partial credit inside dropout"
    assert partial[labels["test_relu"]][1:] == ["3 / 3", "✓ 通过"]
    assert any("思考题 1" in row[0] and "待助教评分" in row[2] for row in partial.values())


def test_each_failed_test_explains_itself_and_the_figures_are_there(graded_config):
    path = feedback_path(graded_config, "partial")
    text = page_text(path)
    assert "保留的元素应等于 X / (1 - dropout)" in text
    assert "测试损失与训练损失之差" in text
    assert "Traceback" not in text and "----> " not in text, "a message, not a traceback"
    assert path.read_text(encoding="utf-8").count("data:image/png;base64") >= 4


@pytest.mark.parametrize("student", sorted(EXPECTED_LOST))
def test_no_hidden_test_line_reaches_any_feedback(graded_config, student):
    text = page_text(feedback_path(graded_config, student))
    secret = hidden_lines()
    assert len(secret) >= 12, "one hidden check per part with hidden cases"
    leaked = sorted(line for line in secret if line in text)
    assert not leaked, f"{student}'s feedback shows hidden-test lines: {leaked[:3]}"
    assert "隐藏测试：评分时运行，代码不显示" in text


def test_the_course_toml_switch_shows_the_hidden_tests(graded_course, tmp_path):
    course = tmp_path / "course"
    shutil.copytree(graded_course.parent, course)
    config_path = course / "course.toml"
    config_path.write_text(config_path.read_text().replace("show_hidden_tests = false", "show_hidden_tests = true"))
    run_step(config_path, "feedback")
    shown = page_text(load_config(config_path).directory("feedback") / "partial" / "lab2" / "lab2.html")
    assert 'check("test_relu", MyReLU, cases="hidden")' in shown
    assert len([line for line in hidden_lines() if line in shown]) >= 12


def test_class_report_pass_rates_match_the_gradebook(graded_config):
    from nbgrader.api import Gradebook

    page = graded_config.root / "reports" / "lab2" / "index.html"
    soup = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
    shown = {}
    for tr in soup.find_all("tr"):
        cells = [td.get_text(strip=True) for td in tr.find_all("td")]
        if len(cells) == 4 and cells[0] in TESTS:
            shown[cells[0]] = cells[3]
    expected = {}
    with Gradebook(f"sqlite:///{graded_config.root / 'gradebook.db'}") as gradebook:
        # nbgrader keeps a record for the submission it failed to grade ("broken"); it is not graded
        graded = [s.student.id for s in gradebook.assignment_submissions("lab2") if s.student.id != "broken"]
        assert sorted(graded) == sorted(EXPECTED_LOST)
        for gid in TESTS:
            grades = [gradebook.find_grade(gid, "lab2", "lab2", student) for student in graded]
            passed = sum(g.score >= g.max_score for g in grades)
            expected[gid] = f"{100 * passed / len(grades):.0f}% ({passed}/{len(grades)})"
    assert shown == expected
    n = len(EXPECTED_LOST)
    passed_relu = sum("test_relu" not in lost for lost in EXPECTED_LOST.values())
    assert expected["test_relu"] == f"{100 * passed_relu / n:.0f}% ({passed_relu}/{n})"


def test_class_report_lists_failures_late_work_and_what_could_not_be_graded(graded_config):
    page = graded_config.root / "reports" / "lab2" / "index.html"
    text = page_text(page)
    assert re.search(r"broken.*(NotJSONError|not JSON|Notebook does not appear to be JSON|JSONDecodeError|JSON 错误)", text,
                     re.DOTALL), text[-2000:]
    assert "late" in text and re.search(r"late\s*24\.0 h", text)
    assert "还没有实现" in text, "the most frequent failure messages are listed"
    for name in ("scores.png", "pass_rates.png"):
        data = (page.parent / name).read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 5000
        import matplotlib.image
        pixels = matplotlib.image.imread(page.parent / name)
        assert pixels.std() > 0.05, f"{name} is not a blank image"


def test_report_prints_a_text_table(graded_course):
    result = coursekit(graded_course, "report")
    assert result.returncode == 0, result.stderr
    assert "pass rate per autograded part" in result.stdout
    assert "could not grade broken" in result.stdout
    assert "reports/lab2/index.html" in result.stdout


@pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="Debian's chromium is not installed")
def test_feedback_and_report_render_in_chromium(graded_config, tmp_path):
    for page, needle in ((feedback_path(graded_config, "partial"), "成绩概要"),
                         (graded_config.root / "reports" / "lab2" / "index.html", "Pass rate per autograded part")):
        flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 f"--user-data-dir={tmp_path / 'profile'}"]
        dom = subprocess.run(["/usr/bin/chromium", *flags, "--dump-dom", page.as_uri()], capture_output=True,
                             text=True, timeout=120)
        assert needle in dom.stdout
        shot = tmp_path / f"{page.stem}.png"
        subprocess.run(["/usr/bin/chromium", *flags, f"--screenshot={shot}", "--window-size=1200,1600",
                        page.as_uri()], capture_output=True, timeout=120)
        assert shot.is_file() and shot.stat().st_size > 10000
