"""An instructor's day on a real JupyterHub, in chromium, every command typed where the docs say.

A scratch deployment (``coursekit hub setup``, then ``hub start``; tests/hub/scratch_hub.py, shared with
tests/hub/test_isolation.py) with an instructor, a TA and four students, of which this test uses two.
Setup releases nothing (it says what is left); in order:

1. the hub's login page names the course; the instructor logs in, opens the grader account's JupyterLab
   (``/services/<id>/lab``: no Jupyter news prompt, Chinese offered under Settings > Language) and, in
   its terminal (a login shell), types ``python -m coursekit build`` and ``nbgrader release_assignment
   lab2``, then starts the grading service, ``python -m coursekit serve``, in a second terminal;
2. both students log in (a JupyterLab for each, as their own Unix user; a student's terminal finds the
   students' tools and none of the grader's), fetch lab2, write 思考题 1 in the notebook and submit;
   student a's other answers are the reference solution, student b leaves every code TODO open. With
   no instructor action the service grades each submission and releases its feedback; each student
   fetches it and reads their own score. A student opening formgrader is refused;
3. the TA logs in, opens formgrader, follows its link to the grading-by-question page (the address
   docs/ta.md gives), grades student a's 思考题 1 by ticking rubric items, with a comment; formgrader
   shows that grade;
4. in the grader's terminal: Ctrl+C stops the service; ``python -m coursekit grade`` (nothing left to
   grade), ``python -m coursekit feedback``, ``nbgrader release_feedback lab2``, ``python -m coursekit
   report`` and ``python -m coursekit similarity``;
5. each student fetches the final feedback and reads their own page only, with the TA's grade.

Screenshots (hub-*.png) go to $COURSE_SCREENSHOTS, else pytest's basetemp/browser-screenshots.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import time
from pathlib import Path

import nbformat
import pytest

from browser_tests.conftest import CHROMIUM, screenshot_folder
from tests.hub.scratch_hub import ROOT, ScratchHub, missing_prerequisite, shared_deployment

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is not installed (CI installs Debian's chromium with apt-get)", allow_module_level=True)
pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed (pip install -e '.[dev]')")
_missing = missing_prerequisite()
if _missing:
    pytest.skip(f"no hub deployment here: {_missing}", allow_module_level=True)

from playwright.sync_api import Page, expect  # noqa: E402

from browser_tests.test_course_in_jupyterlab import open_assignment_list, wait_for_list  # noqa: E402
from coursekit.authoring.samples import Sample, answers, make_submission  # noqa: E402
from coursekit.grading.nbgrader_settings import open_gradebook  # noqa: E402
from coursekit.hub import process  # noqa: E402
from coursekit.hub.hubconfig import ports  # noqa: E402

ANSWER = {  # each student's own 思考题 1, typed in the browser
    "a": "没有非线性激活，多层线性变换等于一层线性变换（甲）。",
    "b": "非线性让网络能拟合曲线和异或这样的函数（乙）。",
}
LONG = 900_000  # ms: grading or a server starting on a busy machine
COMMENT = "说得对，再举一个例子更好。"
TICKED = {"A": 2, "C": 1}  # the rubric items of 思考题 1 the TA ticks for student a (source/lab2's model answer)
# Test-only JupyterLab setting: xterm.js draws the terminal on a canvas; in screen-reader mode it also
# keeps the visible rows as text, which the test reads.
TERMINAL_SETTINGS = ("@jupyterlab/terminal-extension/plugin.jupyterlab-settings", {"screenReaderMode": True})
# The terminal's prompt as the test sets it (typed in the terminal): the command's number and the last exit status.
PS1 = "PS1='[\\# exit $?] \\u:\\W\\$ '"


def give_lab_settings(user: str) -> None:
    """Write the test's JupyterLab setting into `user`'s own settings folder, as that user's file."""
    account = pwd.getpwnam(user)
    name, values = TERMINAL_SETTINGS
    target = Path(account.pw_dir) / ".jupyter" / "lab" / "user-settings" / name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(values), encoding="utf-8")
    for path in [target, *target.parents]:
        if path == Path(account.pw_dir):
            break
        os.chown(path, account.pw_uid, account.pw_gid)


