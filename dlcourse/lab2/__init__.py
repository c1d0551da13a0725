"""Lab 2 as the grading engine sees it: its autograded parts, one module per TODO, registered here.

    activations.py      MyReLU, MySigmoid, MyTanh: values and derivatives (6 parts)
    network.py          Network: forward and backward (2 parts), the worker's network operations
    mlp_experiments.py  the vanishing-gradient and ReLU-death experiments (2 parts)
    dead_units.py       dead_unit_fraction (1 part)
    l2_penalty.py       l2_penalty and the weight-decay experiment (2 parts)
    dropout.py          dropout_layer (5 parts) and the dropout experiment (1 part)

course.toml names :data:`ASSIGNMENT` (``[assignments.lab2] parts``); the notebook's graded cells
call :func:`check`. Points live in course.toml; tests check that both name the same grade ids.
"""

from __future__ import annotations

from typing import Any

from dlcourse.lab2 import activations, dead_units, dropout, l2_penalty, mlp_experiments, network
from coursekit.partkit.local import notebook_check
from coursekit.partkit.part import Assignment, Experiment, WorkerGroup

_BY_ID = {p.grade_id: p for module in (activations, network, mlp_experiments, dead_units, l2_penalty, dropout)
          for p in module.PARTS}
#: Notebook order.
ORDER = ("test_relu", "test_relu_derivative", "test_sigmoid", "test_sigmoid_derivative", "test_tanh",
         "test_tanh_derivative", "test_network_forward", "test_network_backward", "test_gradient_vanishing",
         "test_dead_units", "test_relu_death", "test_l2_penalty", "test_weight_decay", "test_dropout_keep_rate",
         "test_dropout_scaling", "test_dropout_edges", "test_dropout_fresh_masks", "test_dropout_contract",
         "test_dropout_experiment")

ASSIGNMENT = Assignment(
    name="lab2",
    parts=tuple(_BY_ID[gid] for gid in ORDER),
    # A part's verdict can depend only on the cells of its worker.
    groups={
        "activations": WorkerGroup(("activations",)),
        "network": WorkerGroup(("network",), reference=network.REFERENCE_ACTIVATIONS),
        "experiments_mlp": WorkerGroup(("activations", "network")),
        "dead_units": WorkerGroup(("dead_units",)),
        "l2_penalty": WorkerGroup(("l2_penalty",)),
        "dropout_layer": WorkerGroup(("dropout_layer",)),
    },
    rules={"activations": activations.RULE, "dropout_layer": dropout.RULE},
    package="dlcourse",
    preload=("dlcourse", "dlcourse.lab2", "dlcourse.session", "dlcourse.experiments",
             "dlcourse.training", "dlcourse.data", "dlcourse.plotting", "dlcourse.showcode"),
    worker_ops="dlcourse.lab2.network:WORKER_OPS",
    warm="dlcourse.data:preload_mnist",
    provision="dlcourse.data:provision",
    samples="dlcourse.lab2.samples:DEMO_SAMPLES",
    # The lecture code implements dropout from scratch: no answer is handed out while grading.
    hidden_paths=("dlcourse.lectures",),
)
PARTS = ASSIGNMENT.by_id


#: The graded cells' call, ``check(grade_id, subject, cases="visible")``: the visible checks of one part
#: (``cases="hidden"``: the instructor's run with the fixed hidden seed); a failure raises CheckFailed.
check = notebook_check(ASSIGNMENT)


def measure(grade_id: str, subject: Any, which: str = "visible") -> dict[str, Any]:
    """The part's measurement of ``subject`` in this process (an experiment: of its result)."""
    from coursekit.partkit.local import LocalWorker
    part = ASSIGNMENT.part(grade_id)
    if isinstance(part, Experiment):
        data = part.measurement(subject)
    else:
        data = part.measure(LocalWorker({part.definition: subject}, ASSIGNMENT.worker_ops), which)
    return {"grade_id": grade_id, "cases": which, "data": data}


def judge(measurement: dict[str, Any], secret: bytes | None = None) -> str | None:
    """None when the measured part passes, else the message for the student."""
    from coursekit.partkit.local import judged
    return judged(ASSIGNMENT.part(measurement["grade_id"]), measurement["data"], measurement["cases"], secret)


def cases(grade_id: str, which: str, secret: bytes | None = None) -> list[Any]:
    return ASSIGNMENT.part(grade_id).cases(which, secret)
