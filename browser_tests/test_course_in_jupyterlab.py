"""The course in JupyterLab, the way students and TAs use it: one ordered story in chromium.

Student (``student1``): Nbgrader → Assignment List → fetch lab2; open the notebook from the list;
write one TODO (``l2_penalty``) with the reference answer in the cell editor; Kernel → Restart
Kernel and Run All Cells at the grading profile; read the self-checks and the figures; Validate;
Submit. The rest of the student's work (the other tasks and the 思考题) is written into the fetched
notebook before it is opened, as if done in an earlier session; it has one planted bug that only the
hidden tests see (``dropout_layer`` caps p at 0.8: its keep rate at p = 0.9), so feedback has a failure to show.

Instructor: Nbgrader → Formgrader; collect; the submission is listed; autograde it (76 / 100);
Manual Grading of 思考题 1 with a score (3 / 4) and a comment; generate and release feedback.
Student: Fetch Feedback; open the feedback HTML and read the scores, the failure message and the
figures.

The steps run in file order and share the session's servers; a step whose predecessor failed is
skipped with that reason. Every step writes screenshots and asserts what the page shows.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from browser_tests.conftest import CHROMIUM, STUDENT

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is not installed (CI installs Debian's chromium with apt-get)", allow_module_level=True)
pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed (pip install -e '.[dev]')")

from playwright.sync_api import Page, expect  # noqa: E402

from coursekit.authoring.samples import Sample, answers, make_submission, replace_once  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TODO = "l2_penalty"  # the TODO the student writes in the browser
STUDENT_ANSWERS = {  # the student's own (short) 思考题 answers
    "answer_q1": "多层线性变换可以合并成一层线性变换，深度就没有意义了；非线性激活让网络能表示非线性的函数。",
    "answer_q2": "sigmoid 的导数最大只有 1/4，层数多时梯度连乘后变得很小，前几层几乎学不动；ReLU 在正半轴导数为 1。",
    "answer_q3": "学习率太大时，一次更新就可能让单元对所有输入都输出 0，之后梯度恒为 0。可以减小学习率或用 LeakyReLU。",
    "answer_q4": "权重的范数变小了。小权重让模型更平滑，不容易记住训练集里的噪声，测试误差更接近训练误差。",
    "answer_q5": "每一步随机去掉一部分神经元，相当于训练很多个子网络再平均；按 1/(1-p) 缩放让训练和测试时的期望一致。",
}
COMMENT = "思路正确，但没有举出具体例子（例如 XOR 无法用线性边界分开）。"
LONG = 900_000  # ms: running the whole notebook / validating / autograding; minutes when the machine is busy

# --- helpers ---------------------------------------------------------------------------------


def shot(course, page: Page, name: str, full_page: bool = False) -> Path:
    """Save a PNG of the page as <screenshots>/<name>.png and check it is a real, non-empty image."""
    path = course.screenshots / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG") and len(data) > 20_000, f"{path} is not a real screenshot"
    return path


def needs(course, step: str) -> None:
    if not course.state.get(step):
        pytest.skip(f"needs the earlier step '{step}', which did not finish")


def main_menu(page: Page, menu: str, command: str) -> None:
    """Click a JupyterLab main-menu item (e.g. 'Nbgrader', 'nbgrader:open-assignment-list')."""
    page.locator("#jp-MainMenu .lm-MenuBar-itemLabel", has_text=re.compile(f"^{menu}$")).click()
    page.locator(f".lm-Menu li[data-command='{command}']").first.click()


def open_assignment_list(page: Page) -> None:
    tab = page.locator("#jp-main-dock-panel .lm-TabBar-tab", has_text="Assignments")
    if tab.count():
        tab.first.click()
    else:
        main_menu(page, "Nbgrader", "nbgrader:open-assignment-list")
        expect(tab).to_have_count(1)
    page.locator("#refresh_assignments_list").click()


def wait_for_list(page: Page, name: str, rows: int, assignment: str | None = None):
    """The assignment list's `name` section ('released', 'fetched', 'submitted') with `rows` rows (only those
    of `assignment`, when given: the course may list its other assignments too)."""
    expect(page.locator(f"#{name}_assignments_list_loading")).to_be_hidden()
    expect(page.locator(f"#{name}_assignments_list_error")).to_be_hidden()
    items = page.locator(f"#{name}_assignments_list > .list_item")
    if assignment is not None:
        items = items.filter(has=page.locator(".item_name", has_text=re.compile(rf"^\s*{re.escape(assignment)}\s*$")))
    expect(items).to_have_count(rows)
    return items


def formgrader(page: Page):
    """Nbgrader → Formgrader, opened afresh (on Manage Assignments); returns formgrader's iframe."""
    tab = page.locator("#jp-main-dock-panel .lm-TabBar-tab", has_text="Formgrader")
    if tab.count():
        tab.first.locator(".lm-TabBar-tabCloseIcon").click()
        expect(tab).to_have_count(0)
    main_menu(page, "Nbgrader", "nbgrader:open-formgrader")
    expect(tab).to_have_count(1)
    return page.frame_locator("#jp-main-dock-panel iframe[src*='formgrader']")


