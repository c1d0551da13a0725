"""coursekit.partkit.local: the notebook's visible checks, measured and judged in the student's kernel."""

from __future__ import annotations

import pytest
import torch

from coursekit.partkit.checks import CheckFailed
from coursekit.partkit.local import LocalWorker, check, judged
from dlcourse.lab2 import ASSIGNMENT


def test_a_seeded_call_leaves_the_students_random_numbers_alone():
    worker = LocalWorker({"draw": lambda x: torch.rand(3) + x})
    torch.manual_seed(5)
    expected = torch.rand(2)
    torch.manual_seed(5)
    first = worker.ask("call", target=["draw"], args=[torch.zeros(3)], seed=1)["value"]
    again = worker.ask("call", target=["draw"], args=[torch.zeros(3)], seed=1)["value"]
    assert torch.equal(first, again) and torch.equal(torch.rand(2), expected)


def test_a_broken_request_is_the_checks_error_not_a_verdict():
    with pytest.raises(RuntimeError, match="unknown request"):
        LocalWorker({}).ask("no such op")


def test_check_prints_a_pass_and_raises_the_judges_message(capsys):
    check(ASSIGNMENT, "test_l2_penalty", lambda w: (w ** 2).sum() / 2)
    assert "自查通过" in capsys.readouterr().out
    with pytest.raises(CheckFailed, match="平方和的一半"):
        check(ASSIGNMENT, "test_l2_penalty", lambda w: (w ** 2).sum())


def test_a_judge_that_breaks_is_not_a_lost_point():
    part = ASSIGNMENT.part("test_l2_penalty")
    with pytest.raises(KeyError):
        judged(part, {"values": []}, "visible")
