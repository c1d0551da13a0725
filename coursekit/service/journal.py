"""The service's queue on disk: an append-only journal, one JSON line per event, fsynced.

Everything the service decides is written here before it is forgotten, so a service killed at any
moment (SIGKILL included) and started again knows every submission it has seen and how far each
got: it never grades a submission the journal says is graded, and it finishes every one that is
not. A torn last line (the kill came mid-write) is ignored.

Events of one submission (``attempt``: its inbound folder name), in the order they can happen:

``received``     seen complete in the exchange
``deferred``     over the rate limit: kept, a page saying when it will be graded was released (``until``)
``graded``       the class-grading path finished it (``status`` graded or failed, ``score``, ``reason``)
``released``     its feedback was released to the exchange (``latency``: seconds since Submit; ``by``
                 "instructor" when it had feedback before the service first saw it)
``superseded``   a newer submission of the same student replaced it before it was graded (page released)
``not_counted``  late, while an on-time submission of the student counts (page released)
``restored``     (policy ``best``) put back into the gradebook after a later, lower-scoring submission
"""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

from coursekit.config import CourseConfig
from coursekit.service.watcher import Attempt

EVENTS = ("received", "deferred", "graded", "released", "superseded", "not_counted", "restored")
#: A submission in one of these states needs nothing more.
FINISHED = ("released", "superseded", "not_counted")


def journal_path(config: CourseConfig, assignment: str) -> Path:
    return service_folder(config, assignment) / "journal.jsonl"


def service_folder(config: CourseConfig, assignment: str) -> Path:
    """The service's own files (journal, notice pages, copies of graded submissions): beside autograded/."""
    return config.directory("autograded") / f".coursekit-{assignment}-service"


def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


@dataclass
class Record:
    """What the journal knows about one submission."""

    attempt: Attempt
    state: str = "received"                 # the last event that changes the state (see EVENTS)
    until: dt.datetime | None = None        # when deferred: the earliest moment it may be graded
    graded_at: dt.datetime | None = None    # when the class-grading path finished it
    status: str = ""                        # graded / failed
    score: float | None = None
    reason: str = ""
    counts: dict[str, int] = field(default_factory=dict)  # event -> how many times it was written

    @property
    def finished(self) -> bool:
        return self.state in FINISHED


class Journal:
    """Append events; replay them into one :class:`Record` per submission."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)

    def append(self, event: str, attempt: Attempt, **data) -> None:
        if event not in EVENTS:
            raise ValueError(f"unknown journal event {event!r}")
        line = {"event": event, "attempt": attempt.name, "student": attempt.student,
                "assignment": attempt.assignment, "submitted_at": attempt.submitted_at.isoformat(),
                "at": now_utc().isoformat(), **data}
        text = (json.dumps(line, ensure_ascii=False) + "\n").encode("utf-8")
        with self._lock, open(self.path, "a+b") as handle:
            if handle.seek(0, os.SEEK_END) > 0:
                handle.seek(-1, os.SEEK_END)
                if handle.read(1) != b"\n":
                    text = b"\n" + text  # a kill tore the last line: end it, so this event stays whole
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())

    def lines(self) -> list[dict]:
        """Every complete event, oldest first (a torn line from a kill is skipped)."""
        if not self.path.is_file():
            return []
        events = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(entry, dict) and entry.get("event") in EVENTS:
                events.append(entry)
        return events

    def replay(self) -> dict[str, Record]:
        """attempt name -> its record, from every event written so far."""
        records: dict[str, Record] = {}
        for entry in self.lines():
            name = entry["attempt"]
            record = records.get(name)
            if record is None:
                attempt = Attempt(name, entry["student"], entry["assignment"],
                                  dt.datetime.fromisoformat(entry["submitted_at"]))
                record = records[name] = Record(attempt)
            kind = entry["event"]
            record.counts[kind] = record.counts.get(kind, 0) + 1
            if kind == "restored":
                continue  # the gradebook changed, the submission's own state did not
            if kind == "graded":
                record.graded_at = dt.datetime.fromisoformat(entry["at"])
                record.status, record.score, record.reason = entry["status"], entry.get("score"), entry.get("reason", "")
            if kind == "deferred":
                record.until = dt.datetime.fromisoformat(entry["until"]) if entry.get("until") else None
            if kind != "received" or record.state == "received":
                record.state = kind
        return records
