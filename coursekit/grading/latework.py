"""course.toml's late policy, applied to the gradebook after hand grading too.

nbgrader's LateSubmissionPlugin computes a late submission's penalty once, while autograding,
from the autograded score. Under ``late_policy = "zero"`` the marks a TA enters later for the
思考题 would then still count. :func:`zero_late_work` sets each late notebook's penalty to its
whole current score; ``coursekit feedback``, ``grades``, ``report`` and ``export`` call it first.
"""

from __future__ import annotations

from coursekit.config import CourseConfig


def zero_late_work(gradebook, assignment: str) -> list[str]:
    """Make every late submission of `assignment` score 0 (penalty = score); return who changed."""
    from nbgrader.api import MissingEntry
    changed = []
    try:
        submissions = gradebook.assignment_submissions(assignment)
    except MissingEntry:
        return changed
    for submission in submissions:
        if not submission.total_seconds_late or submission.total_seconds_late <= 0:
            continue
        for notebook in submission.notebooks:
            if notebook.late_submission_penalty != notebook.score:
                notebook.late_submission_penalty = notebook.score
                changed.append(submission.student.id)
    gradebook.db.commit()
    return sorted(set(changed))


def apply_late_policy(config: CourseConfig, assignment: str) -> list[str]:
    """Apply course.toml's late policy to the gradebook (only "zero" needs anything done)."""
    if config.late_policy != "zero":
        return []
    from coursekit.grading.nbgrader_settings import open_gradebook
    with open_gradebook(config) as gradebook:
        return zero_late_work(gradebook, assignment)