def modal_ok(frame, expected: str, timeout: int = 120_000) -> str:
    """Wait for formgrader's success dialog, check its text, close it and return the text."""
    modal = frame.locator("#success-modal.in, #error-modal.in").first
    expect(modal).to_be_visible(timeout=timeout)
    text = modal.locator(".modal-body").inner_text()
    assert modal.get_attribute("id") == "success-modal", f"formgrader reported an error: {text[:3000]}"
    assert expected in text, text
    modal.locator(".modal-footer button").first.click()
    # closed and faded out (formgrader removes the dialog when it is hidden)
    expect(frame.locator("#success-modal")).to_have_count(0)
    expect(frame.locator(".modal-backdrop")).to_have_count(0)
    return text


def code_cell(page: Page, marker: str):
    """The notebook's code cell whose source contains `marker`."""
    return page.locator(".jp-NotebookPanel:visible .jp-CodeCell").filter(
        has=page.locator(".jp-InputArea-editor", has_text=marker)).first


ALL_DONE_JS = """() => {
  const nb = [...document.querySelectorAll('.jp-NotebookPanel')].find(p => p.offsetParent !== null);
  if (!nb) return false;
  const prompts = [...nb.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')].map(e => e.textContent.trim());
  if (!prompts.length || prompts.some(t => t.includes('*'))) return false;
  const idle = (document.querySelector('#jp-main-statusbar') || {textContent: ''}).textContent.includes('Idle');
  const errored = [...nb.querySelectorAll(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")].some(e => /Traceback|Error\\b/.test(e.textContent));
  return idle && (/\\d/.test(prompts[prompts.length - 1]) || errored);
}"""


# --- the extensions are there -------------------------------------------------------------------

def test_00_lab_has_the_nbgrader_extensions(course, student_page, instructor_page):
    """Instructor: Nbgrader menu with Formgrader and the Create Assignment panel; student: the list."""
    instructor_page.locator("#jp-MainMenu .lm-MenuBar-itemLabel", has_text=re.compile("^Nbgrader$")).click()
    menu = instructor_page.locator(".lm-Menu:visible")
    for command in ("nbgrader:open-formgrader", "nbgrader:open-assignment-list", "nbgrader:open-course-list"):
        expect(menu.locator(f"li[data-command='{command}']")).to_have_count(1)
    shot(course, instructor_page, "00-instructor-nbgrader-menu")
    instructor_page.keyboard.press("Escape")
    expect(instructor_page.locator(".jp-SideBar.jp-mod-right")).to_contain_text("Create Assignment")
    expect(student_page.locator("#jp-MainMenu")).to_contain_text("Nbgrader")


# --- student -----------------------------------------------------------------------------------

def test_01_student_fetches_lab2_from_the_assignment_list(course, student_page):
    page = student_page
    open_assignment_list(page)
    released = wait_for_list(page, "released", 1)
    expect(released.first.locator(".item_name")).to_have_text("lab2")
    expect(released.first.locator(".item_course")).to_have_text("dl-lab2")
    shot(course, page, "01-student-assignment-list-released")

    released.first.locator(".item_status button", has_text="Fetch").click()
    fetched = wait_for_list(page, "fetched", 1)
    expect(fetched.first.locator(".item_name").first).to_contain_text("lab2")
    notebook = course.student_home / "lab2" / "lab2.ipynb"
    assert notebook.is_file(), "fetch puts lab2/lab2.ipynb in the student's folder"
    shot(course, page, "02-student-assignment-list-fetched")

    # The student's earlier session: every task but l2_penalty, a planted dropout bug, own 思考题 answers.
    source = nbformat.read(ROOT / "source" / "lab2" / "lab2.ipynb", as_version=4)
    done = set(answers(source)) - {TODO} - set(STUDENT_ANSWERS)
    work = make_submission(nbformat.read(notebook, as_version=4), source, Sample(
        STUDENT, "browser student", fill=frozenset(done),
        # a bug only the hidden inputs show: p is capped at 0.8 (the visible checks use p = 0.2 and 0.7,
        # the hidden ones 0.9 too), so Run All shows no error and the keep rate is lost
        edits={"dropout_layer": replace_once("mask = (torch.rand(X.shape, device=X.device) > dropout)",
                                             "mask = (torch.rand(X.shape, device=X.device) > min(dropout, 0.8))")}))
    for cell in work.cells:
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if gid in STUDENT_ANSWERS:
            cell.source = STUDENT_ANSWERS[gid]
    nbformat.write(work, notebook)
    course.state["fetched"] = True


