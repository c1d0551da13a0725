"""The course in a real browser: a scratch course, two JupyterLab servers, and Debian's chromium.

One session builds a scratch copy of the course (``copy_course``, ``coursekit build``,
``nbgrader release_assignment lab2``) and starts two JupyterLab servers with
``coursekit.labserver``, each on a free loopback port with its own token:

* the instructor's, in the scratch course folder (formgrader reads nbgrader_config.py -> course.toml);
* a student's (student id ``student1``), in a scratch home folder whose nbgrader_config.py points
  at the same exchange and course id, with ``COURSE_PROFILE=grading`` so that Run All takes seconds.

Playwright drives ``/usr/bin/chromium`` (never a downloaded browser). Screenshots go to
``$COURSE_SCREENSHOTS`` if set, else ``<pytest's basetemp>/browser-screenshots``; the folder is
printed at the end of the run. The tests themselves skip (with the reason) when chromium or the
playwright package is missing.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from coursekit.config import load_config
from coursekit.labserver import lab_launch
from coursekit.authoring.release import copy_course

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
STUDENT = "student1"
SERVER_START_TIMEOUT = 180  # seconds; JupyterLab imports a lot on a busy 2-core machine

_screenshot_dirs: list[Path] = []


def mirror_path() -> Path:
    env = os.environ.get("COURSE_DATA_MIRROR")
    return Path(env).resolve() if env else ROOT.parent / "shared" / "datasets"


def run(command: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    assert result.returncode == 0, f"{command} failed:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
    return result


# JupyterLab settings for the test servers only: every cell stays in the page (no virtual
# scrolling, so the test can read all outputs) and no news/update pop-up covers the screenshots.
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                        "checkForUpdates": False},
}


@dataclass
class LabServer:
    role: str
    url: str          # http://127.0.0.1:PORT/lab?token=...
    base: str         # http://127.0.0.1:PORT
    token: str
    root: Path
    log: Path
    process: subprocess.Popen = field(repr=False)

    def link(self, path: str) -> str:
        """An URL of this server with the token (path like '/files/lab2/x.html')."""
        sep = "&" if "?" in path else "?"
        return f"{self.base}{path}{sep}token={self.token}"

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""


def two_free_ports() -> tuple[int, int]:
    """Two different free loopback ports (both held open while the OS picks them)."""
    with socket.socket() as first, socket.socket() as second:
        first.bind(("127.0.0.1", 0))
        second.bind(("127.0.0.1", 0))
        return first.getsockname()[1], second.getsockname()[1]


def start_server(config, home: Path, role: str, extra_env: dict[str, str], student_dir: Path | None,
                 port: int, student_id: str | None = None) -> LabServer:
    """Start (not wait for) one JupyterLab server through coursekit.labserver, with test-only settings."""
    home.mkdir(parents=True, exist_ok=True)
    settings = home / ".jupyter-lab-settings"
    for name, values in LAB_SETTINGS.items():
        target = settings / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(values))
    env = {**os.environ, "HOME": str(home), "JUPYTERLAB_SETTINGS_DIR": str(settings),
           "JUPYTERLAB_WORKSPACES_DIR": str(home / ".jupyter-lab-workspaces"),
           "MPLCONFIGDIR": os.environ.get("MPLCONFIGDIR", str(Path.home() / ".config" / "matplotlib")),
           "COURSE_DATA_MIRROR": str(mirror_path()), **extra_env}
    env.pop("MPLBACKEND", None)
    env.pop("NBGRADER_EXECUTION", None)
    launch = lab_launch(config, port=port, student_dir=student_dir, env=env, student_id=student_id)
    log = home.parent / f"jupyterlab-{role}.log"  # outside the folder the page shows
    with log.open("w") as out:
        process = launch.start(stdout=out, stderr=subprocess.STDOUT)
    return LabServer(role=role, url=launch.url, base=launch.url.split("/lab?")[0], token=launch.token,
                     root=launch.cwd, log=log, process=process)


def wait_until_ready(server: LabServer) -> LabServer:
    """Poll /api/status until the server answers (fail with its log if it exits or takes too long)."""
    role, process, log = server.role, server.process, server.log
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the {role}'s JupyterLab exited with {process.returncode}:\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(server.link("/api/status"), timeout=5) as response:
                if response.status == 200:
                    print(f"[browser_tests] {role}'s JupyterLab: {server.base} (log {log})")
                    return server
        except OSError:
            time.sleep(1)
    stop_server(server)
    pytest.fail(f"the {role}'s JupyterLab did not answer within {SERVER_START_TIMEOUT} s:\n{server.log_tail()}")


def stop_server(server: LabServer) -> None:
    if server.process.poll() is None:
        server.process.terminate()
        try:
            server.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(timeout=10)


@dataclass
class Course:
    config_path: Path
    student_home: Path
    instructor: LabServer
    student: LabServer
    screenshots: Path
    state: dict = field(default_factory=dict)  # what earlier steps achieved, for later steps


@pytest.fixture(scope="session")
def course(tmp_path_factory) -> Course:
    """A released scratch course with the instructor's and a student's JupyterLab running."""
    base = tmp_path_factory.mktemp("browser-course")
    config_path = copy_course(ROOT, base / "course", with_release=False)
    # This machine may be shared (CI runners, other test suites): a cell that needs 30 s alone can
    # take minutes under load. These tests check the pages, not the time limit (grader_tests do),
    # so the scratch course lets Validate and autograde wait longer than course.toml's limit.
    toml = config_path.read_text(encoding="utf-8")
    assert re.search(r"(?m)^cell_timeout = \d+", toml), "course.toml has [grading] cell_timeout"
    toml = re.sub(r"(?m)^cell_timeout = \d+", "cell_timeout = 900", toml)
    # The submission is made now; whatever today's date, it is on time (late work: grader_tests).
    toml = re.sub(r"(?m)^due = \d{4}-", "due = 2099-", toml)
    config_path.write_text(toml, encoding="utf-8")
    env = {**os.environ, "COURSE_DATA_MIRROR": str(mirror_path()), "MPLBACKEND": "Agg"}
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    run([sys.executable, "-m", "coursekit", "--config", str(config_path), "build"], config_path.parent, env)
    run([sys.executable, "-m", "nbgrader", "release_assignment", "lab2"], config_path.parent, env)
    config = load_config(config_path)

    screenshots = Path(os.environ.get("COURSE_SCREENSHOTS") or tmp_path_factory.getbasetemp() / "browser-screenshots")
    screenshots.mkdir(parents=True, exist_ok=True)
    _screenshot_dirs.append(screenshots)

    # both servers start at once; each has its own HOME, port and token
    student_home = base / "student-home"
    instructor_port, student_port = two_free_ports()
    instructor = start_server(config, base / "instructor-home", "instructor",
                              {"USER": "instructor", "LOGNAME": "instructor"}, student_dir=None, port=instructor_port)
    student = start_server(config, student_home, "student",
                           {"USER": STUDENT, "LOGNAME": STUDENT, "COURSE_PROFILE": "grading"},
                           student_dir=student_home, port=student_port, student_id=STUDENT)
    try:
        wait_until_ready(instructor)
        wait_until_ready(student)
        yield Course(config_path=config_path, student_home=student_home, instructor=instructor, student=student,
                     screenshots=screenshots)
    finally:
        stop_server(student)
        stop_server(instructor)


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


def _page(browser, server: LabServer):
    context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN")
    context.set_default_timeout(60_000)
    page = context.new_page()
    page.goto(server.url, wait_until="domcontentloaded", timeout=120_000)
    page.locator("#jp-main-dock-panel").wait_for(timeout=120_000)
    page.locator("#jp-MainMenu .lm-MenuBar-itemLabel", has_text="Nbgrader").wait_for(timeout=120_000)
    return page


@pytest.fixture(scope="session")
def student_page(browser, course):
    page = _page(browser, course.student)
    yield page
    page.context.close()


@pytest.fixture(scope="session")
def instructor_page(browser, course):
    page = _page(browser, course.instructor)
    yield page
    page.context.close()


def pytest_terminal_summary(terminalreporter):
    for folder in _screenshot_dirs:
        shots = sorted(p.name for p in folder.glob("*.png"))
        terminalreporter.write_line(f"[browser_tests] {len(shots)} screenshots in {folder}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.browser_failed = report.failed


@pytest.fixture(autouse=True)
def screenshot_on_failure(request):
    """After a failed step, a screenshot of each page it used: FAILED-<test>-<page>.png."""
    yield
    if not getattr(request.node, "browser_failed", False) or "course" not in request.fixturenames:
        return
    folder = request.getfixturevalue("course").screenshots
    for name in ("student_page", "instructor_page"):
        if name in request.fixturenames:
            try:
                request.getfixturevalue(name).screenshot(path=str(folder / f"FAILED-{request.node.name}-{name}.png"))
            except Exception as err:  # the page may be gone; the test's own error matters more
                print(f"[browser_tests] no failure screenshot of {name}: {err}")


def screenshot_folder(tmp_path_factory) -> Path:
    """Where a test's screenshots go ($COURSE_SCREENSHOTS, else <pytest's basetemp>/browser-screenshots),
    listed at the end of the run; for tests that do not use the `course` fixture."""
    folder = Path(os.environ.get("COURSE_SCREENSHOTS") or tmp_path_factory.getbasetemp() / "browser-screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    if folder not in _screenshot_dirs:
        _screenshot_dirs.append(folder)
    return folder