@pytest.fixture(scope="module")
def hub(request, tmp_path_factory):
    """The session's scratch deployment (tests/hub/scratch_hub.py), its hub started; stopped and removed
    at the end of the session."""
    deployment = shared_deployment(request.config)
    for user in (deployment.accounts.grader, *deployment.accounts.students[:2]):
        give_lab_settings(user)
    if process.running_pid(deployment.layout) is None:
        log_start = deployment.layout.log_file.stat().st_size if deployment.layout.log_file.exists() else 0
        started = process.start(deployment.config, deployment.layout)
        print(f"[hub] {started.url} (log {started.log})")
        startup = deployment.layout.log_file.read_text(errors="replace")[log_start:]
        red = [line for line in startup.splitlines() if re.search(r"ConfigProxy\].*error", line)]
        assert not red, f"the proxy logged errors while the hub started: {red}"
    deployment.url = process.hub_url(deployment.config)
    deployment.state["shots"] = screenshot_folder(tmp_path_factory)
    return deployment


def shot(hub: ScratchHub, page: Page, name: str) -> None:
    page.screenshot(path=str(hub.state["shots"] / f"hub-{name}.png"))


def login(browser, hub: ScratchHub, user: str, next_path: str = "", height: int = 900) -> Page:
    """A fresh browser context logged in to the hub as `user` (the shared password)."""
    context = browser.new_context(viewport={"width": 1440, "height": height}, locale="zh-CN")
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


def menu(page: Page, *path: str) -> None:
    """Open JupyterLab's menu `path[0]`, then each submenu, and click the last item."""
    page.locator("#jp-MainMenu .lm-MenuBar-itemLabel", has_text=re.compile(f"^{path[0]}$")).click()
    for label in path[1:]:
        item = page.locator(".lm-Menu .lm-Menu-itemLabel", has_text=re.compile(f"^{label}$")).first
        item.hover() if label != path[-1] else item.click()


class Terminal:
    """A JupyterLab terminal, opened with File > New > Terminal, typed into and read as a person does.

    The rows on screen are read from xterm's screen-reader rows. The first command typed sets the
    prompt to show the command's number and the last exit status, so a command has finished when
    the next number's prompt is on screen, and its status is read there."""

    ROWS = ("id => Array.from(document.querySelectorAll('#' + id + ' .xterm-accessibility-tree > div'))"
            ".map(row => row.textContent.replace(/\\u00a0/g, ' ').trimEnd()).join('\\n')")

    def __init__(self, page: Page):
        self.page = page
        before = page.evaluate("() => Array.from(document.querySelectorAll('.jp-Terminal')).map(e => e.id)")
        menu(page, "File", "New", "Terminal")
        handle = page.wait_for_function(
            "before => Array.from(document.querySelectorAll('.jp-Terminal')).map(e => e.id)"
            ".find(id => !before.includes(id) && document.querySelector('#' + id + ' .xterm-accessibility-tree > div'))",
            arg=before)
        self.id = handle.json_value()
        self.tab = page.evaluate("id => document.getElementById(id).closest('.lm-Widget.jp-MainAreaWidget').id", self.id)
        self.wait_for(r"\$$", 120)
        self.number = 1
        status, _ = self.run(PS1)
        assert status == 0

    def screen(self) -> str:
        return self.page.evaluate(self.ROWS, self.id)

    def wait_for(self, pattern: str, seconds: float) -> re.Match:
        deadline = time.monotonic() + seconds
        while True:
            found = re.search(pattern, self.screen(), re.M)
            if found:
                return found
            assert time.monotonic() < deadline, f"no {pattern!r} in the terminal within {seconds:.0f} s:\n{self.screen()}"
            self.page.wait_for_timeout(250)  # the terminal's next repaint; the loop ends on what it shows

    def focus(self) -> None:
        self.page.locator(f'#jp-main-dock-panel .lm-TabBar-tab[data-id="{self.tab}"]').click()
        self.page.locator(f"#{self.id} .xterm-screen").click()

    def type(self, command: str) -> None:
        self.focus()
        self.page.keyboard.type(command)
        self.page.keyboard.press("Enter")

    def run(self, command: str, seconds: float = LONG / 1000) -> tuple[int, str]:
        """Type `command`, wait for its prompt; its exit status and what the screen shows of its output."""
        self.type(command)
        return self.finished(command, seconds)

    def finished(self, command: str, seconds: float) -> tuple[int, str]:
        self.number += 1
        status = int(self.wait_for(rf"^\[{self.number} exit (\d+)\]", seconds).group(1))
        screen = self.screen()
        end = screen.rindex(f"[{self.number} exit ")
        begin = screen.rfind(command, 0, end)
        return status, screen[(begin + len(command)) if begin >= 0 else 0:end]

    def interrupt(self, command: str, seconds: float = 120) -> int:
        """Ctrl+C the running `command`; its exit status."""
        self.focus()
        self.page.keyboard.press("Control+c")
        return self.finished(command, seconds)[0]


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
    expect(cell).to_contain_text("YOUR ANSWER HERE", timeout=120_000)  # a busy machine renders slowly
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


