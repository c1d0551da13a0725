"""Instant feedback in JupyterLab: the student submits, and with no instructor action fetches feedback.

``coursekit serve`` runs in the scratch course of the browser session (the instructor's folder).
The student (``student1``) has the lab done, with one bug only the hidden tests see
(``dropout_layer`` keeps half of X whatever p is), submits from the Assignment List, waits until
the list says feedback is available, fetches it and reads the score and the failure message. The
instructor opens formgrader and finds the grade there, although nobody collected or autograded.

Runs alone or after test_course_in_jupyterlab.py (then the student submits a second time; the
first submission, whose feedback the instructor released, is left as it is).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from browser_tests.conftest import CHROMIUM, STUDENT, mirror_path

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is not installed (CI installs Debian's chromium with apt-get)", allow_module_level=True)
pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed (pip install -e '.[dev]')")

from playwright.sync_api import expect  # noqa: E402

from browser_tests.test_course_in_jupyterlab import (LONG, formgrader, open_assignment_list, shot,  # noqa: E402
                                                     wait_for_list)
from coursekit.authoring.samples import Sample, answers, make_submission, replace_once  # noqa: E402
from coursekit.config import load_config  # noqa: E402
from coursekit.grading.gradetable import grade_rows  # noqa: E402
from coursekit.service.journal import Journal, journal_path  # noqa: E402
from tests.support.classroom import stop_service  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FAILURE = "保留下来的比例应接近 1 − p = 0.80"  # the hidden dropout case's message (p = 0.2)


@pytest.fixture(scope="module")
def service(course):
    """`coursekit serve` in the instructor's course folder, stopped (SIGTERM, then waited for) at the end."""
    log = course.config_path.parent.parent / "coursekit-serve.log"
    env = {**os.environ, "COURSE_DATA_MIRROR": str(mirror_path()), "MPLBACKEND": "Agg"}
    with log.open("w") as out:
        process = subprocess.Popen([sys.executable, "-m", "coursekit", "--config", str(course.config_path), "serve"],
                                   cwd=course.config_path.parent, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        stop_service(process)
        print(f"[browser_tests] coursekit serve log: {log}")


def the_students_work(notebook: Path) -> None:
    """The finished lab, written into the fetched notebook: every TODO, a dropout bug, the 思考题."""
    source = nbformat.read(ROOT / "source" / "lab2" / "lab2.ipynb", as_version=4)
    work = make_submission(nbformat.read(notebook, as_version=4), source, Sample(
        STUDENT, "browser student", fill=frozenset(a for a in answers(source) if not a.startswith("answer_q")),
        edits={"dropout_layer": replace_once("mask = (torch.rand(X.shape, device=X.device) > dropout)",
                                             "mask = (torch.rand(X.shape, device=X.device) > 0.5)")}))
    for cell in work.cells:
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", "")
        if gid.startswith("answer_q"):
            cell.source = "非线性激活让多层网络不再等价于一层线性变换。"
    nbformat.write(work, notebook)


def close_the_notebook(page) -> None:
    """Close lab2.ipynb if an earlier step left it open, without saving: its file is about to be
    replaced by the finished lab (else JupyterLab would ask, at its next autosave, which version to keep)."""
    tabs = page.locator("#jp-main-dock-panel .lm-TabBar-tab", has_text="lab2.ipynb")
    while tabs.count():
        before = page.locator("#jp-main-dock-panel .lm-TabBar-tab").count()
        tabs.first.locator(".lm-TabBar-tabCloseIcon").click()
        # either the tab closes or JupyterLab asks about the unsaved notebook
        page.wait_for_function("n => document.querySelector('.jp-Dialog') !== null || "
                               "document.querySelectorAll('#jp-main-dock-panel .lm-TabBar-tab').length < n", arg=before)
        discard = page.locator(".jp-Dialog button", has_text=re.compile(r"Discard|Don.t Save|Revert"))
        if discard.count():
            discard.first.click()
        expect(page.locator(".jp-Dialog")).to_have_count(0)


def test_student_submits_and_fetches_feedback_without_any_instructor_action(course, student_page, instructor_page,
                                                                           service):
    page = student_page
    close_the_notebook(page)
    open_assignment_list(page)
    notebook = course.student_home / "lab2" / "lab2.ipynb"
    if not notebook.is_file():  # this file runs alone: fetch lab2 first
        released = wait_for_list(page, "released", 1, "lab2")
        released.first.locator(".item_status button", has_text="Fetch").click()
        wait_for_list(page, "fetched", 1, "lab2")
    assert notebook.is_file()
    the_students_work(notebook)
    listing = page.locator("#submitted_assignments_list")
    offers_before = listing.inner_text().count("feedback available to fetch")

    fetched = wait_for_list(page, "fetched", 1, "lab2")
    fetched.first.locator(".item_status button", has_text="Submit").click()
    wait_for_list(page, "submitted", 1, "lab2")
    config = load_config(course.config_path)
    journal = Journal(journal_path(config, "lab2"))
    shot(course, page, "30-instant-submitted")

    # No instructor action: the student refreshes the list until it offers feedback for this submission.
    deadline = time.monotonic() + LONG / 1000
    while True:
        page.locator("#refresh_assignments_list").click()
        expect(page.locator("#submitted_assignments_list_loading")).to_be_hidden()
        if listing.inner_text().count("feedback available to fetch") > offers_before:
            break
        assert service.poll() is None, "coursekit serve exited"
        assert time.monotonic() < deadline, f"no feedback offered within {LONG / 1000:.0f} s"
        page.wait_for_timeout(1000)  # the student's pace between refreshes; the loop ends on what the list shows
    shot(course, page, "31-instant-feedback-offered")

    # The list may hold an earlier submission with feedback too (released by the instructor in an earlier
    # test): fetch until this submission's page is in the student's folder, whichever button that takes.
    folder = course.student_home / "lab2" / "feedback"
    before = set(folder.glob("*/lab2.html"))
    buttons = page.locator("#submitted_assignments_list .item_status button", has_text="Fetch Feedback")
    new: set[Path] = set()
    tries = 0
    while not new:
        assert time.monotonic() < deadline, "Fetch Feedback brought no page for the new submission"
        buttons.nth(tries % max(buttons.count(), 1)).click()
        expect(page.locator("#submitted_assignments_list a", has_text="view feedback").first).to_be_visible(
            timeout=120_000)
        new = set(folder.glob("*/lab2.html")) - before
        tries += 1
        if not new:
            page.locator("#refresh_assignments_list").click()
            expect(page.locator("#submitted_assignments_list_loading")).to_be_hidden()
    newest = max(new)  # folders are named by the submission's time

    # the score the gradebook holds for student1, written by the service
    _, rows = grade_rows(config, "lab2")
    row = next(r for r in rows if r["student"] == STUDENT)
    autograded = sum(v for gid, v in row["cells"].items() if v is not None and not gid.startswith("answer_q"))
    assert autograded == 76, "80 autograded points minus test_dropout_keep_rate (4)"

    tab = page.context.new_page()
    tab.goto(course.student.link(f"/files/{newest.relative_to(course.student_home).as_posix()}"))
    body = tab.locator("body")
    expect(body).to_contain_text("成绩概要")
    expect(body).to_contain_text(f"总分：{row['score']:g} / 100")
    expect(tab.locator("table").first).to_contain_text("0 / 4")
    expect(body).to_contain_text(FAILURE)
    assert "BEGIN HIDDEN TESTS" not in body.inner_text() and 'cases="hidden"' not in body.inner_text()
    shot(course, tab, "32-instant-feedback-page")
    tab.close()

    # The instructor: formgrader shows the grade; nobody collected or autograded by hand.
    frame = formgrader(instructor_page)
    lab2 = frame.locator("#main-table tr", has=frame.locator("td.name", has_text="lab2"))
    lab2.locator("td.num-submissions a").click()
    sub = frame.locator("#main-table tr", has=frame.locator("td.student-id", has_text=STUDENT))
    expect(sub.locator("td.score")).to_have_text(f"{row['score']:g} / 100", timeout=120_000)
    shot(course, instructor_page, "33-instant-formgrader-grade")
    events = [e["event"] for e in journal.lines() if e["student"] == STUDENT]
    assert events.count("graded") == 1, events
