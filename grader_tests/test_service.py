"""`coursekit serve` end to end: students submit through nbgrader's exchange, the service grades each
submission in the sandbox and releases its feedback; killed with SIGKILL mid-grading and started
again, it loses nothing and grades each submission exactly once, while a TA writes to the gradebook.

One service run (module fixture) serves every assertion. The scratch course sets
``show_hidden_tests = true`` on purpose: the ``outcomes`` policy must hide the hidden tests anyway.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import pytest

from coursekit.authoring.samples import make_submission
from dlcourse.lab2.samples import DEMO_SAMPLES
from coursekit.config import load_config
from coursekit.grading.gradetable import grade_rows
from coursekit.grading.nbgrader_settings import open_gradebook
from coursekit.service.watcher import feedback_page
from coursekit.service.journal import Journal, journal_path
from grader_tests.conftest import mirror_path, released_course
from grader_tests.test_feedback_and_report import hidden_lines, page_text
from tests.support.classroom import stop_service as stop, submit

SAMPLES = {s.student: s for s in DEMO_SAMPLES}
#: student -> the sample they submit; "eager" submits twice, the second time over the limit.
CLASS = {"reference": "reference", "partial": "partial", "eager": "partial"}
AUTOGRADED_SCORES = {"reference": 80, "partial": 70, "eager": 70}
WAIT = 900  # seconds: the most any state below may take on a busy 2-core machine


def wait_for(what: str, predicate, service: subprocess.Popen | None = None, timeout: float = WAIT):
    """Poll `predicate` until it returns something true; fail with `what` (and the service's end) otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if service is not None and service.poll() is not None:
            pytest.fail(f"the service exited ({service.returncode}) while waiting for {what}")
        time.sleep(0.2)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


def start_service(config_path: Path, log: Path, assignment: str = "") -> subprocess.Popen:
    """`coursekit serve [assignment]` on the scratch course, its output appended to `log`."""
    env = {**os.environ, "COURSE_DATA_MIRROR": str(mirror_path()), "MPLBACKEND": "Agg"}
    with log.open("a") as out:
        return subprocess.Popen([sys.executable, "-m", "coursekit", "--config", str(config_path), "serve",
                                 *([assignment] if assignment else [])],
                                cwd=config_path.parent, env=env, stdout=out, stderr=subprocess.STDOUT)




def processes_of(folder: Path) -> list[str]:
    """Command lines of running processes that name the scratch course (the service, nbgrader, kernels)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(folder) in cmdline:
            found.append(cmdline)
    return found


@dataclass
class Run:
    config_path: Path
    attempts: dict[str, list]        # student -> their submissions, in order
    events: list[dict]               # the journal after everything finished
    killed_while: list[str]          # what the journal said when the service was killed
    ta_writes: int                   # TA commits to the gradebook while the service ran
    ta_errors: list[str] = field(default_factory=list)
    log: str = ""


def ta_edits_the_gradebook(config, stop_event: threading.Event, counter: list, errors: list) -> None:
    """What formgrader does when a TA edits a student in *Manage Students*, over and over: commits to the
    gradebook the service is writing."""
    while not stop_event.is_set():
        try:
            with open_gradebook(config) as gradebook:
                gradebook.update_or_create_student("ta-edited", last_name=str(counter[0] + 1))
            counter[0] += 1
        except Exception as err:  # the test reports every failed write
            errors.append(f"{type(err).__name__}: {err}")
        stop_event.wait(0.05)


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Run:
    base = tmp_path_factory.mktemp("served-course")
    config_path = released_course(base / "course", (("show_hidden_tests = false", "show_hidden_tests = true"),
                                                    ("per_student_per_hour = 4", "per_student_per_hour = 1"),
                                                    ("per_student_total = 20", "per_student_total = 2"),
                                                    ("poll_seconds = 2", "poll_seconds = 0.5"),
                                                    ("due = 2026-12-14", "due = 2099-12-14")))
    config = load_config(config_path)
    release = nbformat.read(config.directory("release") / "lab2" / "lab2.ipynb", as_version=4)
    source = nbformat.read(config.directory("source") / "lab2" / "lab2.ipynb", as_version=4)
    homes = base / "homes"
    log = base / "service.log"
    journal = Journal(journal_path(config, "lab2"))

    service = start_service(config_path, log)
    # Imported here, before the TA's thread: two threads importing nbgrader's modules at once can deadlock
    # in Python's import locks.
    import nbgrader.api  # noqa: F401
    import nbgrader.exchange.default.submit  # noqa: F401
    # A TA works in formgrader the whole time, the kill and the restart included.
    stop_ta, writes, errors = threading.Event(), [0], []
    ta = threading.Thread(target=ta_edits_the_gradebook, args=(config, stop_ta, writes, errors))
    ta.start()
    try:
        attempts: dict[str, list] = {}
        for student, sample in CLASS.items():
            nb = make_submission(release, source, SAMPLES[sample])
            attempts[student] = [submit(config, homes / student, student, "lab2",
                                        {"lab2.ipynb": nbformat.writes(nb).encode()})]
        attempts["broken"] = [submit(config, homes / "broken", "broken", "lab2",
                                     {"lab2.ipynb": b'{"cells": [ this is not json'})]
        # Killed while submissions are being graded: as soon as the first one is graded, the others are running.
        wait_for("a first graded submission", lambda: any(e["event"] == "graded" for e in journal.lines()), service)
        killed_while = [f"{e['student']}:{e['event']}" for e in journal.lines()]
        service.send_signal(signal.SIGKILL)
        service.wait()
        course = config_path.parent
        wait_for("the killed service's nbgrader and kernels to end", lambda: not processes_of(course), timeout=120)

        service = start_service(config_path, log)
        released = lambda s: [e for e in journal.lines() if e["event"] == "released" and e["student"] == s]
        wait_for("eager's first feedback", lambda: released("eager"), service)
        # eager submits again within the hour: over the limit (1 per hour), kept and answered
        nb = make_submission(release, source, SAMPLES["partial"])
        attempts["eager"].append(submit(config, homes / "eager", "eager", "lab2",
                                        {"lab2.ipynb": nbformat.writes(nb).encode()}))
        every = [a.name for theirs in attempts.values() for a in theirs]
        finished = lambda: {e["attempt"] for e in journal.lines() if e["event"] in ("released", "deferred")}
        wait_for("every submission answered", lambda: set(every) <= finished(), service)
    finally:
        stop_ta.set()
        ta.join()
        stop(service)
    return Run(config_path, attempts, journal.lines(), killed_while, writes[0], errors,
               log.read_text(encoding="utf-8", errors="replace"))


def test_each_submission_is_graded_and_released_exactly_once_across_a_kill(served):
    assert served.killed_while and not all(e.endswith("released") for e in served.killed_while)
    assert "SIGKILL" not in served.log
    counted = {}
    for event in served.events:
        counted.setdefault(event["attempt"], []).append(event["event"])
    for student, theirs in served.attempts.items():
        for number, attempt in enumerate(theirs):
            events = counted[attempt.name]
            if student == "eager" and number == 1:
                assert events.count("deferred") == 1 and "graded" not in events, events
                continue
            assert events.count("graded") == 1 and events.count("released") == 1, (student, events)
    assert len(counted) == sum(map(len, served.attempts.values())), "no submission unknown, none lost"


def test_the_gradebook_has_one_submission_per_student_with_the_class_paths_scores(served):
    config = load_config(served.config_path)
    with open_gradebook(config) as gradebook:
        submissions = {s.student.id: s for s in gradebook.assignment_submissions("lab2")}
        assert sorted(submissions) == sorted(AUTOGRADED_SCORES), "broken never reached nbgrader, as in `coursekit grade`"
    _, rows = grade_rows(config, "lab2")
    autograded = {row["student"]: sum(v for gid, v in row["cells"].items() if v is not None and not gid.startswith("answer_q"))
                  for row in rows}
    assert autograded == AUTOGRADED_SCORES
    journal_scores = {e["student"]: e["score"] for e in served.events if e["event"] == "graded"}
    assert journal_scores["partial"] == 70 and journal_scores["broken"] is None


def test_a_ta_writing_the_gradebook_meanwhile_loses_nothing(served):
    assert served.ta_writes >= 10 and not served.ta_errors, served.ta_errors[:3]
    with open_gradebook(load_config(served.config_path)) as gradebook:
        assert gradebook.find_student("ta-edited").last_name == str(served.ta_writes), "the TA's last write is stored"
    assert "database is locked" not in served.log


def test_the_released_outcomes_feedback_shows_scores_and_messages_and_no_hidden_test_code(served):
    config = load_config(served.config_path)
    page = feedback_page(config, served.attempts["partial"][0], "lab2.ipynb")
    text = page_text(page)
    assert "总分：70 / 100" in text
    assert "1 - dropout" in text, "the failure message names the mistake"
    leaked = sorted(line for line in hidden_lines() if line in text)
    assert not leaked, f"hidden-test lines in the feedback although the policy is outcomes: {leaked[:3]}"
    assert "隐藏测试：评分时运行，代码不显示" in text


def test_a_broken_notebook_gets_its_reason(served):
    config = load_config(served.config_path)
    text = page_text(feedback_page(config, served.attempts["broken"][0], "lab2.ipynb"))
    assert "不是有效的笔记本文件" in text and "JSON" in text


def test_a_submission_over_the_limit_is_kept_and_told_when_it_will_be_graded(served):
    config = load_config(served.config_path)
    second = served.attempts["eager"][1]
    text = page_text(feedback_page(config, second, "lab2.ipynb"))
    assert "已经收到并保存" in text and "每小时最多自动评分 1 次" in text
    deferred = next(e for e in served.events if e["event"] == "deferred")
    graded = next(e for e in served.events if e["event"] == "graded" and e["student"] == "eager")
    assert deferred["until"][:16] > graded["at"][:16], "an hour after the first grading"
    assert re.search(r"下一次评分时间：\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", text)
    assert (config.exchange_root / config.course_id / "inbound" / second.name / "lab2.ipynb").is_file()
