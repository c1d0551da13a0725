"""coursekit.service.policy: the feedback steps of each mode, and the best submission."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest

from coursekit.config import load_config
from coursekit.service.policy import HIDE, SUMMARY, USUAL, WITHHOLD, best_of, feedback_mode, feedback_steps

ROOT = Path(__file__).resolve().parents[2]
CONFIG = load_config(ROOT / "course.toml")
DUE = dt.datetime(2026, 12, 14, 15, 59, tzinfo=dt.timezone.utc)


def test_before_the_due_date_the_policy_applies_after_it_the_usual_feedback():
    assert feedback_mode(CONFIG, DUE, DUE - dt.timedelta(seconds=1)) == CONFIG.service.before_deadline == "outcomes"
    assert feedback_mode(CONFIG, DUE, DUE) == USUAL


@pytest.mark.parametrize("show_hidden_tests", [False, True])
def test_outcomes_never_shows_hidden_test_code_and_full_always_does(show_hidden_tests):
    config = dataclasses.replace(CONFIG, show_hidden_tests=show_hidden_tests)
    outcomes, full, visible = (feedback_steps(config, m) for m in ("outcomes", "full", "visible"))
    assert outcomes.count(HIDE) == 1 and outcomes.index(HIDE) > outcomes.index(SUMMARY)
    assert HIDE not in full and WITHHOLD not in full and SUMMARY in full
    assert visible.index(WITHHOLD) < visible.index(SUMMARY) < visible.index(HIDE)
    assert (HIDE in feedback_steps(config, USUAL)) is not show_hidden_tests, "after the due date: course.toml decides"
    with pytest.raises(ValueError, match="unknown feedback mode"):
        feedback_steps(config, "everything")


def test_best_is_the_highest_score_and_the_latest_of_equals():
    t = [dt.datetime(2026, 12, 1, h, tzinfo=dt.timezone.utc) for h in range(3)]
    assert best_of([(t[0], "a", 70.0), (t[1], "b", 80.0), (t[2], "c", 60.0)]) == "b"
    assert best_of([(t[0], "a", 80.0), (t[1], "b", 80.0)]) == "b"
    assert best_of([]) is None
