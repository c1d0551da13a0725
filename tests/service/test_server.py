"""coursekit.service.server: the order of its steps, recovery, and the `best` policy, with nbgrader stubbed.

The real nbgrader run (collect, autograde in the sandbox, feedback, release) is grader_tests/test_service.py;
here the class-grading path and nbgrader's steps are replaced by stand-ins that record what they were asked.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
from concurrent.futures import Future
from pathlib import Path

import pytest

from coursekit.config import load_config
from coursekit.grading import classgrade
from coursekit.service import server as server_module
from coursekit.service.journal import Record
from coursekit.service.server import GradingService
from coursekit.service.watcher import feedback_page, inbound_folder, parse_attempt

ROOT = Path(__file__).resolve().parents[2]
NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.timezone.utc)


class Steps:
    """Stands in for coursekit.service.steps.NbgraderSteps: collect copies the newest inbound folder."""

    def __init__(self, config):
        self.config, self.calls = config, []

    def collect(self, assignment, student):
        self.calls.append(("collect", student))
        newest = sorted(inbound_folder(self.config).glob(f"{student}+{assignment}+*"))[-1]
        target = self.config.directory("submitted") / student / assignment
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(newest, target)

    def generate_feedback(self, assignment, student, steps):
        self.calls.append(("generate_feedback", student, tuple(steps)))

    def release_feedback(self, assignment, student, feedback_directory=None):
        self.calls.append(("release_feedback", student, feedback_directory))


@pytest.fixture
def service(tmp_path, monkeypatch):
    """A service on a scratch course folder whose grading gives the score written in the notebook."""
    config = dataclasses.replace(load_config(ROOT / "course.toml"), root=tmp_path, exchange_root=tmp_path / "exchange")
    monkeypatch.setattr(server_module, "NbgraderSteps", Steps)
    graded = []

    def grade_submission(job):
        text = (config.directory("submitted") / job.student / job.assignment / "lab2.ipynb").read_text()
        graded.append((job.student, text, job.sandbox))
        if not text.isdigit():
            return classgrade.Outcome(job.student, "failed", 1.0, "lab2.ipynb 不是有效的笔记本文件")
        return classgrade.Outcome(job.student, "graded", 1.0, score=float(text))

    monkeypatch.setattr(classgrade, "grade_submission", grade_submission)
    monkeypatch.setattr(classgrade, "fill_scores", lambda config, assignment, outcomes: None)
    with classgrade.LocalWorkers(1) as workers:
        svc = GradingService(config, "lab2", workers, clock=lambda: NOW)
        svc.graded = graded
        yield svc


def hand_in(config, student: str, minute: int, notebook: str):
    at = NOW - dt.timedelta(minutes=60 - minute)
    attempt = parse_attempt(f"{student}+lab2+{at.strftime('%Y-%m-%d %H:%M:%S.%f')} UTC+r{minute}")
    folder = inbound_folder(config) / attempt.name
    folder.mkdir(parents=True)
    (folder / "lab2.ipynb").write_text(notebook)
    (folder / "timestamp.txt").write_text(f"{at.strftime('%Y-%m-%d %H:%M:%S.%f')} UTC")
    (folder / "submission_secret.txt").write_text(f"secret-{student}-{minute}")
    return attempt


def run_all(svc) -> None:
    """Poll and execute until there is nothing left to do now."""
    for _ in range(20):
        tasks = svc.poll()
        if not tasks:
            return
        for task in tasks:
            svc._run(task)
    raise AssertionError("the service did not settle")


def test_a_submission_is_collected_graded_in_the_sandbox_and_its_feedback_released(service):
    attempt = hand_in(service.config, "alice", 1, "70")
    run_all(service)
    assert service.graded == [("alice", "70", service.config.sandbox.enabled)]
    assert [c[0] for c in service.steps.calls] == ["collect", "generate_feedback", "release_feedback"]
    steps = service.steps.calls[1][2]
    assert "coursekit.grading.feedback.HideHiddenTests" in steps, "outcomes before the due date"
    record: Record = service.journal.replay()[attempt.name]
    assert (record.state, record.score) == ("released", 70.0)
    assert classgrade.read_journal(service.config, "lab2")["alice"].status == "graded", "the class journal too"


def test_a_broken_submission_gets_its_reason_and_is_recorded_as_not_graded(service):
    from coursekit.grading.report import read_grading_failures
    attempt = hand_in(service.config, "bob", 1, "{ not json")
    run_all(service)
    assert read_grading_failures(service.config, "lab2") == {"bob": "lab2.ipynb 不是有效的笔记本文件"}
    released = [c for c in service.steps.calls if c[0] == "release_feedback"]
    assert len(released) == 1 and released[0][2] is not None, "the page with the reason, from the notices folder"
    page = released[0][2] / "bob" / "lab2" / "lab2.html"
    assert "不是有效的笔记本文件" in page.read_text(encoding="utf-8")
    assert service.journal.replay()[attempt.name].state == "released"


def test_after_a_restart_a_graded_submission_is_released_not_graded_again(service):
    attempt = hand_in(service.config, "carol", 1, "80")
    service.journal.append("received", attempt)
    service.journal.append("graded", attempt, status="graded", score=80.0, reason="")  # then the service died
    restarted = GradingService(service.config, "lab2", service.executor, clock=lambda: NOW)
    run_all(restarted)
    assert service.graded == [], "not graded again"
    assert [c[0] for c in restarted.steps.calls] == ["generate_feedback", "release_feedback"]
    assert restarted.journal.replay()[attempt.name].counts == {"received": 1, "graded": 1, "released": 1}


def test_a_task_that_finishes_while_the_service_polls_is_not_started_again(service):
    attempt = hand_in(service.config, "erin", 1, "75")
    service.journal.append("received", attempt)
    service._busy.add("erin")  # its grading is running on a worker thread
    read = service.journal.replay

    def replay_while_the_grading_finishes():
        records = read()  # read while the task still runs; then it writes its events and ends
        if "erin" in service._busy:
            service.journal.append("graded", attempt, status="graded", score=75.0, reason="")
            service.journal.append("released", attempt, latency=1.0)
            service._busy.discard("erin")
        return records

    service.journal.replay = replay_while_the_grading_finishes
    assert service.poll() == [], "the stale replay must not start a second grading"
    assert service.poll() == [] and service.graded == []
    assert read()[attempt.name].counts == {"received": 1, "graded": 1, "released": 1}


def test_a_submission_that_already_has_released_feedback_is_left_as_it_is(service):
    attempt = hand_in(service.config, "dave", 1, "80")
    page = feedback_page(service.config, attempt, "lab2.ipynb")
    page.parent.mkdir(parents=True)
    page.write_text("the instructor's feedback")
    run_all(service)
    assert service.graded == [] and service.steps.calls == []
    assert page.read_text() == "the instructor's feedback"
    assert service.journal.replay()[attempt.name].state == "released"


def test_best_puts_the_best_submission_back_after_a_lower_one(service):
    service.config = dataclasses.replace(service.config, service=dataclasses.replace(service.config.service, counts="best"))
    first = hand_in(service.config, "erin", 1, "80")
    run_all(service)
    second = hand_in(service.config, "erin", 5, "60")
    run_all(service)
    submitted = service.config.directory("submitted") / "erin" / "lab2"
    assert (submitted / "lab2.ipynb").read_text() == "80", "the best is back in submitted/"
    assert [text for _, text, _ in service.graded] == ["80", "60", "80"], "and graded again the class's way"
    events = service.journal.lines()
    restored = [e for e in events if e["event"] == "restored"]
    assert len(restored) == 1 and restored[0]["attempt"] == first.name and restored[0]["score"] == 80.0
    assert service.journal.replay()[second.name].state == "released", "the lower one still got its feedback"
    third = hand_in(service.config, "erin", 9, "90")
    run_all(service)
    assert [text for _, text, _ in service.graded][3:] == ["90"], "a better one simply counts"


def test_gradings_start_only_as_the_executor_has_room_and_the_others_wait_in_the_journal(service):
    first, second, third = (hand_in(service.config, s, m, "70") for s, m in (("ann", 1), ("ben", 2), ("cat", 3)))
    tasks = service.poll(slots=2)
    assert [(t.action, t.attempt.name) for t in tasks] == [("grade", first.name), ("grade", second.name)], "oldest first"
    assert service.journal.replay()[third.name].state == "received" and "cat" not in service._busy
    assert service.poll(slots=0) == [], "no room: nothing more starts"
    for task in tasks:
        service._run(task)
    assert [t.attempt.name for t in service.poll(slots=1)] == [third.name]


def test_pages_that_need_no_grading_go_out_while_the_executor_is_full(service):
    service.config = dataclasses.replace(
        service.config, service=dataclasses.replace(service.config.service, per_student_total=0))
    attempt = hand_in(service.config, "dan", 1, "70")
    tasks = service.poll(slots=0)
    assert [(t.action, t.attempt.name) for t in tasks] == [("defer", attempt.name)]


class LostScheduler:
    """Stands in for classgrade.DaskCluster whose scheduler is gone (``down``) or back (grading here)."""

    where = "on the Dask cluster at tcp://127.0.0.1:9"

    def __init__(self, local):
        self.local, self.down = local, True

    def capacity(self):
        if self.down:
            raise classgrade.GradingError("lost the connection to the Dask scheduler at tcp://127.0.0.1:9; reconnecting")
        return 1

    def submit(self, job):
        if not self.down:
            return self.local.submit(job)
        future = Future()
        future.set_exception(classgrade.GradingError(
            f"lost the Dask scheduler at tcp://127.0.0.1:9 while grading {job.student}'s submission"))
        return future


def test_a_lost_scheduler_keeps_every_submission_in_the_journal_and_grades_it_when_it_is_back(service, capsys):
    now = [NOW]
    cluster = LostScheduler(service.executor)
    svc = GradingService(service.config, "lab2", cluster, clock=lambda: now[0])
    cut_off = hand_in(svc.config, "eve", 1, "75")   # its grading was running when the scheduler went
    svc._run(svc.poll(slots=1)[0])
    waiting = hand_in(svc.config, "fay", 2, "65")   # arrives while it is gone
    assert svc.free_slots() == 0 and svc.free_slots() == 0
    assert svc.poll(svc.free_slots()) == []
    records = svc.journal.replay()
    assert records[cut_off.name].state == records[waiting.name].state == "received", "kept, not graded"
    said = capsys.readouterr().err
    assert "eve: grade of" in said and "lost the Dask scheduler at tcp://127.0.0.1:9 while grading eve's" in said
    assert "stays in the journal and is tried again in 30 s" in said and "Traceback" not in said
    assert said.count("lost the connection to the Dask scheduler") == 1, "said once, not at every poll"

    cluster.down = False
    now[0] = NOW + dt.timedelta(seconds=31)
    assert svc.free_slots() == 1
    run_all(svc)
    assert "grading on the Dask cluster at tcp://127.0.0.1:9 again" in capsys.readouterr().err
    records = svc.journal.replay()
    for attempt in (cut_off, waiting):
        assert records[attempt.name].state == "released" and records[attempt.name].counts["graded"] == 1