def test_01_the_instructor_builds_releases_and_starts_the_service_in_the_grader_terminal(hub, browser):
    context = browser.new_context(viewport={"width": 1440, "height": 1400}, locale="zh-CN")
    context.set_default_timeout(120_000)
    page = context.new_page()
    page.goto(f"{hub.url}/hub/login?next=/services/{hub.course_id}/lab", wait_until="domcontentloaded")
    expect(page.locator("#course-title")).to_have_text(hub.config.title)
    expect(page).to_have_title(hub.config.title)
    shot(hub, page, "01-login-page")
    page.locator("input[name=username]").fill(hub.accounts.instructor)
    page.locator("input[name=password]").fill(hub.password)
    page.locator("input[name=password]").press("Enter")
    wait_for_lab(page)
    expect(page).to_have_url(re.compile(f"/services/{hub.course_id}/lab"))


    # the documented commands, typed in the grader account's terminal (a login shell)
    terminal = Terminal(page)
    status, output = terminal.run("shopt login_shell; type python nbgrader coursekit")
    assert status == 0 and re.search(r"login_shell\s+on", output), output
    for tool in ("python", "nbgrader", "coursekit"):
        assert f"{tool} is {hub.layout.env.bin / tool}" in output, output
    status, output = terminal.run("python -m coursekit build")
    assert status == 0 and "release/lab2 regenerated" in output, output
    status, output = terminal.run("nbgrader release_assignment lab2")
    assert status == 0 and f"Released as: {hub.course_id} lab2" in output, output
    assert (hub.config.exchange_root / hub.course_id / "outbound" / "lab2" / "lab2.ipynb").is_file()
    shot(hub, page, "02-grader-terminal-build-and-release")

    # grading on submit: the service runs in a terminal of its own, as the grader account
    service = Terminal(page)
    service.type("python -m coursekit serve")
    service.wait_for(r"\[coursekit serve\]", 300)
    shot(hub, page, "03-grader-terminal-serve")
    # the course server's defaults: no news prompt; Chinese offered
    expect(page.get_by_text("official Jupyter news")).to_have_count(0)
    page.locator("#jp-MainMenu .lm-MenuBar-itemLabel", has_text=re.compile("^Settings$")).click()
    page.locator(".lm-Menu .lm-Menu-itemLabel", has_text=re.compile("^Language$")).first.hover()
    expect(page.locator(".lm-Menu .lm-Menu-itemLabel", has_text="中文")).to_have_count(1)
    page.keyboard.press("Escape")
    page.keyboard.press("Escape")
    hub.state.update(grader_page=page, terminal=terminal, service=service)


def the_page_shows_feedback(page: Page, offers_before: int) -> None:
    """Refresh the assignment list until it offers feedback for one more submission than before."""
    listing = page.locator("#submitted_assignments_list")
    deadline = time.monotonic() + LONG / 1000
    while listing.inner_text().count("feedback available to fetch") <= offers_before:
        assert time.monotonic() < deadline, f"no feedback offered within {LONG / 1000:.0f} s"
        page.wait_for_timeout(2000)  # the student's pace between refreshes; the loop ends on what the list shows
        page.locator("#refresh_assignments_list").click()
        expect(page.locator("#submitted_assignments_list_loading")).to_be_hidden()


def fetch_feedback(hub: ScratchHub, page: Page, key: str, shows: str) -> Path:
    """Fetch Feedback until the student's feedback page shows `shows` (nbgrader keeps one page per
    submission, feedback/<its timestamp>/lab2.html: the final feedback replaces the instant one)."""
    name = student(hub, key)
    folder = Path(f"/home/{name}/lab2/feedback")
    deadline = time.monotonic() + LONG / 1000
    while True:
        page.locator("#submitted_assignments_list .item_status button", has_text="Fetch Feedback").first.click()
        expect(page.locator("#submitted_assignments_list a", has_text="view feedback").first).to_be_visible()
        pages = [html for html in folder.glob("*/lab2.html") if shows in html.read_text(encoding="utf-8")]
        if pages:
            assert len(pages) == 1, pages
            return pages[0]
        assert time.monotonic() < deadline, f"Fetch Feedback brought no page showing {shows!r}"
        page.wait_for_timeout(2000)  # the student's pace between tries; the loop ends on what the folder holds
        page.locator("#refresh_assignments_list").click()
        expect(page.locator("#submitted_assignments_list_loading")).to_be_hidden()


