"""Translate course.toml into nbgrader's own options (used by nbgrader_config.py and tests)."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from coursekit.config import EXTRAS, ConfigError, CourseConfig, MissingExtra, missing_extra_message


#: LMS file names for zip_collect (the time in ISO 8601 basic format: nbgrader would read the
#: "-30-10" of its docs' "2016-01-30-15-30-10" example as a time-zone offset).
LMS_FILE_NAME = r".*/[^/_]+_(?P<student_id>[^/_]+)_attempt_(?P<timestamp>\d{8}T\d{6}Z)_(?P<file_id>[^/]+\.ipynb)$"

#: Seconds a SQLite writer waits for another one (parallel grading) before giving up.
SQLITE_BUSY_TIMEOUT = 120


def sqlite_url_absolute(url: str, config: CourseConfig) -> str:
    """A relative sqlite URL is relative to course.toml's folder, not to the working directory;
    a busy timeout lets parallel nbgrader processes wait for each other's writes."""
    prefix = "sqlite:///"
    if not url.startswith(prefix):
        return url
    if not url[len(prefix):].startswith("/"):
        url = prefix + str(config.root / url[len(prefix):])
    if "?" not in url:
        url += f"?timeout={SQLITE_BUSY_TIMEOUT}"
    return url


def sqlite_path(config: CourseConfig) -> Path | None:
    """The gradebook's file when it is SQLite, else None."""
    url = sqlite_url_absolute(config.db_url, config)
    if not url.startswith("sqlite:///"):
        return None
    return Path(url[len("sqlite:///"):].split("?")[0])


def assignment_built(config: CourseConfig, name: str, ask: Callable[[], bool | None] | None = None, *,
                     nbgrader: bool = True) -> bool | None:
    """Whether the gradebook knows the assignment and its notebooks: what `build` registers, and what
    grading needs. The one place that question is answered.

    A SQLite gradebook is read with sqlite3 directly, without importing nbgrader. Any other
    gradebook (or a SQLite file sqlite3 cannot read that way) is asked through nbgrader: by ``ask`` when
    given (a process that has nbgrader imported already; None when it could not tell), else, or when
    ``ask`` could not tell, in this process. With ``nbgrader=False`` nbgrader is never asked: None then
    says that only nbgrader can tell."""
    known = _sqlite_knows_assignment(config, name)
    if known is None and nbgrader and ask is not None:
        known = ask()
    if known is None and nbgrader:
        known = _nbgrader_knows_assignment(config, name)
    return known


def _sqlite_knows_assignment(config: CourseConfig, name: str) -> bool | None:
    """:func:`assignment_built` read from a SQLite gradebook with sqlite3; None when the gradebook is not
    SQLite or cannot be read this way."""
    path = sqlite_path(config)
    if path is None:
        return None
    if not path.is_file():
        return False  # `build` creates the gradebook
    try:
        with contextlib.closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True,
                                                timeout=SQLITE_BUSY_TIMEOUT)) as connection:
            (count,) = connection.execute(
                "SELECT COUNT(*) FROM notebook JOIN assignment ON notebook.assignment_id = assignment.id "
                "WHERE assignment.name = ?", (name,)).fetchone()
    except sqlite3.Error:
        return None  # not nbgrader's tables (yet), or unreadable
    return count > 0


def _nbgrader_knows_assignment(config: CourseConfig, name: str) -> bool:
    """:func:`assignment_built` asked of nbgrader's Gradebook (any database nbgrader supports)."""
    from nbgrader.api import MissingEntry
    with open_gradebook(config) as gradebook:
        try:
            return bool(gradebook.find_assignment(name).notebooks)
        except MissingEntry:
            return False


def enable_wal(config: CourseConfig) -> None:
    """Put a SQLite gradebook in write-ahead-log mode: readers never block the writer, so
    nbgrader processes grading in parallel only wait for each other's short commits."""
    path = sqlite_path(config)
    if path is None or not path.is_file():
        return
    with contextlib.closing(sqlite3.connect(path, timeout=SQLITE_BUSY_TIMEOUT)) as connection:
        connection.execute("PRAGMA journal_mode=WAL")


