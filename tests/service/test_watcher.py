"""coursekit.service.watcher: nbgrader's inbound names, and only complete submissions."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

from coursekit.config import load_config
from coursekit.service.watcher import parse_attempt, scan

ROOT = Path(__file__).resolve().parents[2]


def test_nbgrader_names_are_parsed_as_nbgrader_does():
    attempt = parse_attempt("stu+dent+lab2+2026-12-01 08:30:00.123456 UTC+AbC_d-12")
    assert attempt.student == "stu+dent" and attempt.assignment == "lab2"
    assert attempt.submitted_at == dt.datetime(2026, 12, 1, 8, 30, 0, 123456, tzinfo=dt.timezone.utc)
    legacy = parse_attempt("alice+lab2+2026-12-01 08:30:00.000000 UTC")
    assert legacy.student == "alice"
    for name in ("notes.txt", "alice+lab2+yesterday+xyz", "+lab2+2026-12-01 08:30:00 UTC+x"):
        assert parse_attempt(name) is None, name


def test_scan_lists_complete_submissions_of_the_assignment_oldest_first(tmp_path):
    config = dataclasses.replace(load_config(ROOT / "course.toml"), exchange_root=tmp_path)
    inbound = tmp_path / config.course_id / "inbound"
    def make(name, secret="s" * 128):
        folder = inbound / name
        folder.mkdir(parents=True)
        (folder / "lab2.ipynb").write_text("{}")
        if secret is not None:
            (folder / "submission_secret.txt").write_text(secret)
    make("bob+lab2+2026-12-01 09:00:00.000000 UTC+b")
    make("alice+lab2+2026-12-01 08:00:00.000000 UTC+a")
    make("carol+lab2+2026-12-01 07:00:00.000000 UTC+c", secret=None)  # nbgrader submit still writing
    make("dave+lab2+2026-12-01 07:30:00.000000 UTC+d", secret="")     # the secret's file opened, not written
    make("erin+lab1+2026-12-01 07:00:00.000000 UTC+e")                # another assignment
    (inbound / "README").write_text("not a submission")
    assert [a.student for a in scan(config, "lab2")] == ["alice", "bob"]
    assert scan(dataclasses.replace(config, exchange_root=tmp_path / "none"), "lab2") == []
