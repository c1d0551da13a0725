"""Translate course.toml into nbgrader's own options (used by nbgrader_config.py and tests)."""

from __future__ import annotations

from typing import Any

from coursekit.config import CourseConfig


def sqlite_url_absolute(url: str, config: CourseConfig) -> str:
    """A relative sqlite URL is relative to course.toml's folder, not to the working directory."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url[len(prefix):].startswith("/"):
        return prefix + str(config.root / url[len(prefix):])
    return url


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
        # Late work, judged against each assignment's due date in the gradebook.
        "LateSubmissionPlugin": {"penalty_method": config.late_policy},
        # A test cell deleted from a submission is put back from the gradebook and graded.
        "OverwriteCells": {"add_missing_cells": True},
        # Feedback: nbgrader's own steps plus a summary table, and (unless course.toml says
        # show_hidden_tests = true) no hidden-test code in what students receive.
        "GenerateFeedback": {"preprocessors": feedback_preprocessors(config)},
        # Printed output reaches nbgrader in as many stream messages as the kernel's timing made;
        # merged, the same submission always gives the same feedback text.
        "CoalesceStreamsPreprocessor": {"enabled": True},
    }


def feedback_preprocessors(config: CourseConfig) -> list[str]:
    """nbgrader's GenerateFeedback steps, as import paths, in order."""
    steps = ["nbgrader.preprocessors.GetGrades",
             "nbconvert.preprocessors.coalescestreams.CoalesceStreamsPreprocessor",
             "coursekit.feedback.SummarizeGrades"]
    if not config.show_hidden_tests:
        steps.append("coursekit.feedback.HideHiddenTests")
    return steps + ["nbconvert.preprocessors.CSSHTMLHeaderPreprocessor"]
