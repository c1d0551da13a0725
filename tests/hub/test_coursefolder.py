"""coursekit.hub.coursefolder: which course folders can be handed to the grader account, and the modes and
owners they get. The system's `nobody` plays the grader account; root (this process) hands the folder over."""

from __future__ import annotations

import dataclasses
import os
import pwd
import shutil
import stat
import tempfile
from pathlib import Path

import pytest

from coursekit.config import load_config
from coursekit.grading.nbgrader_settings import open_gradebook
from coursekit.hub import HubError
from coursekit.hub import coursefolder as cf

ROOT = Path(__file__).resolve().parents[2]
NOBODY = pwd.getpwnam("nobody")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def make_course(folder: Path):
    """A course folder as `hub setup` finds it: course.toml, nbgrader_config.py, the roster, the data root, source/."""
    shutil.copy(ROOT / "course.toml", folder / "course.toml")
    shutil.copy(ROOT / "nbgrader_config.py", folder / "nbgrader_config.py")
    (folder / "roster.csv").write_text("id\nann\nbob\n")
    config = load_config(folder / "course.toml")
    (config.directory("source") / "lab2").mkdir(parents=True)
    (config.directory("source") / "lab2" / "lab2.ipynb").write_text("{}")
    config.data_root.mkdir(parents=True, exist_ok=True)
    (config.data_root / "images").write_bytes(b"\0")
    os.chmod(config.data_root / "images", 0o600)
    return config


@pytest.fixture
def reachable():
    """A course folder every user can reach (/tmp/…, not under pytest's own 0700 folder)."""
    if os.geteuid() != 0:
        pytest.fail("these tests hand the course folder to another account: run them as root (as CI does)")
    folder = Path(tempfile.mkdtemp(prefix="coursekit-course-", dir="/tmp"))
    yield make_course(folder)
    shutil.rmtree(folder)


# --- which folders can be handed over ---------------------------------------------------------------

def test_a_reachable_course_folder_apart_from_the_code_root_runs_is_accepted(reachable, tmp_path):
    cf.check_course_folder(reachable, package=tmp_path / "elsewhere" / "coursekit")


def test_a_course_folder_holding_the_package_root_runs_is_refused(reachable):
    with pytest.raises(HubError, match=r"the coursekit package .* is inside the course folder"):
        cf.check_course_folder(reachable, package=reachable.root / "lib" / "coursekit")


def test_a_course_folder_students_cannot_reach_is_refused_naming_the_closed_folder(tmp_path):
    closed = tmp_path / "closed"
    (closed / "course").mkdir(parents=True)
    os.chmod(closed, 0o700)
    config = make_course(closed / "course")
    with pytest.raises(HubError, match="closed to other users"):
        cf.check_course_folder(config, package=Path("/opt/elsewhere/coursekit"))


def test_a_gradebook_outside_the_course_folder_is_refused(reachable, tmp_path):
    outside = dataclasses.replace(reachable, db_url=f"sqlite:///{tmp_path / 'gradebook.db'}")
    with pytest.raises(HubError, match=r"the gradebook .* is outside the course folder"):
        cf.check_course_folder(outside, package=tmp_path / "coursekit")


def test_the_private_folders_are_nbgraders_and_the_reports():
    config = load_config(ROOT / "course.toml")
    assert cf.private_dirs(config) == [config.directory(kind) for kind in
                                       ("source", "release", "submitted", "autograded", "feedback")] \
        + [config.root / "reports"]


# --- handing it over ----------------------------------------------------------------------------------

def test_prepare_gives_the_grader_the_folder_private_where_nbgrader_keeps_answers_and_grades(reachable, alembic_on_path):
    config = reachable
    cf.prepare_course_folder(config, "nobody", ("ann", "bob"))
    root = config.root
    assert (mode(root), root.stat().st_uid) == (0o711, NOBODY.pw_uid), "enter, not list"
    for folder in cf.private_dirs(config):
        assert (mode(folder), folder.stat().st_uid) == (0o700, NOBODY.pw_uid), folder
    source_notebook = config.directory("source") / "lab2" / "lab2.ipynb"
    assert source_notebook.stat().st_uid == NOBODY.pw_uid, "what is inside goes to the grader too"
    gradebook = cf.gradebook_file(config)
    for path in (gradebook, root / ".nbgrader.log", root / "grades.csv"):
        assert (mode(path), path.stat().st_uid) == (0o600, NOBODY.pw_uid), path
    assert (mode(config.hub.roster), config.hub.roster.stat().st_uid) == (0o640, 0)
    assert config.hub.roster.stat().st_gid == NOBODY.pw_gid, "the grader reads the roster"
    assert mode(root / "course.toml") == mode(root / "nbgrader_config.py") == 0o644, "students' kernels read it"
    assert mode(config.data_root / "images") == 0o644, "the data root is everyone's to read"
    with open_gradebook(config) as book:
        assert sorted(s.id for s in book.students) == ["ann", "bob"], "formgrader lists the class"


def test_readable_by_all_only_adds_what_is_missing(tmp_path):
    (tmp_path / "sub").mkdir()
    private, shared, own = tmp_path / "sub" / "a", tmp_path / "b", tmp_path / "c"
    for path, bits in ((private, 0o600), (shared, 0o664), (own, 0o755)):
        path.write_text("x")
        os.chmod(path, bits)
    os.chmod(tmp_path / "sub", 0o700)
    cf.readable_by_all(tmp_path)
    assert (mode(private), mode(shared), mode(own)) == (0o644, 0o664, 0o755)
    assert mode(tmp_path / "sub") == 0o755
