"""What to do next for each student, from the journal and the clock (no side effects, so it is tested alone).

For each student, in this order, one task at a time (a student's submissions share one folder in
submitted/, so they are never worked on in parallel):

1. a submission graded but not yet released (the service was stopped in between): release it;
2. the submission that counts now — the last one on time, else the last late one (what
   ``nbgrader collect --before-duedate`` takes) — every other unfinished one gets a page: late
   while an on-time one counts (``not_counted``), or replaced by a newer one (``superseded``);
3. that submission: graded when the rate limit allows, else kept and answered with a page saying
   when it will be graded (``defer``), and graded then. From the due date on, an on-time
   submission held back by the limit is graded whatever the limit (the deadline's grading).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from coursekit.config import Service
from coursekit.service.journal import Record
from coursekit.service.ratelimit import decide
from coursekit.service.watcher import Attempt

ACTIONS = ("grade", "defer", "release", "supersede", "not_counted")


@dataclass(frozen=True)
class Task:
    """One thing to do for one submission."""

    action: str                      # one of ACTIONS
    attempt: Attempt
    other: Attempt | None = None     # the newer submission (supersede) or the one that counts (not_counted)
    until: dt.datetime | None = None  # defer: when it may be graded (None: at the due date)
    final: bool = False              # grade: the due date's grading, not subject to the rate limit


def next_task(records: list[Record], now: dt.datetime, due: dt.datetime, service: Service) -> Task | None:
    """The next task for one student's submissions (any order), or None when there is nothing to do now."""
    records = sorted(records, key=lambda r: (r.attempt.submitted_at, r.attempt.name))
    for record in records:
        if record.state == "graded":
            return Task("release", record.attempt)
    on_time = [r for r in records if r.attempt.on_time(due)]
    candidate = (on_time or records)[-1]
    for record in records:
        if record is candidate or record.finished or record.state not in ("received", "deferred"):
            continue
        if on_time and not record.attempt.on_time(due):
            return Task("not_counted", record.attempt, other=candidate.attempt)
        return Task("supersede", record.attempt, other=candidate.attempt)
    if candidate.state not in ("received", "deferred"):
        return None
    if now >= due and candidate.attempt.on_time(due):
        return Task("grade", candidate.attempt, final=True)
    graded = [r.graded_at for r in records if r.graded_at is not None]
    decision = decide(graded, now, service.per_student_per_hour, service.per_student_total)
    if decision.allowed:
        return Task("grade", candidate.attempt)
    if candidate.state == "received":
        return Task("defer", candidate.attempt, until=decision.next_at)
    return None  # deferred already: the student has their page; wait for the window or the due date


def plan(records: Iterable[Record], now: dt.datetime, due: dt.datetime, service: Service,
         busy: set[str]) -> list[Task]:
    """The next task of every student who has one and is not being worked on, oldest submission first."""
    by_student: dict[str, list[Record]] = {}
    for record in records:
        by_student.setdefault(record.attempt.student, []).append(record)
    tasks = []
    for student, theirs in by_student.items():
        if student in busy:
            continue
        task = next_task(theirs, now, due, service)
        if task is not None:
            tasks.append(task)
    return sorted(tasks, key=lambda t: (t.attempt.submitted_at, t.attempt.name))
