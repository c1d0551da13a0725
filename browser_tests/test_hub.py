"""The course on a real JupyterHub, in chromium: students and staff as real Unix users.

A scratch deployment (``coursekit hub setup``, then ``hub start``; tests/hub/scratch_hub.py, shared with
tests/hub/test_isolation.py) with an instructor, a TA and four students, of which this test uses two. In order:

1. both students log in (the hub starts a JupyterLab for each, as their own Unix user), fetch lab2
   from nbgrader's assignment list, write their answer to 思考题 1 in the notebook, save and submit;
   student a's other answers are the reference solution, written into the fetched notebook as if in
   an earlier session; student b leaves every code TODO open. A student opening formgrader is refused.
2. the instructor logs in and opens formgrader (the hub service named after the course, running as
   grader-<id>): collect; ``coursekit grade`` in the grader account (sandbox on, as from formgrader's
   terminal); 思考题 1 of student a graded by hand; feedback generated and released.
3. each student fetches feedback and gets their own page only: their own answer and score.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import nbformat
import pytest

from browser_tests.conftest import CHROMIUM
from tests.hub.scratch_hub import ROOT, ScratchHub, missing_prerequisite, shared_deployment

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is not installed (CI installs Debian's chromium with apt-get)", allow_module_level=True)
pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed (pip install -e '.[dev]')")
_missing = missing_prerequisite()
if _missing:
    pytest.skip(f"no hub deployment here: {_missing}", allow_module_level=True)

from playwright.sync_api import Page, expect  # noqa: E402
from playwright.sync_api import TimeoutError as PlaywrightTimeout  # noqa: E402

from browser_tests.test_course_in_jupyterlab import modal_ok, open_assignment_list, wait_for_list  # noqa: E402
from coursekit.authoring.samples import Sample, answers, make_submission  # noqa: E402
from coursekit.hub import process  # noqa: E402

ANSWER = {  # each student's own 思考题 1, typed in the browser
    "a": "没有非线性激活，多层线性变换等于一层线性变换（甲）。",
    "b": "非线性让网络能拟合曲线和异或这样的函数（乙）。",
}
LONG = 900_000  # ms: grading or a server starting on a busy machine
COMMENT = "说得对，再举一个例子更好。"


@pytest.fixture(scope="module")
def hub(request):
    """The session's scratch deployment (tests/hub/scratch_hub.py), its hub started; stopped and removed
    at the end of the session."""
    deployment = shared_deployment(request.config)
    if process.running_pid(deployment.layout) is None:
        started = process.start(deployment.config, deployment.layout)
        print(f"[hub] {started.url} (log {started.log})")
    deployment.url = process.hub_url(deployment.config)
    return deployment


def login(browser, hub: ScratchHub, user: str, next_path: str = "") -> Page:
    """A fresh browser context logged in to the hub as `user` (the shared password)."""
    context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN")
    context.set_default_timeout(120_000)
    page = context.new_page()
    page.goto(f"{hub.url}/hub/login" + (f"?next={next_path}" if next_path else ""), wait_until="domcontentloaded")
    page.locator("input[name=username]").fill(user)
    page.locator("input[name=password]").fill(hub.password)
    page.locator("input[name=password]").press("Enter")
    return page


def wait_for_lab(page: Page) -> None:
    page.locator("#jp-main-dock-panel").wait_for(timeout=LONG)
    page.locator("#jp-MainMenu .lm-MenuBar-itemLabel", has_text="Nbgrader").wait_for(timeout=LONG)


def answer_q1(notebook: Path) -> str:
    cells = nbformat.read(notebook, as_version=4).cells
    return next(c.source.strip() for c in cells if c.metadata.get("nbgrader", {}).get("grade_id") == "answer_q1")


def student(hub: ScratchHub, key: str) -> str:
    return hub.accounts.students["ab".index(key)]


def fetch_and_submit(hub: ScratchHub, page: Page, key: str) -> None:
    name = student(hub, key)
    open_assignment_list(page)
    released = wait_for_list(page, "released", 1)
    expect(released.first.locator(".item_course")).to_have_text(hub.course_id)
    released.first.locator(".item_status button", has_text="Fetch").click()
    wait_for_list(page, "fetched", 1)
    notebook = Path(f"/home/{name}/lab2/lab2.ipynb")
    assert notebook.owner() == name, "fetched by the student's own server, as the student"
    if key == "a":  # the reference code answers, as if written in an earlier session
        source = nbformat.read(ROOT / "source" / "lab2" / "lab2.ipynb", as_version=4)
        done = frozenset(gid for gid in answers(source) if not gid.startswith("answer_q"))
        work = make_submission(nbformat.read(notebook, as_version=4), source, Sample(name, "hub student", fill=done))
        nbformat.write(work, notebook)
        os.chown(notebook, notebook.parent.stat().st_uid, notebook.parent.stat().st_gid)  # still the student's

    # open the notebook from the list and write 思考题 1 in its cell
    fetched = wait_for_list(page, "fetched", 1)
    fetched.first.locator("a", has_text="lab2").first.click()
    page.locator("#fetched_assignments_list .list_item a", has_text=re.compile(r"^lab2$")).last.click()
    expect(page.locator("#jp-main-dock-panel .lm-TabBar-tab.lm-mod-current")).to_contain_text("lab2.ipynb")
    cells = nbformat.read(notebook, as_version=4).cells
    index = next(i for i, c in enumerate(cells) if c.metadata.get("nbgrader", {}).get("grade_id") == "answer_q1")
    cell = page.locator(".jp-NotebookPanel:visible .jp-Notebook-cell").nth(index)
    expect(cell).to_contain_text("YOUR ANSWER HERE")
    cell.scroll_into_view_if_needed()
    cell.dblclick()
    editor = cell.locator(".cm-content")
    expect(editor).to_be_visible()
    editor.click()
    page.keyboard.press("Control+a")
    page.keyboard.insert_text(ANSWER[key])
    expect(editor).to_contain_text(ANSWER[key])
    page.keyboard.press("Shift+Enter")
    page.keyboard.press("Control+s")
    deadline = time.monotonic() + 120
    while answer_q1(notebook) != ANSWER[key] and time.monotonic() < deadline:
        time.sleep(0.5)  # until JupyterLab's save reaches the disk
    assert answer_q1(notebook) == ANSWER[key], f"思考题 1 saved as {answer_q1(notebook)!r}"

    open_assignment_list(page)
    wait_for_list(page, "fetched", 1).first.locator(".item_status button", has_text="Submit").click()
    wait_for_list(page, "submitted", 1)
    inbound = hub.config.exchange_root / hub.course_id / "inbound"
    mine = [p for p in inbound.iterdir() if p.name.startswith(f"{name}+lab2+")]
    assert len(mine) == 1 and mine[0].owner() == name, "submitted into the exchange as the student's own user"


def test_01_students_log_in_fetch_write_and_submit(hub, browser):
    pages = {key: login(browser, hub, student(hub, key)) for key in "ab"}  # both servers start at once
    for key, page in pages.items():
        wait_for_lab(page)
        expect(page).to_have_url(re.compile(f"/user/{student(hub, key)}/lab"))
    hub.state["pages"] = pages
    for key in "ab":
        fetch_and_submit(hub, pages[key], key)
    # a student is not let into formgrader
    page = pages["b"]
    response = page.goto(f"{hub.url}/services/{hub.course_id}/formgrader", wait_until="domcontentloaded")
    assert response.status == 403, f"a student opened formgrader: HTTP {response.status}"
    hub.state["submitted"] = True


def save(page: Page, field, value: str, api: str, attempts: int = 6) -> None:
    """Type `value` into a formgrader field and leave it, until formgrader stores it (a PUT to `api`).
    Formgrader binds its handlers after the page has loaded (its MathJax, from a CDN, never arrives
    here): a change made before then is not sent, so it is made again."""
    for _ in range(attempts):
        field.fill(value)
        try:
            with page.expect_response(lambda r: api in r.url and r.request.method == "PUT", timeout=20_000) as saved:
                field.press("Tab")
            assert saved.value.ok, saved.value.status
            return
        except PlaywrightTimeout:
            field.fill("")
    pytest.fail(f"formgrader did not store {value!r} ({api}) after {attempts} attempts")


def formgrader_page(hub: ScratchHub, page: Page, path: str = "") -> Page:
    page.goto(f"{hub.url}/services/{hub.course_id}/formgrader{path}", wait_until="domcontentloaded")
    return page


def test_02_instructor_collects_grades_and_releases_feedback(hub, browser):
    if not hub.state.get("submitted"):
        pytest.skip("needs the students' submissions (test_01)")
    a, b = hub.accounts.students[:2]
    page = login(browser, hub, hub.accounts.instructor, f"/services/{hub.course_id}/formgrader")
    row = page.locator("#main-table tr", has=page.locator("td.name", has_text="lab2"))
    expect(row.locator("td.status")).to_contain_text("released")
    row.locator("td.collect a").click()
    modal_ok(page, "Successfully collected")
    for name in (a, b):
        assert (hub.config.directory("submitted") / name / "lab2" / "lab2.ipynb").is_file(), f"{name} collected"

    # coursekit grade, as the grader account (what the instructor types in formgrader's terminal); the
    # isolation test's students of the same deployment are left out
    result = hub.run_as(hub.accounts.grader, [str(hub.layout.env.python), "-m", "coursekit", "grade", "lab2",
                                              f"--student={a}", f"--student={b}"])
    assert "in the bubblewrap sandbox" in result.stdout, result.stdout[-2000:]

    formgrader_page(hub, page, "/manage_submissions/lab2")
    scores = {}
    for name in (a, b):
        sub = page.locator("#main-table tr", has=page.locator("td.student-id", has_text=name))
        expect(sub.locator("td.status")).to_contain_text("needs manual grading")
        scores[name] = sub.locator("td.score").inner_text()
    assert scores[a] == "80 / 100", scores  # every autograded part of the reference answers
    assert scores[b] == "0 / 100", scores  # every code TODO left open

    # 思考题 1 of student a, by hand, with a comment
    formgrader_page(hub, page, "/gradebook/lab2/lab2")
    page.locator("td a", has_text=re.compile(r"Submission #\d")).first.wait_for()
    link = page.locator("tr", has=page.locator("td", has_text=a)).locator("td a", has_text="Submission")
    if link.count() == 0:  # formgrader hides student names: pick the submission that shows a's answer
        link = page.locator("td a", has_text=re.compile(r"Submission #\d"))
    for i in range(link.count()):
        link.nth(i).click()
        page.locator("input.score#answer_q1").wait_for()
        if ANSWER["a"] in page.locator("body").inner_text():
            break
        page.go_back(wait_until="domcontentloaded")
        link = page.locator("td a", has_text=re.compile(r"Submission #\d"))
    expect(page.locator("body")).to_contain_text(ANSWER["a"])
    save(page, page.locator("input.score#answer_q1"), "3", "/formgrader/api/grade/")
    save(page, page.locator("textarea#answer_q1-comment"), COMMENT, "/formgrader/api/comment/")
    page.reload(wait_until="domcontentloaded")  # read back from the gradebook
    expect(page.locator("input.score#answer_q1")).to_have_value("3")
    expect(page.locator("textarea#answer_q1-comment")).to_have_value(COMMENT)

    # generate and release everyone's feedback (Manage Assignments)
    formgrader_page(hub, page)
    row = page.locator("#main-table tr", has=page.locator("td.name", has_text="lab2"))
    row.locator("td.generate-feedback a").click()
    modal_ok(page, "Successfully generated feedback", timeout=300_000)
    row.locator("td.release-feedback a").click()
    modal_ok(page, "Successfully released feedback")
    released = list((hub.config.exchange_root / hub.course_id / "feedback").glob("*.html"))
    assert len(released) == 2, released
    page.context.close()
    hub.state["feedback"] = True


def test_03_each_student_fetches_only_their_own_feedback(hub):
    if not hub.state.get("feedback"):
        pytest.skip("needs released feedback (test_02)")
    expected = {"a": ("总分：83 / 100", COMMENT), "b": ("总分：0 / 100", None)}
    for key, page in hub.state["pages"].items():
        name = student(hub, key)
        page.goto(f"{hub.url}/user/{name}/lab", wait_until="domcontentloaded")
        wait_for_lab(page)
        open_assignment_list(page)
        submitted = wait_for_list(page, "submitted", 1)
        submitted.first.locator(".item_status button", has_text="Fetch Feedback").click()
        expect(page.locator("#submitted_assignments_list a", has_text="view feedback")).to_be_visible()
        htmls = sorted(Path(f"/home/{name}/lab2/feedback").glob("*/lab2.html"))
        assert len(htmls) == 1, f"{name} got {htmls}"
        text = htmls[0].read_text(encoding="utf-8")
        total, comment = expected[key]
        assert total in text, f"{name}'s feedback lacks {total}"
        other = "b" if key == "a" else "a"
        assert ANSWER[key] in text and ANSWER[other] not in text, f"{name} got another student's page"
        if comment:
            assert comment in text
        # and in the browser, through the student's own server
        tab = page.context.new_page()
        tab.goto(f"{hub.url}/user/{name}/files/{htmls[0].relative_to(Path('/home') / name).as_posix()}")
        expect(tab.locator("body")).to_contain_text(total)
        expect(tab.locator("body")).to_contain_text(ANSWER[key])
        tab.close()
        page.context.close()
