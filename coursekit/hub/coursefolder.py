"""The course folder on the hub: the grader account's, private where nbgrader keeps what students must not see.

The folder that holds course.toml becomes ``grader-<course id>``'s (formgrader runs as that account
in it). Students still need three things in it: course.toml (their kernels read the run profiles),
the MNIST data root, and the exchange when it lives there. So the folder itself is 0711 (enter, not
list) and, inside it:

* source/, release/, submitted/, autograded/, feedback/ and reports/ are 0700, the grader's;
* the SQLite gradebook, nbgrader's log and grades.csv are 0600, the grader's (SQLite gives its
  -wal and -journal files the gradebook's mode); they are made now so that they never exist with a
  default, readable mode;
* the data root is readable by everyone; course.toml and nbgrader_config.py stay readable, and
  the roster is readable by its owner and the grader's group only.

Because the grader account can rename anything in a folder it owns, nothing that root runs may live
in it: :func:`check_course_folder` refuses a course folder holding the Python or the coursekit package
the hub runs.
"""

from __future__ import annotations

import os
import pwd
import sys
from pathlib import Path

from coursekit.config import CourseConfig
from coursekit.hub import HubError
from coursekit.hub.userenv import blocked_by

ROOT_MODE = 0o711
PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
ROSTER_MODE = 0o640
PRIVATE_DIRS = ("source", "release", "submitted", "autograded", "feedback")
EXTRA_PRIVATE_DIRS = ("reports",)  # coursekit report / similarity
PRIVATE_FILES = (".nbgrader.log", "grades.csv")  # nbgrader's log (its default name), coursekit export


def private_dirs(config: CourseConfig) -> list[Path]:
    return [config.directory(kind) for kind in PRIVATE_DIRS] + [config.root / name for name in EXTRA_PRIVATE_DIRS]


def gradebook_file(config: CourseConfig) -> Path | None:
    from coursekit.grading.nbgrader_settings import sqlite_path
    return sqlite_path(config)


def check_course_folder(config: CourseConfig, package: Path | None = None) -> None:
    """HubError when the course folder cannot be handed to the grader account or reached by students."""
    root = config.root
    package = Path(package or Path(__file__).resolve().parents[1])
    for what, path in (("the Python running this command", Path(sys.prefix).resolve()),
                       ("the coursekit package", package.resolve())):
        if path == root or root in path.parents:
            raise HubError(
                f"{what} ({path}) is inside the course folder {root}, which the grader account will own (it could "
                f"replace what root runs). Serve a copy of the course: put course.toml, nbgrader_config.py, "
                f"source/ and the roster in a folder of their own (e.g. /srv/{config.course_id}) and run "
                f"`python -m coursekit --config /srv/{config.course_id}/course.toml hub setup`.")
    blocked = next((folder for folder in reversed(root.parents) if blocked_by(folder) is not None), None)
    if blocked is not None:
        raise HubError(f"students cannot reach the course folder {root}: {blocked} is closed to other users "
                       f"(mode {blocked.stat().st_mode & 0o777:o}). Put the course in a folder every user can enter, "
                       f"e.g. /srv/{config.course_id}.")
    gradebook = gradebook_file(config)
    if gradebook is not None and gradebook.parent != root and root not in gradebook.parents:
        raise HubError(f"the gradebook {gradebook} ([course] db_url) is outside the course folder; on the hub it "
                       f"must be inside it, where the grader account keeps it private.")


def _own(path: Path, uid: int, gid: int, mode: int | None = None) -> None:
    os.chown(path, uid, gid, follow_symlinks=False)
    if mode is not None:
        os.chmod(path, mode)


def _own_tree(path: Path, uid: int, gid: int) -> None:
    for folder, dirs, files in os.walk(path):
        _own(Path(folder), uid, gid)
        for name in files + [d for d in dirs if (Path(folder) / d).is_symlink()]:
            _own(Path(folder) / name, uid, gid)


def _init_gradebook(config: CourseConfig, students: tuple[str, ...]) -> None:
    """Create the gradebook if needed and enrol the roster (formgrader then lists everyone)."""
    from coursekit.grading.nbgrader_settings import open_gradebook
    from coursekit.grading.quickstart import use_this_environment
    use_this_environment()  # nbgrader runs `alembic` from PATH to create the gradebook
    with open_gradebook(config) as gradebook:
        for student in students:
            gradebook.update_or_create_student(student)


def prepare_course_folder(config: CourseConfig, grader: str, students: tuple[str, ...]) -> None:
    """Give the course folder to the grader account with the modes above; enrol the students."""
    entry = pwd.getpwnam(grader)
    uid, gid = entry.pw_uid, entry.pw_gid
    root = config.root
    _own(root, uid, gid, ROOT_MODE)
    for folder in private_dirs(config):
        folder.mkdir(exist_ok=True)
        _own_tree(folder, uid, gid)
        os.chmod(folder, PRIVATE_DIR_MODE)
    gradebook = gradebook_file(config)
    if gradebook is not None and gradebook.exists():
        os.chmod(gradebook, PRIVATE_FILE_MODE)  # before SQLite makes its side files, which copy this mode
    previous = os.umask(0o077)  # a new gradebook is created 0600
    try:
        _init_gradebook(config, students)
    finally:
        os.umask(previous)
    if gradebook is not None:
        for path in (gradebook, *(gradebook.with_name(gradebook.name + s) for s in ("-wal", "-shm", "-journal"))):
            if path.exists():
                _own(path, uid, gid, PRIVATE_FILE_MODE)
    for name in PRIVATE_FILES:
        path = root / name
        if not path.exists():
            path.touch()
        _own(path, uid, gid, PRIVATE_FILE_MODE)
    if config.hub.roster.parent == root or root in config.hub.roster.parents:
        _own(config.hub.roster, 0, gid, ROSTER_MODE)
    for name in ("course.toml", "nbgrader_config.py"):
        if (root / name).exists():
            os.chmod(root / name, 0o644)
    if config.data_root.exists():
        readable_by_all(config.data_root)


def readable_by_all(tree: Path) -> None:
    """Add read (and, for folders, enter) permission for everyone where it is missing. Only where missing:
    the data root's files may be hard links to a read-only mirror, whose modes are not ours to change."""
    for folder, dirs, files in os.walk(tree):
        for path, bits in [(Path(folder), 0o555)] + [(Path(folder) / name, 0o444) for name in files]:
            mode = path.stat().st_mode & 0o7777
            if mode & bits != bits:
                os.chmod(path, mode | bits)
