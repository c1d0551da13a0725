"""Regenerate release/ from source/ with nbgrader, and check it against course.toml."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import nbformat

from coursekit.config import CourseConfig, ConfigError
from coursekit.grading.nbgrader_settings import enable_wal, open_gradebook


def notebook_points(path: Path) -> dict[str, float]:
    """grade_id -> points of every graded cell of a notebook."""
    nb = nbformat.read(path, as_version=4)
    points = {}
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("grade"):
            points[meta["grade_id"]] = float(meta.get("points", 0))
    return points


def check_points(config: CourseConfig, name: str) -> None:
    """The source notebook's points must be course.toml's points table, cell for cell."""
    assignment = config.assignment(name)
    path = config.directory("source") / name / assignment.notebook
    in_notebook = notebook_points(path)
    in_config = {k: float(v) for k, v in assignment.points.items()}
    if in_notebook != in_config:
        differences = sorted(
            f"{gid}: notebook {in_notebook.get(gid, 'missing')}, course.toml {in_config.get(gid, 'missing')}"
            for gid in set(in_notebook) | set(in_config) if in_notebook.get(gid) != in_config.get(gid))
        raise ConfigError(f"{config.path}: the points of assignments.{name}.points differ from {path}: "
                          + "; ".join(differences))


def register_assignment(config: CourseConfig, name: str) -> None:
    """Create or update the assignment in nbgrader's gradebook with its due date (UTC); whether it is
    there is :func:`coursekit.grading.nbgrader_settings.assignment_built`."""
    due = config.assignment(name).due.astimezone(dt.timezone.utc).replace(tzinfo=None)
    with open_gradebook(config) as gradebook:
        gradebook.update_or_create_assignment(name, duedate=due)
    enable_wal(config)


def build_release(config: CourseConfig, name: str, run_nbgrader: Callable[..., object]) -> Path:
    """Check the points, register the due date, and run `nbgrader generate_assignment --force`."""
    check_points(config, name)
    register_assignment(config, name)
    run_nbgrader(config, "generate_assignment", name, "--force", quiet=True)
    return config.directory("release") / name


def copy_course(root: Path, dest: Path, with_release: bool = True) -> Path:
    """A scratch copy of the course (configuration, source/, release/) in `dest`, for tests and
    benchmarks that must not touch the real gradebook or submissions. Returns its course.toml."""
    import shutil
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("course.toml", "nbgrader_config.py"):
        shutil.copy(root / name, dest / name)
    shutil.copytree(root / "source", dest / "source", dirs_exist_ok=True)
    if with_release:
        shutil.copytree(root / "release", dest / "release", dirs_exist_ok=True)
    return dest / "course.toml"
