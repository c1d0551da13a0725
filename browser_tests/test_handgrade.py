"""Grading a 思考题 by question in a real browser: two TAs at once, into nbgrader's gradebook.

The scratch course of conftest.py (instructor's and student's JupyterLab). Five students submit
the stability assignment through nbgrader's exchange (student1 from the student's own folder),
the instructor collects and autogrades it; then two TA sessions open …/coursekit/handgrade:

1. TA 1 grades the group of three alike answers with the keyboard (1 2 3 Enter);
2. TA 2's page was loaded before: its decision on one of them is refused, nothing is lost;
3. TA 2 grades the answer with a common wrong answer, then changes that item's points: it is re-scored;
4. TA 1 regrades student1's answer on its own;
5. formgrader shows exactly those scores and comments; feedback is generated and released, the
   student fetches it and reads the items earned and lost.

Screenshots: $COURSE_SCREENSHOTS (else pytest's basetemp/browser-screenshots), files handgrade-*.png.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import nbformat
import pytest
from playwright.sync_api import expect

from browser_tests.conftest import STUDENT, mirror_path, run
from coursekit.config import load_config
from coursekit.grading.nbgrader_settings import open_gradebook
from tests.support.classroom import submit

ASSIGNMENT, QUESTION = "stability", "answer_q1"
GOOD = [
    "前向传播要求 $n_{t-1}\\gamma_t = 1$，反向传播要求 $n_t\\gamma_t = 1$，Xavier 取两者的折中。tanh 在 0 附近近似线性，方差大体保持；但饱和会让方差变小。",
    "前向传播要求 $n_{t-1}\\gamma_t = 1$，反向传播要求 $n_t\\gamma_t = 1$，Xavier 取两者的折中。tanh 在 0 附近近似线性，方差大体保持，不过饱和会使方差变小。",
    "前向传播要求 $n_{t-1}\\gamma_t=1$，反向要求 $n_t\\gamma_t=1$，Xavier 取二者折中。tanh 在 0 附近近似线性，所以方差大体保持；饱和会让方差变小。",
]
ANSWERS = {STUDENT: GOOD[0], "student2": GOOD[1], "student3": GOOD[2],
           "student4": "Xavier 是前向方差不变的要求。Xavier 对 sigmoid 同样成立，sigmoid 也能直接用。",
           "student5": ""}


def nbgrader(course, *args: str, cwd: Path | None = None, env: dict | None = None) -> str:
    environment = {**os.environ, "COURSE_DATA_MIRROR": str(mirror_path()), "MPLBACKEND": "Agg",
                   "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""), **(env or {})}
    return run([sys.executable, "-m", *args], cwd or course.config_path.parent, environment).stdout


def grades(course) -> dict[str, tuple[float | None, str | None]]:
    config = load_config(course.config_path)
    found = {}
    with open_gradebook(config) as gradebook:
        for student in ANSWERS:
            grade = gradebook.find_grade(QUESTION, ASSIGNMENT, ASSIGNMENT, student)
            comment = gradebook.find_comment(QUESTION, ASSIGNMENT, ASSIGNMENT, student)
            found[student] = (grade.manual_score, comment.manual_comment)
    return found


def shot(course, page, name: str) -> None:
    folder = Path(os.environ.get("HANDGRADE_SHOTS", course.screenshots))
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"handgrade-{name}.png"), full_page=True)


@pytest.fixture(scope="module")
def submitted(course, tmp_path_factory):
    """The five stability submissions, collected and autograded."""
    config = load_config(course.config_path)
    nbgrader(course, "nbgrader", "release_assignment", ASSIGNMENT)
    release = nbformat.read(config.directory("release") / ASSIGNMENT / "stability.ipynb", as_version=4)
    for student, answer in ANSWERS.items():
        nb = nbformat.from_dict(json.loads(json.dumps(release)))
        for cell in nb.cells:
            if cell.metadata.get("nbgrader", {}).get("grade_id") == QUESTION:
                cell.source = answer or "YOUR ANSWER HERE"
        home = course.student_home if student == STUDENT else tmp_path_factory.mktemp(f"home-{student}")
        submit(config, home, student, ASSIGNMENT, {"stability.ipynb": nbformat.writes(nb).encode()})
    nbgrader(course, "nbgrader", "collect", ASSIGNMENT)
    nbgrader(course, "nbgrader", "autograde", ASSIGNMENT)
    assert all(score is None for score, _ in grades(course).values())
    return config


def ta_page(browser, course):
    """A TA's own browser session on the grading page (the instructor's server, its token)."""
    context = browser.new_context(viewport={"width": 1440, "height": 1000}, locale="zh-CN")
    context.set_default_timeout(60_000)
    page = context.new_page()
    page.goto(course.instructor.link(f"/coursekit/handgrade/{ASSIGNMENT}/{QUESTION}"), wait_until="domcontentloaded")
    expect(page.locator("#progress-text")).to_have_text("已评 0 / 5", timeout=120_000)
    return page


def answer_box(page, student: str):
    return page.locator(f"#answers .answer[data-student='{student}']")


def test_two_tas_grade_by_groups_change_points_regrade_and_the_student_reads_it(browser, course, submitted):
    ta1, ta2 = ta_page(browser, course), ta_page(browser, course)
    try:
        # TA 1: the first screen is the group of the three alike answers, anonymous, with math as MathML
        expect(ta1.locator("#unit-title")).to_contain_text("3 份相似的答案")
        for student in (STUDENT, "student2", "student3"):
            expect(answer_box(ta1, student).locator("input.include")).to_be_checked()
        expect(answer_box(ta1, STUDENT).locator("math").first).to_be_visible()
        expect(answer_box(ta1, STUDENT).locator(".sid")).to_be_hidden()
        expect(ta1.locator("#answers")).not_to_contain_text("$n_")
        shot(course, ta1, "01-group")
        ta1.keyboard.press("1")
        ta1.keyboard.press("2")
        ta1.keyboard.press("3")
        expect(ta1.locator("#score")).to_have_text("得分：4 / 4")
        ta1.keyboard.press("Enter")
        expect(ta1.locator("#message")).to_have_text("已保存 3 份答案：4 分")
        expect(ta1.locator("#progress-text")).to_have_text("已评 3 / 5")
        scores = grades(course)
        assert [scores[s][0] for s in (STUDENT, "student2", "student3")] == [4, 4, 4]
        assert "- ✓ [A] +2" in scores["student2"][1]

        # TA 2 loaded the page before TA 1 saved: grading student2 alone is refused, nothing written
        answer_box(ta2, "student2").locator("button.solo").click()
        ta2.locator("#items .item[data-item='A'] input.tick").check()
        ta2.locator("#save").click()
        expect(ta2.locator("#message")).to_contain_text("已被修改")
        expect(ta2.locator("#message")).to_contain_text("你勾选的评分项还在")
        shot(course, ta2, "02-stale-refused")
        assert grades(course)["student2"][0] == 4

        # TA 2 grades the answer with the common wrong answer (A, and wrong answer F), then makes F cost less
        ta2.locator("#mode").click()  # back to groups
        ta2.locator("body").press("u")  # the next screen with an ungraded answer: student4's
        expect(answer_box(ta2, "student4")).to_be_visible()
        ta2.locator("#items .item[data-item='A'] input.tick").check()
        ta2.locator("#items .item[data-item='F'] input.tick").check()
        expect(ta2.locator("#score")).to_have_text("得分：1 / 4")
        ta2.locator("#comment").fill("只说了前向的要求；sigmoid 不过原点。")
        ta2.locator("#save").click()
        expect(ta2.locator("#message")).to_have_text("已保存 1 份答案：1 分")
        assert grades(course)["student4"][0] == 1
        ta2.locator("#prev").click()
        item = ta2.locator("#items .item[data-item='F']")
        item.locator("button.change-points").click()
        item.locator("input.points").fill("-0.5")
        item.locator("button.save-points").click()
        expect(ta2.locator("#message")).to_contain_text("评分项 F 改为 -0.5 分：重新计分 1 份有这一项的答案（另有 3 份答案的评语已更新）")
        shot(course, ta2, "03-points-changed")
        scores = grades(course)
        assert scores["student4"][0] == 1.5 and "- ✗ [F] −0.5 " in scores["student4"][1]
        assert "助教评语：** 只说了前向的要求" in scores["student4"][1]

        # TA 1 regrades student1 alone: ids shown on request, C unticked
        ta1.reload(wait_until="domcontentloaded")
        expect(ta1.locator("#progress-text")).to_have_text("已评 4 / 5", timeout=120_000)
        ta1.keyboard.press("s")
        expect(answer_box(ta1, STUDENT).locator(".sid")).to_contain_text(STUDENT)
        answer_box(ta1, STUDENT).locator("button.solo").click()
        expect(ta1.locator("#unit-title")).to_contain_text("份 / 共 5 份")
        ta1.keyboard.press("3")
        ta1.locator("#comment").fill("没有提到饱和让方差变小。")
        ta1.locator("#comment").press("Control+Enter")
        expect(ta1.locator("#message")).to_have_text("已保存 1 份答案：3 分")
        shot(course, ta1, "04-single-regraded")
        scores = grades(course)
        assert scores[STUDENT][0] == 3 and scores["student2"][0] == 4
        assert "- ✗ [C] 未得 +1：" in scores[STUDENT][1]

        # formgrader shows exactly these grades
        config = submitted
        with open_gradebook(config) as gradebook:
            notebook_id = gradebook.find_submission_notebook(ASSIGNMENT, ASSIGNMENT, STUDENT).id
        ta1.goto(course.instructor.link(f"/formgrader/submissions/{notebook_id}/"), wait_until="load")
        expect(ta1.locator(f"input.score#{QUESTION}")).to_have_value("3", timeout=120_000)
        expect(ta1.locator(f"textarea#{QUESTION}-comment")).to_have_value(scores[STUDENT][1])
        shot(course, ta1, "05-formgrader")
    finally:
        ta1.context.close()
        ta2.context.close()

    # feedback generated and released; the student fetches it and reads it in their own JupyterLab
    nbgrader(course, "coursekit", "--config", str(course.config_path), "feedback", ASSIGNMENT)
    nbgrader(course, "nbgrader", "release_feedback", ASSIGNMENT)
    nbgrader(course, "nbgrader", "fetch_feedback", ASSIGNMENT,
             f"--Exchange.cache={course.student_home / '.nbgrader-cache'}", cwd=course.student_home,
             env={"HOME": str(course.student_home), "USER": STUDENT, "LOGNAME": STUDENT})
    pages = sorted((course.student_home / ASSIGNMENT / "feedback").glob("*/stability.html"))
    assert pages, "fetch_feedback put the page in the student's folder"
    relative = pages[-1].relative_to(course.student_home).as_posix()
    context = browser.new_context(viewport={"width": 1280, "height": 1000}, locale="zh-CN")
    try:
        page = context.new_page()
        page.goto(course.student.link(f"/files/{relative}"), wait_until="load")
        body = page.locator("body")
        expect(body).to_contain_text("评分项（3 / 4 分）")
        expect(body).to_contain_text("✓ [A] +2")
        expect(body).to_contain_text("✗ [C] 未得 +1：指出饱和使方差变小")
        expect(body).to_contain_text("没有提到饱和让方差变小。")
        comment = page.locator(".panel-footer", has_text="评分项").first
        comment.scroll_into_view_if_needed()
        shot(course, page, "06-student-feedback")
    finally:
        context.close()
