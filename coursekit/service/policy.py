"""The course's policy for graded-on-submit work (course.toml [service]).

* What feedback shows **before the due date** (``before_deadline``):

  - ``visible``: only the parts without hidden tests (the experiments, whose every check the
    student can run): their points and messages; a part with hidden tests shows neither, and no
    total is given (it would tell the hidden result). The student learns that the notebook runs
    in the grader and what the experiments show, nothing about the hidden inputs;
  - ``outcomes`` (the default): every graded part's points and failure message, the total; the
    hidden tests' code is removed (:class:`coursekit.grading.feedback.HideHiddenTests`) even when
    ``[grading] show_hidden_tests`` is true;
  - ``full``: the same with the hidden tests' code shown.

  **After the due date** the usual feedback (``coursekit feedback``'s: ``show_hidden_tests`` decides).
* **Which submission counts** (``counts``): ``last`` — the last one before the due date, the way
  ``nbgrader collect --before-duedate`` picks it (a late one only when there is none on time; late
  work then follows ``[grading] late_policy``); ``best`` — of the graded on-time ones, the highest
  score (the latest of equals).
"""

from __future__ import annotations

import datetime as dt

from coursekit.config import CourseConfig
from coursekit.grading.nbgrader_settings import feedback_preprocessors

HIDE = "coursekit.grading.feedback.HideHiddenTests"
SUMMARY = "coursekit.grading.feedback.SummarizeGrades"
WITHHOLD = "coursekit.service.visible.WithholdHiddenResults"
#: The feedback of every submission graded after the due date.
USUAL = "usual"


def feedback_mode(config: CourseConfig, due: dt.datetime, now: dt.datetime) -> str:
    """The feedback a submission graded at `now` gets: the course's choice before `due`, else the usual."""
    return config.service.before_deadline if now < due else USUAL


def feedback_steps(config: CourseConfig, mode: str) -> list[str]:
    """nbgrader's GenerateFeedback preprocessors for `mode` (the course's own list, changed as little as needed)."""
    steps = feedback_preprocessors(config)
    if mode == USUAL:
        return steps
    steps = [s for s in steps if s != HIDE]
    if mode == "full":
        return steps
    if mode not in ("outcomes", "visible"):
        raise ValueError(f"unknown feedback mode {mode!r}")
    at = steps.index(SUMMARY)
    steps.insert(at + 1, HIDE)  # after the summary has read the failure messages, before the page is written
    if mode == "visible":
        steps.insert(at, WITHHOLD)
    return steps


def best_of(scored: list[tuple[dt.datetime, str, float]]) -> str | None:
    """The submission that counts under ``best``: (submitted_at, name, score) -> the highest score,
    the latest of equals; None when there is none."""
    if not scored:
        return None
    return max(scored, key=lambda item: (item[2], item[0]))[1]
