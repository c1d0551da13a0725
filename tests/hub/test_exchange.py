"""coursekit.hub.exchange on a scratch exchange: nbgrader's modes, a collect that refuses a submission made under
another student's id, and a submit that closes the submission to other students. Accounts: root (this
process) and the system's `nobody`, who plays the student and the grader."""

from __future__ import annotations

import dataclasses
import os
import pwd
import stat
from pathlib import Path

import pytest
from nbgrader.auth import Authenticator
from nbgrader.coursedir import CourseDirectory
from nbgrader.utils import capture_log
from traitlets.config import Config

from coursekit.config import load_config
from coursekit.grading.nbgrader_settings import nbgrader_settings
from coursekit.hub import exchange

ROOT = Path(__file__).resolve().parents[2]
NOBODY = pwd.getpwnam("nobody")


@pytest.fixture
def config(tmp_path):
    if os.geteuid() != 0:
        pytest.fail("these tests hand files to another account: run them as root (as CI does)")
    return dataclasses.replace(load_config(ROOT / "course.toml"), root=tmp_path / "course",
                               exchange_root=tmp_path / "exchange")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_prepare_exchange_gives_every_folder_nbgraders_mode_and_the_grader_the_course(config):
    exchange.prepare_exchange(config, "nobody")
    root = config.exchange_root
    assert mode(root) == 0o1777 and root.stat().st_uid == 0, "everyone creates, nobody removes another's"
    course = root / config.course_id
    expected = {course: 0o755, course / "outbound": 0o755, course / "inbound": 0o2733, course / "feedback": 0o711}
    assert exchange.course_folders(config) == expected
    for folder, bits in expected.items():
        assert (mode(folder), folder.stat().st_uid, folder.stat().st_gid) == (bits, NOBODY.pw_uid, NOBODY.pw_gid)
    exchange.prepare_exchange(config, "nobody")  # again: the same, no error
    assert mode(course / "inbound") == 0o2733


def test_owner_of_names_the_account_or_its_uid(tmp_path):
    path = tmp_path / "file"
    path.touch()
    os.chown(path, NOBODY.pw_uid, -1)
    assert exchange.owner_of(str(path)) == "nobody"
    unused = next(uid for uid in range(61000, 62000) if not _exists(uid))
    os.chown(path, unused, -1)
    assert exchange.owner_of(str(path)) == f"uid {unused}"


def _exists(uid: int) -> bool:
    try:
        pwd.getpwuid(uid)
    except KeyError:
        return False
    return True


def settings(config) -> Config:
    return Config(nbgrader_settings(config))


def inbound_submission(config, name: str, owner: int, notebook: bytes) -> None:
    folder = config.exchange_root / config.course_id / "inbound" / name
    folder.mkdir(parents=True)
    (folder / "lab2.ipynb").write_bytes(notebook)
    (folder / "timestamp.txt").write_text(name.split("+")[2])
    for path in (folder, folder / "lab2.ipynb", folder / "timestamp.txt"):
        os.chown(path, owner, -1)


def test_collect_skips_a_submission_made_under_another_students_id(config, alembic_on_path):
    config.root.mkdir()
    inbound_submission(config, "nobody+lab2+2026-12-01 08:00:00.000000 UTC+aaa", NOBODY.pw_uid, b"genuine")
    inbound_submission(config, "nobody+lab2+2026-12-01 09:00:00.000000 UTC+bbb", 0, b"forged by root")
    conf = settings(config)
    coursedir = CourseDirectory(config=conf)
    coursedir.assignment_id = "lab2"
    collect = exchange.OwnerCheckedCollect(coursedir=coursedir, authenticator=Authenticator(config=conf), config=conf)
    result = capture_log(collect)
    assert result["success"], result
    submitted = config.directory("submitted") / "nobody" / "lab2"
    assert (submitted / "lab2.ipynb").read_bytes() == b"genuine", "the student's own, although older"
    assert "Not collected: nobody+lab2+2026-12-01 09:00:00.000000 UTC+bbb names the student 'nobody'" in result["log"]
    assert sorted(p.name for p in config.directory("submitted").iterdir()) == ["nobody"], \
        "the forged one is not collected under any name"


def submit_privately(config, home: Path) -> tuple[Path, str]:
    """nbgrader submit of lab2 through PrivateSubmit, as root; the new submission's folder and the log."""
    (home / "lab2").mkdir(parents=True)
    (home / "lab2" / "lab2.ipynb").write_text("{}")
    conf = settings(config)
    conf.Exchange.cache = str(home / ".cache")
    coursedir = CourseDirectory(config=conf)
    coursedir.assignment_id, coursedir.student_id = "lab2", "root"
    app = exchange.PrivateSubmit(coursedir=coursedir, authenticator=Authenticator(config=conf), config=conf)
    app.assignment_dir = str(home)
    result = capture_log(app)
    assert result["success"], result
    return config.exchange_root / config.course_id / "inbound" / app.assignment_filename, result["log"]


def exchange_with_inbound(config, inbound_mode: int) -> Path:
    course = config.exchange_root / config.course_id
    (course / "outbound" / "lab2").mkdir(parents=True)
    inbound = course / "inbound"
    inbound.mkdir()
    os.chown(inbound, NOBODY.pw_uid, NOBODY.pw_gid)
    os.chmod(inbound, inbound_mode)
    return inbound


def test_a_submission_is_closed_to_everyone_but_its_owner_and_the_graders_group(config, tmp_path):
    exchange_with_inbound(config, exchange.INBOUND_MODE)
    submission, _ = submit_privately(config, tmp_path / "home")
    assert submission.stat().st_gid == NOBODY.pw_gid, "the inbound folder's group, by its set-group-id bit"
    assert mode(submission) == exchange.SUBMISSION_MODE == 0o770
    assert (submission / "submission_secret.txt").is_file()


def test_without_the_set_group_id_bit_the_submission_stays_open_and_the_log_says_so(config, tmp_path):
    exchange_with_inbound(config, 0o733)
    submission, log = submit_privately(config, tmp_path / "home")
    assert submission.stat().st_gid != NOBODY.pw_gid
    assert mode(submission) == 0o777, "0770 would shut the grader out"
    assert "does not have the inbound folder's group" in log
