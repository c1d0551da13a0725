"""The notebook's visible checks: a part measured and judged in the student's own kernel.

``check(grade_id, subject)`` in a graded cell measures the part on its visible cases through
:class:`LocalWorker` — the grading worker's own operations (:class:`coursekit.partkit.serve.Worker`),
answering from a namespace that holds only the graded object — and judges the measurement with the
part's judge, so the student reads the same messages as in the feedback. While nbgrader grades,
graded cells do not run: the grader measures the part itself, in a sandboxed worker, on hidden cases.
"""

from __future__ import annotations

from typing import Any

import torch

from coursekit.partkit.checks import CheckFailed
from coursekit.partkit.part import Assignment, Experiment, Part
from coursekit.partkit.serve import Worker


class LocalWorker(Worker):
    """A grading worker's operations on objects of this process (the notebook's)."""

    def __init__(self, namespace: dict[str, Any], ops: str = "") -> None:
        super().__init__()
        self._namespace = dict(namespace)
        self.use(ops)

    def ask(self, op: str, **args: Any) -> dict[str, Any]:
        from coursekit.partkit.serve import answer
        # A seeded call must not change the student's own random numbers; and it runs with autograd on,
        # as in a worker's own process (here it may be asked from inside an autograd Function's forward).
        with torch.random.fork_rng(devices=[]), torch.enable_grad():
            reply = answer(self, {"op": op, "args": args})
        if "failed" in reply:
            raise RuntimeError(f"the check could not ask {op}: {reply['failed']}")
        return reply


def judged(part: Part, data: dict[str, Any], which: str, secret: bytes | None = None) -> str | None:
    """None when the measurement passes the part's judge, else the student's message. A judge that
    raises anything but CheckFailed has a bug: it propagates (a grading error, not a lost point)."""
    try:
        part.judge(data, which, secret)
    except CheckFailed as failed:
        return str(failed)
    return None


def check(assignment: Assignment, grade_id: str, subject: Any, cases: str = "visible",
          review: Any = None) -> None:
    """Measure ``subject`` (the student's graded class or function) on the part's case set and judge it;
    a failure raises CheckFailed with its message. ``review``: a function (part, subject) -> message or
    None, the rule review of the cell that defined it."""
    part = assignment.part(grade_id)
    if isinstance(part, Experiment):
        raise TypeError(f"{grade_id} is an experiment: its cell runs the experiment and judges the result")
    if review is not None:
        finding = review(part, subject)
        if finding:
            raise CheckFailed(finding)
    worker = LocalWorker({part.definition: subject}, assignment.worker_ops)
    message = judged(part, part.measure(worker, cases), cases)
    if message:
        raise CheckFailed(message)
    print(f"{part.title}：{'通过全部检查' if cases == 'hidden' else '自查通过'}。")


def check_result(assignment: Assignment, grade_id: str, result: Any) -> None:
    """The experiment cell's verdict on the notebook's own run of the experiment."""
    part = assignment.part(grade_id)
    message = judged(part, part.measurement(result), "visible")
    if message:
        raise CheckFailed(message)
    print(f"{part.title}：自查通过。")


def course_settings(assignment: Assignment) -> Assignment:
    """The assignment with the settings its course's course.toml overrides, as the grader judges with them
    (no course.toml found from here: the parts' own settings)."""
    from coursekit.config import ConfigError, load_config
    from coursekit.partkit.settings import from_config
    try:
        config = load_config()
    except ConfigError:
        return assignment
    return from_config(assignment, config)


def notebook_check(assignment: Assignment):
    """The ``check(grade_id, subject, cases="visible")`` an assignment's graded cells call: an experiment's
    result is judged as it is, any other part is reviewed (the rules of the cell that defined ``subject``),
    measured and judged, with the settings course.toml gives its parts (read at the first check). A failure
    raises CheckFailed with its message."""
    from coursekit.partkit.rules import review_definition
    configured: list[Assignment] = []

    def check_part(grade_id: str, subject: Any, cases: str = "visible") -> None:
        if not configured:
            configured.append(course_settings(assignment))
        current = configured[0]
        if isinstance(current.part(grade_id), Experiment):
            check_result(current, grade_id, subject)
        else:
            check(current, grade_id, subject, cases, review=lambda p, s: review_definition(current, p, s))
    return check_part
