"""A simulated class for the grading service's tests and benchmark: students who submit through nbgrader's exchange.

Not part of the course package: the tests, grader_tests, browser_tests and benchmarks import it as
``tests.support.classroom`` with the repository root on ``sys.path`` (pytest puts it there; a
benchmark run as a script puts it there itself).

Each student has a home folder with ``<assignment>/<notebook>`` and nbgrader's cache; :func:`submit`
runs nbgrader's own ``ExchangeSubmit`` (what the Submit button runs), so the service sees exactly
what a real submission looks like. :func:`feedback_released` answers the student's question "is my
feedback there?" the way ``nbgrader fetch_feedback`` does: the page named by the hash of the
submission's secret in the exchange's feedback folder.
"""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

from coursekit.config import CourseConfig
from coursekit.service.watcher import Attempt, feedback_page, inbound_folder, parse_attempt


def scratch_exchange(config: CourseConfig, folder: Path) -> CourseConfig:
    """``config`` on a scratch course folder in ``folder`` and an exchange holding the course's folders."""
    import dataclasses
    config = dataclasses.replace(config, root=folder / "course", exchange_root=folder / "exchange")
    config.root.mkdir()
    for name in ("inbound", "outbound/lab2", "feedback"):
        (config.exchange_root / config.course_id / name).mkdir(parents=True)
    return config


def _settings(config: CourseConfig, home: Path):
    from traitlets.config import Config
    settings = Config()
    settings.CourseDirectory.course_id = config.course_id
    settings.Exchange.root = str(config.exchange_root)
    settings.Exchange.cache = str(home / ".nbgrader-cache")
    return settings


def submit(config: CourseConfig, home: Path, student: str, assignment: str, files: dict[str, bytes]) -> Attempt:
    """Put `files` in the student's assignment folder and submit it with nbgrader; the new submission."""
    from nbgrader.auth import Authenticator
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.exchange.default.submit import ExchangeSubmit

    folder = home / assignment
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    settings = _settings(config, home)
    coursedir = CourseDirectory(config=settings)
    coursedir.assignment_id = assignment
    coursedir.student_id = student
    app = ExchangeSubmit(coursedir=coursedir, authenticator=Authenticator(config=settings), config=settings)
    app.assignment_dir = str(home)
    app.start()
    attempt = parse_attempt(app.assignment_filename)
    if attempt is None or not (inbound_folder(config) / attempt.name).is_dir():
        raise RuntimeError(f"nbgrader submit of {student} left no submission in {inbound_folder(config)}")
    return attempt


def feedback_released(config: CourseConfig, attempt: Attempt, notebook: str) -> bool:
    return feedback_page(config, attempt, notebook).is_file()


def stop_service(process: subprocess.Popen, timeout: float = 300) -> None:
    """Stop a `coursekit serve` process the way systemd does: SIGTERM, then SIGKILL after `timeout` seconds."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