def read_in_browser(hub: ScratchHub, page: Page, key: str, html: Path, texts: list[str], name: str) -> None:
    user = student(hub, key)
    tab = page.context.new_page()
    tab.goto(f"{hub.url}/user/{user}/files/{html.relative_to(Path('/home') / user).as_posix()}")
    for text in texts:
        expect(tab.locator("body")).to_contain_text(text)
    shot(hub, tab, name)
    tab.close()


def test_02_students_submit_and_get_instant_feedback_from_the_service(hub, browser):
    if "service" not in hub.state:
        pytest.skip("needs the released lab and the running service (test_01)")
    pages = {key: login(browser, hub, student(hub, key)) for key in "ab"}  # both servers start at once
    for key, page in pages.items():
        wait_for_lab(page)
        expect(page).to_have_url(re.compile(f"/user/{student(hub, key)}/lab"))
    shot(hub, pages["a"], "04-student-lab")
    hub.state["pages"] = pages

    # a student's terminal: the students' tools, none of the grader's settings, no view of the course's files
    terminal = Terminal(pages["a"])
    status, output = terminal.run("type python nbgrader; echo $JUPYTER_CONFIG_PATH")
    assert status == 0 and f"nbgrader is {hub.layout.env.bin / 'nbgrader'}" in output, output
    assert str(hub.layout.role_dir("student")) in output and str(hub.layout.role_dir("grader")) not in output, output
    status, output = terminal.run(f"ls {hub.config.directory('source')}")
    assert status != 0 and "Permission denied" in output, output
    shot(hub, pages["a"], "05-student-terminal")
    pages["a"].locator(f'#jp-main-dock-panel .lm-TabBar-tab[data-id="{terminal.tab}"] .lm-TabBar-tabCloseIcon').click()

    for key in "ab":
        fetch_and_submit(hub, pages[key], key)
    shot(hub, pages["b"], "06-student-submitted")
    # a student is not let into formgrader
    refused = pages["b"].context.new_page()
    response = refused.goto(f"{hub.url}/services/{hub.course_id}/formgrader", wait_until="domcontentloaded")
    assert response.status == 403, f"a student opened formgrader: HTTP {response.status}"
    refused.close()

    # no instructor action: the service grades each submission and releases its feedback
    expected = {"a": "总分：80 / 100", "b": "总分：0 / 100"}  # the 思考题 are not graded yet
    for key in "ab":
        page = pages[key]
        open_assignment_list(page)
        wait_for_list(page, "submitted", 1)
        the_page_shows_feedback(page, 0)
        html = fetch_feedback(hub, page, key, expected[key])
        text = html.read_text(encoding="utf-8")
        assert expected[key] in text and ANSWER[key] in text, f"{student(hub, key)}'s instant feedback"
        read_in_browser(hub, page, key, html, [expected[key]], f"07-instant-feedback-{key}")
        hub.state.setdefault("instant", {})[key] = text
    for key in "ab":  # the service's own log says so too
        hub.state["service"].wait_for(rf"{student(hub, key)}: feedback released", 60)
    shot(hub, hub.state["grader_page"], "08-grader-terminal-serve-graded")