def test_02_student_fills_a_todo_runs_all_and_sees_checks_and_figures(course, student_page):
    needs(course, "fetched")
    page = student_page
    open_assignment_list(page)
    fetched = wait_for_list(page, "fetched", 1)
    fetched.first.locator("a", has_text="lab2").first.click()  # expand: the notebooks of lab2
    page.locator("#fetched_assignments_list .list_item a", has_text=re.compile(r"^lab2$")).last.click()
    expect(page.locator("#jp-main-dock-panel .lm-TabBar-tab.lm-mod-current")).to_contain_text("lab2.ipynb")
    expect(page.locator(".jp-NotebookPanel:visible .jp-Notebook-cell").first).to_be_visible()
    expect(page.locator(".jp-NotebookPanel:visible jp-button.validate-button")).to_be_visible()
    # the kernel is up before the student starts typing
    expect(page.locator("#jp-main-statusbar")).to_contain_text("Idle", timeout=120_000)

    # Write the TODO with the reference answer (from source/), in the cell's editor.
    source = nbformat.read(ROOT / "source" / "lab2" / "lab2.ipynb", as_version=4)
    answer = answers(source)[TODO]
    cell = code_cell(page, f"def {TODO}(w)")
    expect(cell).to_contain_text("raise NotImplementedError()")
    cell.locator(".cm-content").click()
    page.keyboard.press("Control+a")
    page.keyboard.insert_text(answer)
    page.keyboard.press("Escape")
    expect(cell.locator(".cm-content")).to_contain_text("return torch.sum(w.pow(2)) / 2")
    expect(cell.locator(".cm-content")).not_to_contain_text("NotImplementedError")
    cell.scroll_into_view_if_needed()
    shot(course, page, "03-student-todo-written")

    # Kernel → Restart Kernel and Run All Cells…
    main_menu(page, "Kernel", "runmenu:restart-and-run-all")
    page.locator(".jp-Dialog .jp-Dialog-button.jp-mod-accept").click()
    page.wait_for_function(ALL_DONE_JS, timeout=LONG, polling=1000)

    notebook = page.locator(".jp-NotebookPanel:visible")
    outputs = notebook.locator(".jp-OutputArea-output")
    # an error is shown as stderr; the code the notebook displays (show_code) may mention ValueError
    stderr = notebook.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
    errors = [t for t in stderr.all_inner_texts() if re.search(r"Traceback|Error\b", t)]
    assert not errors, f"Run All shows errors: {errors[:2]}"
    expect(notebook).to_contain_text("运行配置 profile = grading")
    expect(notebook).to_contain_text("自查通过：三个激活函数及其导数都与 PyTorch 一致。")
    # the visible check of the TODO ran and passed: a run number, no error output
    check = code_cell(page, '"""l2_penalty（')
    expect(check.locator(".jp-InputArea-prompt")).to_have_text(re.compile(r"\[\d+\]"))
    expect(check.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")).to_have_count(0)
    # figures: activations, gradient vanishing, ReLU death, weight decay, dropout
    images = notebook.locator(".jp-OutputArea-output.jp-RenderedImage img, .jp-OutputArea-output .jp-RenderedImage img")
    assert images.count() >= 5, f"{images.count()} figures rendered"
    for i in range(images.count()):
        assert images.nth(i).evaluate("img => img.complete && img.naturalWidth > 100"), f"figure {i} did not load"

    code_cell(page, "自查：在 [-10, 10]").locator(".jp-RenderedImage img").first.scroll_into_view_if_needed()
    shot(course, page, "04-student-selfcheck-figure")
    check.scroll_into_view_if_needed()
    shot(course, page, "05-student-todo-check-passed")
    code_cell(page, "experiments.run_dropout(").locator(".jp-RenderedImage img").first.scroll_into_view_if_needed()
    shot(course, page, "06-student-dropout-experiment-figure")

    page.keyboard.press("Control+s")
    saved = course.student_home / "lab2" / "lab2.ipynb"
    page.wait_for_function("() => !document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-mod-dirty')")
    expect(page.locator("#jp-main-dock-panel .lm-TabBar-tab.lm-mod-current.jp-mod-dirty")).to_have_count(0)
    nb = nbformat.read(saved, as_version=4)
    assert any("return torch.sum(w.pow(2)) / 2" in c.source for c in nb.cells), "the answer is saved"
    assert not [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code" for o in c.outputs) >= 5
    course.state["ran"] = True


def test_03_student_validates(course, student_page):
    needs(course, "ran")
    page = student_page
    page.locator(".jp-NotebookPanel:visible jp-button.validate-button").click()
    dialog = page.locator(".nbgrader-SuccessDialog, .nbgrader-ErrorDialog").first
    expect(dialog).to_be_visible(timeout=LONG)
    shot(course, page, "07-student-validate-result")
    text = dialog.inner_text()
    assert "Success! Your notebook passes all the tests." in text, f"validate says:\n{text[:3000]}"
    dialog.locator(".jp-Dialog-button").last.click()
    expect(page.locator(".jp-Dialog")).to_have_count(0)
    course.state["validated"] = True


def test_04_student_submits(course, student_page):
    needs(course, "validated")
    page = student_page
    open_assignment_list(page)
    fetched = wait_for_list(page, "fetched", 1)
    fetched.first.locator(".item_status button", has_text="Submit").click()
    submitted = wait_for_list(page, "submitted", 1)
    expect(submitted.first.locator(".item_name").first).to_contain_text("lab2")
    expect(page.locator("#submitted_assignments_list")).to_contain_text(re.compile(r"\d{4}-\d{2}-\d{2}"))
    shot(course, page, "08-student-submitted")
    exchange = course.config_path.parent / ".exchange" / "dl-lab2" / "inbound"
    assert [p.name for p in exchange.iterdir() if p.name.startswith(f"{STUDENT}+lab2+")], "the exchange has it"
    course.state["submitted"] = True


# --- instructor --------------------------------------------------------------------------------

def test_05_instructor_collects_and_autogrades_in_formgrader(course, instructor_page):
    needs(course, "submitted")
    page = instructor_page
    frame = formgrader(page)
    row = frame.locator("#main-table tr", has=frame.locator("td.name", has_text="lab2"))
    expect(row.locator("td.status")).to_contain_text("released")
    shot(course, page, "09-formgrader-manage-assignments")
    row.locator("td.collect a").click()
    modal_ok(frame, "Successfully collected")
    expect(row.locator("td.num-submissions")).to_have_text("1")
    row.locator("td.num-submissions a").click()

    sub = frame.locator("#main-table tr", has=frame.locator("td.student-id", has_text=STUDENT))
    expect(sub.locator("td.status")).to_contain_text("needs autograding")
    shot(course, page, "10-formgrader-submission-listed")
    sub.locator("td.autograde a").click()
    modal_ok(frame, f"Successfully autograded 'lab2' for student '{STUDENT}'", timeout=LONG)
    # 80 autograded points minus test_dropout_keep_rate (4); 思考题 not graded yet
    expect(sub.locator("td.score")).to_have_text("76 / 100")
    expect(sub.locator("td.status")).to_contain_text("needs manual grading")
    shot(course, page, "11-formgrader-autograded")
    course.state["autograded"] = True


def test_06_instructor_grades_a_question_by_hand_with_a_comment(course, instructor_page):
    needs(course, "autograded")
    page = instructor_page
    frame = formgrader(page)
    frame.locator("a", has_text="Manual Grading").click()
    frame.locator("td a[href$='/formgrader/gradebook/lab2']", has_text="lab2").click()       # the assignment
    frame.locator("td a[href$='/formgrader/gradebook/lab2/lab2']", has_text="lab2").click()  # its notebook
    frame.locator("td a", has_text="Submission #1").click()
    score = frame.locator("input.score#answer_q1")
    expect(score).to_be_visible(timeout=120_000)
    expect(frame.locator("body")).to_contain_text(STUDENT_ANSWERS["answer_q1"][:20])
    score.fill("3")
    with page.expect_response(lambda r: "/formgrader/api/grade/" in r.url and r.request.method == "PUT") as saved:
        score.press("Tab")
    assert saved.value.ok, saved.value.status
    comment = frame.locator("textarea#answer_q1-comment")
    comment.fill(COMMENT)
    with page.expect_response(lambda r: "/formgrader/api/comment/" in r.url and r.request.method == "PUT") as saved:
        comment.press("Tab")
    assert saved.value.ok, saved.value.status
    # the grade is stored: load the page again and read it back from the server. frame.goto waits for the
    # new document; a reload started from inside the page raced the locators below (the old input detached).
    inner = page.locator("#jp-main-dock-panel iframe[src*='formgrader']").element_handle().content_frame()
    inner.goto(inner.url, wait_until="load")
    expect(frame.locator("input.score#answer_q1")).to_have_value("3", timeout=120_000)
    expect(frame.locator("textarea#answer_q1-comment")).to_have_value(COMMENT)
    frame.locator("input.score#answer_q1").scroll_into_view_if_needed()
    shot(course, page, "12-formgrader-manual-grade-q1")
    course.state["manual"] = True


def test_07_instructor_generates_and_releases_feedback(course, instructor_page):
    needs(course, "manual")
    page = instructor_page
    frame = formgrader(page)
    row = frame.locator("#main-table tr", has=frame.locator("td.name", has_text="lab2"))
    row.locator("td.num-submissions a").click()
    sub = frame.locator("#main-table tr", has=frame.locator("td.student-id", has_text=STUDENT))
    expect(sub.locator("td.score")).to_have_text("79 / 100")  # 76 + 3 for 思考题 1
    sub.locator("td.generate-feedback a").click()
    modal_ok(frame, f"Successfully generated feedback for 'lab2' for student '{STUDENT}'", timeout=LONG)
    sub.locator("td.release-feedback a").click()
    modal_ok(frame, f"Successfully released feedback for 'lab2' for student '{STUDENT}'")
    shot(course, page, "13-formgrader-feedback-released")
    feedback = course.config_path.parent / "feedback" / STUDENT / "lab2" / "lab2.html"
    assert feedback.is_file()
    outbound = course.config_path.parent / ".exchange" / "dl-lab2" / "feedback"
    assert any(outbound.glob("*.html")), "release_feedback put the page in the exchange"
    course.state["feedback"] = True


# --- student again -----------------------------------------------------------------------------

def test_08_student_fetches_and_reads_feedback(course, student_page):
    needs(course, "feedback")
    page = student_page
    open_assignment_list(page)
    submitted = wait_for_list(page, "submitted", 1)
    expect(page.locator("#submitted_assignments_list")).to_contain_text("feedback available to fetch")
    submitted.first.locator(".item_status button", has_text="Fetch Feedback").click()
    expect(page.locator("#submitted_assignments_list a", has_text="view feedback")).to_be_visible(timeout=120_000)
    shot(course, page, "14-student-feedback-fetched")
    htmls = sorted((course.student_home / "lab2" / "feedback").glob("*/lab2.html"))
    assert len(htmls) == 1, htmls

    # (view feedback) shows the folder in the file browser; open the page there, in JupyterLab
    page.locator("#submitted_assignments_list a", has_text="view feedback").click()
    item = page.locator("#filebrowser .jp-DirListing-item", has_text="lab2.html")
    expect(item).to_be_visible()
    item.dblclick()
    viewer = page.frame_locator("#jp-main-dock-panel .jp-HTMLViewer:visible iframe")
    expect(viewer.locator("body")).to_contain_text("成绩概要", timeout=120_000)
    shot(course, page, "15-student-feedback-in-jupyterlab")

    # the same page on its own (JupyterLab's "Open in New Browser Tab"), read from top to bottom
    relative = htmls[0].relative_to(course.student_home).as_posix()
    tab = page.context.new_page()
    tab.goto(course.student.link(f"/files/{relative}"))
    body = tab.locator("body")
    expect(body).to_contain_text("成绩概要")
    expect(body).to_contain_text("总分：79 / 100")             # 76 autograded + 3 by hand
    table = tab.locator("table").first
    expect(table).to_contain_text("0 / 4")                   # dropout_layer's keep rate lost
    expect(table).to_contain_text("5 / 5")                   # e.g. MySigmoid passed
    expect(table).to_contain_text("3 / 4")                   # 思考题 1, graded by hand
    expect(body).to_contain_text("保留下来的比例应接近 1 − p = 0.10")  # the failure message (p = 0.9)
    expect(body).to_contain_text(COMMENT)                    # the TA's comment
    figures = tab.locator("img[src^='data:image/png']")
    assert figures.count() >= 5, f"{figures.count()} figures in the feedback"
    for i in range(figures.count()):
        assert figures.nth(i).evaluate("img => img.complete && img.naturalWidth > 100")
    shot(course, tab, "16-feedback-page-top")
    tab.get_by_text("保留下来的比例应接近 1 − p = 0.10").first.scroll_into_view_if_needed()
    shot(course, tab, "17-feedback-failure-message")
    figures.last.scroll_into_view_if_needed()
    shot(course, tab, "18-feedback-dropout-figure")
    tab.close()
