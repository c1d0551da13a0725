"""数值稳定性：Xavier 初始化 — a short assignment on how activations' variance grows or vanishes
through depth, and how Xavier/Glorot initialisation keeps it steady.

    xavier.py       xavier_uniform: its range and its variance (2 parts)
    variances.py    layer_variances: the variance of every layer's output (1 part)
    depth.py        the depth experiment: three initialisations through a deep linear network (1 part)

course.toml names :data:`ASSIGNMENT` (``[assignments.stability] parts``); the notebook's graded cells
call :func:`check`.
"""

from __future__ import annotations

from coursekit.partkit.local import notebook_check
from coursekit.partkit.part import Assignment, WorkerGroup
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


#: The graded cells' call, ``check(grade_id, subject, cases="visible")``: the visible checks of one part
#: (``cases="hidden"``: the instructor's run with the fixed hidden seed); a failure raises CheckFailed.
check = notebook_check(ASSIGNMENT)