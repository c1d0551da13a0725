"""coursekit.service.journal: events survive a restart; a torn last line is ignored."""

from __future__ import annotations

import datetime as dt

import pytest

from coursekit.service.journal import Journal
from coursekit.service.watcher import parse_attempt

A = parse_attempt("alice+lab2+2026-12-01 08:00:00.000000 UTC+a")
B = parse_attempt("bob+lab2+2026-12-01 08:01:00.000000 UTC+b")


def test_replay_gives_each_submission_its_state(tmp_path):
    journal = Journal(tmp_path / "service" / "journal.jsonl")
    journal.append("received", A)
    journal.append("received", B)
    journal.append("graded", A, status="graded", score=80.0, reason="")
    journal.append("deferred", B, until="2026-12-01T09:01:00+00:00")
    again = Journal(journal.path).replay()  # as a restarted service reads it
    assert again[A.name].state == "graded" and again[A.name].score == 80.0 and not again[A.name].finished
    assert again[A.name].attempt == A
    assert again[B.name].state == "deferred"
    assert again[B.name].until == dt.datetime(2026, 12, 1, 9, 1, tzinfo=dt.timezone.utc)
    journal.append("released", A, latency=12.5)
    journal.append("received", A)  # seen again after a restart: does not undo what happened
    record = journal.replay()[A.name]
    assert record.state == "released" and record.finished
    assert record.counts == {"received": 2, "graded": 1, "released": 1}
    assert record.graded_at is not None


def test_a_torn_last_line_from_a_kill_is_ignored(tmp_path):
    journal = Journal(tmp_path / "journal.jsonl")
    journal.append("received", A)
    with open(journal.path, "a", encoding="utf-8") as handle:
        handle.write('{"event": "graded", "attempt": "alice+lab2+2026')
    assert journal.replay()[A.name].state == "received"
    # The restarted service's next event is not glued onto the torn line (it would be lost with it).
    journal.append("graded", A, status="failed", score=None, reason="not JSON")
    assert journal.replay()[A.name].reason == "not JSON"
    assert journal.path.read_text().endswith("\n") and len(journal.lines()) == 2


def test_unknown_events_are_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown journal event"):
        Journal(tmp_path / "j.jsonl").append("graded twice", A)
