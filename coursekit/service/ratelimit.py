"""At most N graded submissions per student in any hour, and M in all (course.toml [service]).

A student who submits over and over cannot learn the hidden tests by trial: a submission over the
limit is kept and graded later; :func:`decide` says when.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

WINDOW = dt.timedelta(hours=1)


@dataclass(frozen=True)
class Decision:
    """Whether a submission may be graded now; if not, the earliest moment it may (None: only at the due date)."""

    allowed: bool
    next_at: dt.datetime | None = None


def decide(graded_at: list[dt.datetime], now: dt.datetime, per_hour: int, total: int) -> Decision:
    """May one more submission be graded at `now`, given when this student's earlier ones were graded?"""
    if len(graded_at) >= total:
        return Decision(False, None)
    recent = sorted(t for t in graded_at if now - WINDOW < t <= now)
    if len(recent) < per_hour:
        return Decision(True)
    # The window frees up when the oldest of the last `per_hour` gradings is an hour old.
    return Decision(False, recent[-per_hour] + WINDOW)
