"""The submissions in nbgrader's exchange: ``<exchange>/<course>/inbound/<student>+<assignment>+<time>+<random>``.

``nbgrader submit`` copies the student's files into a new inbound folder and writes
``timestamp.txt`` and ``submission_secret.txt`` last, so a folder whose secret is there is complete.
The service never moves or deletes anything in the exchange: every submission stays where nbgrader put it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from coursekit.config import CourseConfig


@dataclass(frozen=True)
class Attempt:
    """One submission in the exchange (a student may have many)."""

    name: str                  # the inbound folder's name, unique per submission
    student: str
    assignment: str
    submitted_at: dt.datetime  # nbgrader's timestamp (UTC), the moment the student pressed Submit

    def on_time(self, due: dt.datetime) -> bool:
        return self.submitted_at <= due


def inbound_folder(config: CourseConfig) -> Path:
    return config.exchange_root / config.course_id / "inbound"


def parse_attempt(name: str) -> Attempt | None:
    """The attempt an inbound folder name describes, or None when it is not nbgrader's naming."""
    from nbgrader.utils import parse_utc
    parts = name.rsplit("+", 3)  # nbgrader's own split: student ids may contain '+'
    if len(parts) < 3 or not parts[0] or not parts[1]:
        return None
    try:
        moment = parse_utc(parts[2])
    except (ValueError, OverflowError):
        return None
    return Attempt(name=name, student=parts[0], assignment=parts[1], submitted_at=moment.replace(tzinfo=dt.timezone.utc))


def is_complete(folder: Path) -> bool:
    """nbgrader submit has finished writing this folder (the secret is written after the files)."""
    secret = folder / "submission_secret.txt"
    try:
        return secret.is_file() and bool(secret.read_text(encoding="utf-8").strip())
    except OSError:
        return False


def scan(config: CourseConfig, assignment: str) -> list[Attempt]:
    """Every complete submission of `assignment` in the exchange, oldest first."""
    inbound = inbound_folder(config)
    if not inbound.is_dir():
        return []
    found = []
    for folder in inbound.iterdir():
        attempt = parse_attempt(folder.name)
        if attempt is not None and attempt.assignment == assignment and is_complete(folder):
            found.append(attempt)
    return sorted(found, key=lambda a: (a.submitted_at, a.name))


def feedback_page(config: CourseConfig, attempt: Attempt, notebook: str) -> Path:
    """Where nbgrader's release_feedback puts this submission's page, and where Fetch Feedback looks
    for it: ``<exchange>/<course>/feedback/<md5 of its secret and the notebook's name>.html``."""
    from nbgrader.utils import notebook_hash
    secret = (inbound_folder(config) / attempt.name / "submission_secret.txt").read_text(encoding="utf-8")
    checksum = notebook_hash(secret=secret, notebook_id=Path(notebook).stem)
    return config.exchange_root / config.course_id / "feedback" / f"{checksum}.html"
