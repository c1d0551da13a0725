"""coursekit.service.schedule: which submission counts, the rate limit, the due date's grading, recovery."""

from __future__ import annotations

import datetime as dt

from coursekit.config import Service
from coursekit.service.journal import Record
from coursekit.service.schedule import next_task, plan
from coursekit.service.watcher import Attempt

DUE = dt.datetime(2026, 12, 14, 15, 59, tzinfo=dt.timezone.utc)
POLICY = Service(per_student_per_hour=2, per_student_total=3)
HOUR = dt.timedelta(hours=1)


def record(student: str, minutes_before_due: float, state: str = "received", graded_ago: float | None = None,
           now: dt.datetime = DUE - 10 * HOUR, **fields) -> Record:
    at = DUE - dt.timedelta(minutes=minutes_before_due)
    rec = Record(Attempt(f"{student}+lab2+{at.isoformat()}+x", student, "lab2", at), state=state, **fields)
    if graded_ago is not None:
        rec.graded_at = now - dt.timedelta(minutes=graded_ago)
    return rec


def test_a_new_submission_is_graded():
    new = record("alice", 600)
    task = next_task([new], DUE - 10 * HOUR, DUE, POLICY)
    assert (task.action, task.attempt, task.final) == ("grade", new.attempt, False)


def test_a_graded_but_unreleased_submission_is_released_first_and_never_graded_again():
    graded = record("alice", 620, state="graded", graded_ago=1)
    newer = record("alice", 600)
    assert next_task([newer, graded], DUE - 10 * HOUR, DUE, POLICY).action == "release"
    assert next_task([record("bob", 620, state="released", graded_ago=1)], DUE - 10 * HOUR, DUE, POLICY) is None


def test_an_older_waiting_submission_is_superseded_by_the_newer_one():
    old = record("alice", 620, state="deferred")
    new = record("alice", 600)
    task = next_task([new, old], DUE - 10 * HOUR, DUE, POLICY)
    assert (task.action, task.attempt, task.other) == ("supersede", old.attempt, new.attempt)


def test_over_the_hourly_limit_a_submission_is_deferred_then_graded_when_the_window_opens():
    now = DUE - 10 * HOUR
    done = [record("alice", 700 + i, state="released", graded_ago=30 - 10 * i, now=now) for i in range(2)]
    new = record("alice", 600)
    task = next_task([*done, new], now, DUE, POLICY)
    assert task.action == "defer" and task.until == now - dt.timedelta(minutes=30) + HOUR
    waiting = record("alice", 600, state="deferred")
    assert next_task([*done, waiting], now, DUE, POLICY) is None, "one page per submission, then it waits"
    assert next_task([*done, waiting], task.until, DUE, POLICY).action == "grade"


def test_over_the_total_limit_it_waits_for_the_due_date_and_is_graded_then():
    now = DUE - 10 * HOUR
    done = [record("alice", 900 + i, state="released", graded_ago=300 + 60 * i, now=now) for i in range(3)]
    new = record("alice", 600)
    task = next_task([*done, new], now, DUE, POLICY)
    assert task.action == "defer" and task.until is None
    waiting = record("alice", 600, state="deferred")
    assert next_task([*done, waiting], DUE - dt.timedelta(seconds=1), DUE, POLICY) is None
    final = next_task([*done, waiting], DUE, DUE, POLICY)
    assert (final.action, final.attempt, final.final) == ("grade", waiting.attempt, True)


def test_after_the_due_date_the_last_on_time_submission_counts_and_a_late_one_gets_a_page():
    on_time = record("alice", 30, state="released", graded_ago=40, now=DUE)
    late = record("alice", -60)
    now = DUE + 2 * HOUR
    task = next_task([on_time, late], now, DUE, POLICY)
    assert (task.action, task.attempt, task.other) == ("not_counted", late.attempt, on_time.attempt)
    # a student with nothing on time is graded late (the late policy applies in the gradebook)
    only_late = record("bob", -60)
    task = next_task([only_late], now, DUE, POLICY)
    assert (task.action, task.final) == ("grade", False)


def test_plan_takes_one_task_per_free_student_oldest_first():
    records = [record("bob", 100), record("alice", 200), record("carol", 300), record("alice", 150)]
    tasks = plan(records, DUE - 10 * HOUR, DUE, POLICY, busy={"carol"})
    assert [(t.attempt.student, t.action) for t in tasks] == [("alice", "supersede"), ("bob", "grade")]
