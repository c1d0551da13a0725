"""The hidden experiment checks hold for the reference on several seeds and catch the typical mistakes.

benchmarks/experiment_robustness.py runs the same on 20 seeds; this test keeps 3 in CI.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from coursekit.authoring.replay import experiment_cells, replay
from dlcourse.lab2 import ASSIGNMENT as LAB2
from dlcourse.lab2 import PARTS
from dlcourse.lab2.samples import EXPERIMENT_MISTAKES

EXPERIMENT_CELLS = experiment_cells(LAB2)

SOURCE = Path(__file__).resolve().parents[2] / "source" / "lab2" / "lab2.ipynb"
SEEDS = range(3)  # 20 seeds: benchmarks/experiment_robustness.py


@pytest.mark.parametrize("seed", SEEDS)
def test_reference_passes_every_test_cell(seed):
    outcomes = replay(SOURCE, seed=seed)
    failed = {gid: o.error for gid, o in outcomes.items() if gid.startswith("test_") and not o.passed}
    assert not failed
    assert sum(gid.startswith("test_") for gid in outcomes) == len(PARTS)


@pytest.mark.parametrize("check", list(EXPERIMENT_MISTAKES))
def test_typical_mistake_fails_its_experiment_check_on_every_seed(check):
    description, edits = EXPERIMENT_MISTAKES[check]
    skip = frozenset(cell for other, cell in EXPERIMENT_CELLS.items() if other != check)
    for seed in SEEDS:
        outcome = replay(SOURCE, seed=seed, edits=edits, stop_after=check, skip=skip)[check]
        assert not outcome.passed, f"seed {seed}: '{description}' passed {check}"
        assert outcome.error.startswith("CheckFailed: "), outcome.error


def test_replay_captures_what_cells_print_and_can_stop_early():
    outcomes = replay(SOURCE, seed=0, stop_after="test_network_forward")
    assert list(outcomes)[-1] == "test_network_forward"
    assert "profile = grading" in outcomes["setup"].output
    assert outcomes["activations_selfcheck"].passed and "自查通过" in outcomes["activations_selfcheck"].output


def test_replay_leaves_the_environment_as_it_was():
    import os

    import torch

    before = {key: os.environ.get(key) for key in ("NBGRADER_EXECUTION", "MPLBACKEND")}
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        outcomes = replay(SOURCE, seed=0, stop_after="setup")
        assert "profile = grading" in outcomes["setup"].output  # the setup cell set the grading profile's 1 thread
        assert {key: os.environ.get(key) for key in before} == before
        assert torch.get_num_threads() == 2, "the grading profile's thread count stays inside the replay"
    finally:
        torch.set_num_threads(threads)