def check_database_driver(config: CourseConfig) -> None:
    """Raise ConfigError, in one sentence, when SQLAlchemy cannot load the driver that
    [course] db_url names (nbgrader would stop later with a long traceback)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    url = config.db_url
    try:
        make_url(url).get_dialect().import_dbapi()
    except (ArgumentError, NoSuchModuleError) as err:
        raise ConfigError(f"{config.path}: [course] db_url = '{url}' is not a database URL SQLAlchemy knows "
                          f"({err}); use sqlite:///gradebook.db or postgresql+psycopg2://user@host:5432/gradebook.") from err
    except ImportError as err:
        if err.name in EXTRAS:  # psycopg2: the extra coursekit[hub]
            raise MissingExtra(f"{config.path}: " + missing_extra_message(err.name, f"[course] db_url = '{url}'"),
                               name=err.name) from err
        raise ConfigError(f"{config.path}: [course] db_url = '{url}' needs the Python module '{err.name}', which is "
                          f"not installed: install it in the course's venv, or use postgresql+psycopg2://… "
                          f"(psycopg2-binary comes with the extra coursekit[hub]).") from err


def open_gradebook(config: CourseConfig):
    """nbgrader's Gradebook for this course (use it as a context manager)."""
    from nbgrader.api import Gradebook
    return Gradebook(nbgrader_settings(config)["CourseDirectory"]["db_url"], course_id=config.course_id)


def nbgrader_settings(config: CourseConfig) -> dict[str, dict[str, Any]]:
    """nbgrader's configurable options, as {class name: {trait: value}}."""
    return {
        "CourseDirectory": {
            "course_id": config.course_id,
            "root": str(config.root),
            "source_directory": config.directories["source"],
            "release_directory": config.directories["release"],
            "submitted_directory": config.directories["submitted"],
            "autograded_directory": config.directories["autograded"],
            "feedback_directory": config.directories["feedback"],
            "db_url": sqlite_url_absolute(config.db_url, config),
        },
        "Exchange": {"root": str(config.exchange_root)},
        "ExecutePreprocessor": {"timeout": config.cell_timeout},
        # autograde executes with coursekit.grading.execute.GuardedExecute (nbgrader's Execute plus the
        # verdicts formed by the grader, dead/hung kernels, an output cap and the sandbox).
        "Autograde": {"sanitize_preprocessors": SANITIZE_STEPS, "autograde_preprocessors": AUTOGRADE_STEPS},
        "GuardedExecute": {"output_limit_kb": config.output_limit_kb},
        # Late work, judged against each assignment's due date in the gradebook.
        "LateSubmissionPlugin": {"penalty_method": config.late_policy},
        # A test cell deleted from a submission is put back from the gradebook and graded.
        "OverwriteCells": {"add_missing_cells": True},
        # `nbgrader zip_collect`: an LMS download in downloaded/<assignment>/archive/ whose notebooks
        # are named <assignment>_<student>_attempt_<YYYYMMDDTHHMMSSZ>_<notebook>.ipynb.
        "FileNameCollectorPlugin": {"named_regexp": LMS_FILE_NAME},
        # Feedback: nbgrader's own steps plus a summary table, and (unless course.toml says
        # show_hidden_tests = true) no hidden-test code in what students receive.
        # Math as MathML, written into the page: a student reads it offline (coursekit.grading.htmlmath).
        "GenerateFeedback": {"preprocessors": feedback_preprocessors(config),
                             "exporter_class": "coursekit.grading.htmlmath.MathMLHTMLExporter"},
        # Printed output reaches nbgrader in as many stream messages as the kernel's timing made;
        # merged, the same submission always gives the same feedback text.
        "CoalesceStreamsPreprocessor": {"enabled": True},
    }


#: nbgrader's steps that put the instructor's cells back into a submission, with one added before
#: OverwriteCells (renamed or deleted test cells would otherwise crash it).
SANITIZE_STEPS = [
    "nbgrader.preprocessors.ClearOutput",
    "nbgrader.preprocessors.DeduplicateIds",
    "nbgrader.preprocessors.OverwriteKernelspec",
    "coursekit.grading.execute.RepairTestCells",
    "nbgrader.preprocessors.OverwriteCells",
    "nbgrader.preprocessors.CheckCellMetadata",
]
#: nbgrader's autograde steps (nbgrader.converters.autograde), with its Execute replaced.
AUTOGRADE_STEPS = [
    "coursekit.grading.execute.GuardedExecute",
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]


def feedback_preprocessors(config: CourseConfig) -> list[str]:
    """nbgrader's GenerateFeedback steps, as import paths, in order."""
    steps = ["nbgrader.preprocessors.GetGrades",
             "nbconvert.preprocessors.coalescestreams.CoalesceStreamsPreprocessor",
             "coursekit.grading.feedback.SummarizeGrades"]
    if not config.show_hidden_tests:
        steps.append("coursekit.grading.feedback.HideHiddenTests")
    return steps + ["nbconvert.preprocessors.CSSHTMLHeaderPreprocessor"]