def test_03_a_ta_grades_the_thinking_question_by_rubric_items(hub, browser):
    if len(hub.state.get("instant", {})) != 2:
        pytest.skip("needs the graded submissions (test_02)")
    a = student(hub, "a")
    page = login(browser, hub, hub.accounts.tas[0], f"/services/{hub.course_id}/formgrader")
    link = page.locator("#coursekit-handgrade-link")
    expect(link).to_have_attribute("href", f"/services/{hub.course_id}/coursekit/handgrade")  # docs/ta.md's URL
    shot(hub, page, "09-ta-formgrader-link")
    link.click()
    expect(page).to_have_url(f"{hub.url}/services/{hub.course_id}/coursekit/handgrade")
    problems: list[str] = []  # what the page met, for the message if it does not load
    page.on("console", lambda message: problems.append(f"console {message.type}: {message.text}")
            if message.type == "error" else None)
    page.on("response", lambda response: problems.append(f"HTTP {response.status} {response.url}")
            if response.status >= 400 else None)
    page.locator("#questions a", has_text="answer_q1").first.click()
    box = page.locator(f"#answers .answer[data-student='{a}']")
    try:
        expect(page.locator("#progress-text")).to_contain_text("已评 0 / ", timeout=120_000)
    except AssertionError as err:
        log = [line for line in hub.layout.log_file.read_text(errors="replace").splitlines() if "handgrade" in line]
        raise AssertionError(f"{err}\npage: {problems}\nhub log: {log[-20:]}") from None
    page.locator("#mode").click()  # one answer at a time, until student a's is on screen
    deadline = time.monotonic() + 120
    while not box.count():
        assert time.monotonic() < deadline, "student a's answer is not on the page"
        page.locator("#next").click()
    expect(box).to_contain_text(ANSWER["a"])
    for item in TICKED:
        page.locator(f"#items .item[data-item='{item}'] input.tick").check()
    points = sum(TICKED.values())
    expect(page.locator("#score")).to_have_text(f"得分：{points} / 4")
    page.locator("#comment").fill(COMMENT)
    shot(hub, page, "10-ta-handgrade")
    page.locator("#save").click()
    expect(page.locator("#message")).to_contain_text(f"已保存 1 份答案：{points} 分")

    # formgrader shows the TA's grade and comment
    with open_gradebook(hub.config) as gradebook:
        notebook_id = gradebook.find_submission_notebook("lab2", "lab2", a).id
    page.goto(f"{hub.url}/services/{hub.course_id}/formgrader/submissions/{notebook_id}/", wait_until="load")
    expect(page.locator("input.score#answer_q1")).to_have_value(str(points))
    expect(page.locator("textarea#answer_q1-comment")).to_have_value(re.compile(re.escape(COMMENT)))
    expect(page.locator("textarea#answer_q1-comment")).to_have_value(re.compile(r"✓ \[A\] \+2"))
    shot(hub, page, "11-ta-formgrader-grade")
    page.context.close()
    hub.state["handgraded"] = points


def test_04_the_instructor_stops_the_service_and_releases_the_final_feedback_in_the_terminal(hub):
    if "handgraded" not in hub.state:
        pytest.skip("needs the TA's grade (test_03)")
    page, terminal = hub.state["grader_page"], hub.state["terminal"]
    service = hub.state["service"]
    service.interrupt("python -m coursekit serve")
    service.wait_for(r"\[coursekit serve\] .*stopped$", 10)
    status, output = terminal.run("python -m coursekit grade")
    assert status == 0 and "in the bubblewrap sandbox" in output, output
    assert all(student(hub, key) in output for key in "ab"), output  # the grade table
    status, output = terminal.run("python -m coursekit feedback")
    assert status == 0, output
    status, output = terminal.run("nbgrader release_feedback lab2")
    assert status == 0, output
    shot(hub, page, "12-grader-terminal-grade-and-feedback")
    status, output = terminal.run("python -m coursekit report")
    assert status == 0 and (hub.config.root / "reports" / "lab2" / "index.html").is_file(), output
    status, output = terminal.run("python -m coursekit similarity")
    assert status == 0 and "similarity report:" in output and "not found" not in output, output  # sources found
    shot(hub, page, "13-grader-terminal-report-and-similarity")
    page.context.close()
    hub.state["final"] = True


def test_05_each_student_reads_their_own_final_feedback(hub):
    if not hub.state.get("final"):
        pytest.skip("needs the final feedback (test_04)")
    points = hub.state["handgraded"]
    expected = {"a": (f"总分：{80 + points} / 100", COMMENT), "b": ("总分：0 / 100", None)}
    for key, page in hub.state["pages"].items():
        name = student(hub, key)
        page.goto(f"{hub.url}/user/{name}/lab", wait_until="domcontentloaded")
        wait_for_lab(page)
        open_assignment_list(page)
        wait_for_list(page, "submitted", 1)
        total, comment = expected[key]
        html = fetch_feedback(hub, page, key, comment or total)
        text = html.read_text(encoding="utf-8")
        if comment:  # b's final page is its instant one: nothing of b's was graded by hand
            assert text != hub.state["instant"][key], f"{name}'s page is still the instant feedback"
        assert total in text, f"{name}'s feedback lacks {total}"
        other = "b" if key == "a" else "a"
        assert ANSWER[key] in text and ANSWER[other] not in text, f"{name} got another student's page"
        if comment:
            assert comment in text
        read_in_browser(hub, page, key, html, [total, ANSWER[key]], f"14-final-feedback-{key}")
        page.context.close()
