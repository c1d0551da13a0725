"""coursekit.service.ratelimit: N graded per student in any hour, M in all."""

from __future__ import annotations

import datetime as dt

from coursekit.service.ratelimit import decide

NOON = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.timezone.utc)
MIN = dt.timedelta(minutes=1)


def test_under_the_hourly_limit_a_submission_is_graded():
    assert decide([], NOON, per_hour=2, total=5).allowed
    assert decide([NOON - 10 * MIN], NOON, per_hour=2, total=5).allowed


def test_over_the_hourly_limit_it_waits_until_the_oldest_grading_in_the_window_is_an_hour_old():
    graded = [NOON - 50 * MIN, NOON - 20 * MIN, NOON - 5 * MIN]
    decision = decide(graded, NOON, per_hour=2, total=5)
    assert not decision.allowed
    assert decision.next_at == NOON - 20 * MIN + dt.timedelta(hours=1)
    # an hour after that grading the window has room again
    assert decide(graded, decision.next_at, per_hour=2, total=5).allowed
    assert not decide(graded, decision.next_at - dt.timedelta(seconds=1), per_hour=2, total=5).allowed


def test_gradings_older_than_an_hour_do_not_count_against_the_hour():
    graded = [NOON - 3 * dt.timedelta(hours=1), NOON - 2 * dt.timedelta(hours=1)]
    assert decide(graded, NOON, per_hour=1, total=5).allowed


def test_the_total_limit_leaves_only_the_due_date():
    graded = [NOON - dt.timedelta(hours=h) for h in range(5, 0, -1)]
    decision = decide(graded, NOON, per_hour=2, total=5)
    assert not decision.allowed and decision.next_at is None
