"""nbgrader's own collect, generate_feedback and release_feedback, for one student, in this process.

The service runs them through nbgrader's classes with the options ``nbgrader_config.py`` gives
them (:func:`coursekit.grading.nbgrader_settings.nbgrader_settings`), without starting a process
for each (each would pay nbgrader's whole start-up again). nbgrader's API objects are not made for
threads, so one lock serialises these steps; grading itself runs in parallel in nbgrader processes of
its own (:func:`coursekit.grading.classgrade.grade_submission`).

The gradebook is shared with the instructor (formgrader may be open): SQLite runs in WAL mode with
a busy timeout, and a step that still meets "database is locked" is tried again a few times.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from coursekit.config import CourseConfig
from coursekit.grading.nbgrader_settings import nbgrader_settings

#: Seconds between the tries of a step the gradebook's lock refused (each longer than the last).
RETRY_DELAYS = (1, 2, 4, 8, 16)


class StepError(RuntimeError):
    """An nbgrader step failed; the message holds nbgrader's reason."""


class NbgraderSteps:
    """collect / generate_feedback / release_feedback for one student at a time."""

    def __init__(self, config: CourseConfig) -> None:
        from nbgrader.apps import NbGraderAPI
        from nbgrader.coursedir import CourseDirectory
        from traitlets.config import Config

        self.config = config
        self._lock = threading.Lock()
        self._settings = Config(nbgrader_settings(config))
        self.coursedir = CourseDirectory(config=self._settings)
        self.api = NbGraderAPI(coursedir=self.coursedir, config=self._settings)

    def _run(self, what: str, make_app) -> str:
        """Start the app `make_app()` builds, retrying while the gradebook is locked; return its log."""
        from nbgrader.utils import capture_log
        for delay in (*RETRY_DELAYS, None):
            result = capture_log(make_app())
            if result["success"]:
                return result.get("log", "")
            text = f"{result.get('error', '')}\n{result.get('log', '')}"
            if "database is locked" not in text or delay is None:
                raise StepError(f"nbgrader {what} failed: {_last_line(text)}")
            time.sleep(delay)
        raise AssertionError("unreachable")

    def collect(self, assignment: str, student: str) -> None:
        """``nbgrader collect ASSIGNMENT --student=S --update --before-duedate``: the submission that counts
        goes into submitted/ (the last one before the due date; the last late one if none is on time)."""
        from nbgrader.utils import temp_attrs

        def app():
            collect = self.api.exchange.Collect(coursedir=self.coursedir, authenticator=self.api.authenticator,
                                                parent=self.api)
            collect.update = True
            collect.before_duedate = True
            return collect

        with self._lock, temp_attrs(self.coursedir, assignment_id=assignment, student_id=student):
            self._run("collect", app)

    def generate_feedback(self, assignment: str, student: str, steps: list[str]) -> Path:
        """``nbgrader generate_feedback ASSIGNMENT --student=S --force`` with these preprocessors; the folder
        it wrote (feedback/<student>/<assignment>/)."""
        from nbgrader.converters import GenerateFeedback
        from nbgrader.utils import temp_attrs
        from traitlets.config import Config

        def app():
            generate = GenerateFeedback(coursedir=self.coursedir, parent=self.api)
            generate.update_config(Config({"HTMLExporter": {"template_name": "feedback"},
                                           "GenerateFeedback": {"preprocessors": list(steps)}}))
            generate.force = True
            return generate

        with self._lock, temp_attrs(self.coursedir, assignment_id=assignment, student_id=student):
            self._run("generate_feedback", app)
        return self.config.directory("feedback") / student / assignment

    def release_feedback(self, assignment: str, student: str, feedback_directory: Path | None = None) -> None:
        """``nbgrader release_feedback ASSIGNMENT --student=S``, from the course's feedback/ or from
        `feedback_directory` (a notice page laid out the same way)."""
        from nbgrader.utils import temp_attrs

        def app():
            return self.api.exchange.ReleaseFeedback(coursedir=self.coursedir, authenticator=self.api.authenticator,
                                                     parent=self.api)

        changes = {"assignment_id": assignment, "student_id": student}
        if feedback_directory is not None:
            changes["feedback_directory"] = str(feedback_directory)
        with self._lock, temp_attrs(self.coursedir, **changes):
            self._run("release_feedback", app)


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:300] if lines else "no message"
