"""数值稳定性：Xavier 初始化 — a short assignment on how activations' variance grows or vanishes
through depth, and how Xavier/Glorot initialisation keeps it steady.

    xavier.py       xavier_uniform: its range and its variance (2 parts)
    variances.py    layer_variances: the variance of every layer's output (1 part)
    depth.py        the depth experiment: three initialisations through a deep linear network (1 part)

course.toml names :data:`ASSIGNMENT` (``[assignments.stability] parts``); the notebook's graded cells
call :func:`check`.
"""

from __future__ import annotations

from typing import Any

from coursekit.partkit.part import Assignment, Experiment, WorkerGroup
from dlcourse.stability import depth, variances, xavier

ASSIGNMENT = Assignment(
    name="stability",
    parts=(*xavier.PARTS, *variances.PARTS, *depth.PARTS),
    groups={
        "xavier": WorkerGroup(("xavier",)),
        "variances": WorkerGroup(("variances",)),
        "experiment": WorkerGroup(("xavier", "variances")),
    },
    rules={"xavier": xavier.RULE},
    package="dlcourse",
    preload=("dlcourse.stability",),
    hidden_paths=("dlcourse.lectures",),
    samples="dlcourse.stability.samples:SAMPLES",
)


def check(grade_id: str, subject: Any, cases: str = "visible") -> None:
    """The graded cell's call: the visible checks of one part; a failure raises CheckFailed."""
    from coursekit.partkit import local
    from coursekit.partkit.rules import review_definition
    part = ASSIGNMENT.part(grade_id)
    if isinstance(part, Experiment):
        local.check_result(ASSIGNMENT, grade_id, subject)
    else:
        local.check(ASSIGNMENT, grade_id, subject, cases, review=lambda p, s: review_definition(ASSIGNMENT, p, s))
