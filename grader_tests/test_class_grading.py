"""`coursekit grade` at class scale: sequential and parallel give the same scores, a killed run is
finished by running it again (each student graded exactly once), a Dask cluster gives the same
scores, grading the same submission three times gives the same marks and feedback, and a
PostgreSQL gradebook works like the SQLite one."""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from coursekit.grading.classgrade import read_journal
from coursekit.config import load_config
from coursekit.grading.gradetable import grade_rows
from coursekit.grading.nbgrader_settings import open_gradebook
from coursekit.authoring.release import copy_course
from coursekit.authoring.samples import write_samples
from dlcourse.lab2.samples import GOLDEN_SAMPLES
from grader_tests.conftest import ROOT, coursekit, feedback_text, mirror_path, run_step, share_secret

STUDENTS = ("blank", "partial", "reference")
TIMESTAMP = "2026-12-01 00:00:00.000000 UTC"


def scores(config_path: Path, students=STUDENTS) -> dict[str, dict[str, float]]:
    """grade_id -> score of every graded cell, per student, from the gradebook."""
    _, rows = grade_rows(load_config(config_path), "lab2")
    return {row["student"]: row["cells"] for row in rows if row["student"] in students}


def make_class(tmp_path: Path, db_url: str | None = None) -> Path:
    """A scratch course with the four STUDENTS' submissions, built and ready to grade."""
    config_path = copy_course(ROOT, tmp_path, with_release=False)
    share_secret(config_path)  # the same hidden cases as the golden class: the same submission, the same text
    if db_url:
        text = config_path.read_text(encoding="utf-8")
        config_path.write_text(text.replace('db_url = "sqlite:///gradebook.db"', f'db_url = "{db_url}"'),
                               encoding="utf-8")
    for step in ("setup-data", "build lab2", "samples"):
        run_step(config_path, *step.split())
    config = load_config(config_path)
    notebook = config.assignment("lab2").notebook
    golden = tuple(s for s in GOLDEN_SAMPLES if s.student in STUDENTS)
    write_samples(config.directory("release") / "lab2" / notebook, config.directory("source") / "lab2" / notebook,
                  config.directory("submitted"), "lab2", timestamp=TIMESTAMP, samples=golden)
    return config_path


@pytest.fixture(scope="module")
def resumed_class(tmp_path_factory) -> tuple[Path, str, str]:
    """Graded sequentially (1 worker), SIGKILLed after the first submission, then run again.
    Returns the course.toml and the second run's stdout and stderr."""
    config_path = make_class(tmp_path_factory.mktemp("resumed-class"))
    config = load_config(config_path)
    env = {**os.environ, "COURSE_DATA_MIRROR": str(mirror_path()), "MPLBACKEND": "Agg"}
    first = subprocess.Popen([sys.executable, "-m", "coursekit", "--config", str(config_path), "grade",
                              "--workers", "1"], cwd=config_path.parent, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 600
    while not read_journal(config, "lab2") and time.monotonic() < deadline and first.poll() is None:
        time.sleep(0.5)
    assert first.poll() is None, "the first run ended before it could be killed"
    assert read_journal(config, "lab2"), "no submission finished within 10 minutes"
    first.send_signal(signal.SIGKILL)
    first.wait()
    second = coursekit(config_path, "grade", "--workers", "1")
    assert second.returncode == 0, second.stderr[-3000:]
    run_step(config_path, "feedback")
    return config_path, second.stdout, second.stderr


def test_a_killed_run_is_finished_by_running_it_again(resumed_class):
    config_path, stdout, stderr = resumed_class
    config = load_config(config_path)
    assert "already graded by an earlier run" in stdout + stderr
    journal_lines = config.directory("autograded").joinpath(".coursekit-lab2-journal.jsonl").read_text().splitlines()
    students = [line.split('"student": "')[1].split('"')[0] for line in journal_lines if '"student": "' in line]
    assert sorted(students) == sorted(STUDENTS), "each student finished exactly once across both runs"
    with open_gradebook(config) as gradebook:
        rows = [(s.student.id, s.score) for s in gradebook.assignment_submissions("lab2")]
    assert sorted(r[0] for r in rows) == sorted(STUDENTS), "one gradebook submission per student, none lost"


def test_sequential_and_parallel_runs_give_identical_scores(resumed_class, graded_course):
    """The resumed class was graded with 1 worker; the golden class with 2 workers in parallel."""
    config_path, _, _ = resumed_class
    sequential, parallel = scores(config_path), scores(graded_course)
    assert set(sequential) == set(STUDENTS)
    assert sequential == {s: parallel[s] for s in STUDENTS}


def test_parallel_grading_never_locks_the_gradebook(graded_course):
    """The golden class was graded by 2 workers writing to one SQLite gradebook."""
    logs = sorted((graded_course.parent / "autograded" / ".coursekit-lab2-logs").glob("*.log"))
    assert len(logs) >= 12, "nbgrader's log of every submission it graded is kept"
    for log in [graded_course.parent / "grade.log", *logs]:
        text = log.read_text(encoding="utf-8")
        assert "database is locked" not in text and "OperationalError" not in text, log.name


@dataclass
class Regrade:
    """The resumed class before and after reference and partial were graded again on Dask."""

    scores_before: dict[str, dict[str, float]]
    scores_after: dict[str, dict[str, float]]
    feedback_before: str  # partial's feedback page text
    feedback_after: str
    output: str  # the coordinator's stdout and stderr


@pytest.fixture(scope="module")
def dask_regrade(resumed_class) -> Regrade:
    """reference and partial of the resumed class graded again (--force) on a Dask LocalCluster of
    2 processes, then their feedback regenerated."""
    distributed = pytest.importorskip("distributed")
    config_path, _, _ = resumed_class
    before, text_before = scores(config_path), feedback_text(load_config(config_path), "partial")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        result = coursekit(config_path, "grade", "--force", "--scheduler", cluster.scheduler_address,
                           "--student", "reference", "--student", "partial")
    assert result.returncode == 0, result.stderr[-3000:]
    run_step(config_path, "feedback")
    return Regrade(before, scores(config_path), text_before, feedback_text(load_config(config_path), "partial"),
                   result.stdout + result.stderr)


def test_a_dask_cluster_gives_the_same_scores(dask_regrade):
    assert "on the Dask cluster at tcp://127.0.0.1" in dask_regrade.output
    assert "grading 2 submission(s)" in dask_regrade.output
    assert dask_regrade.scores_after == dask_regrade.scores_before


def test_grading_the_same_submission_three_times_is_deterministic(graded_course, resumed_class, dask_regrade):
    """The partial notebook, byte for byte the same file, autograded three times: by 2 parallel workers
    (the golden class), by 1 worker (the resumed class), and again with --force on Dask. Identical
    per-cell scores and identical feedback text."""
    config_path, _, _ = resumed_class
    submitted = [load_config(c).directory("submitted") / "partial" / "lab2" / "lab2.ipynb"
                 for c in (graded_course, config_path)]
    assert submitted[0].read_bytes() == submitted[1].read_bytes(), "the same submission in both classes"
    first = scores(graded_course, ("partial",))["partial"]
    assert first == dask_regrade.scores_before["partial"] == dask_regrade.scores_after["partial"]
    assert sum(v for v in first.values() if v is not None) == 70, "the partial sample loses the dropout scaling and the dropout experiment"
    first_text = feedback_text(load_config(graded_course), "partial")
    assert first_text == dask_regrade.feedback_before == dask_regrade.feedback_after
    assert "1 - dropout" in first_text, "the feedback names the mistake"


def _postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def postgres_url(tmp_path_factory):
    """A PostgreSQL server of its own on loopback (Debian's postgresql package), or a skip."""
    bin_dir = _postgres_bin()
    if bin_dir is None:
        pytest.skip("Debian's postgresql is not installed (apt-get install postgresql): the PostgreSQL "
                    "gradebook test needs a real server")
    pytest.importorskip("psycopg2", reason="psycopg2 (pip install psycopg2-binary) is needed to reach PostgreSQL")
    # Outside pytest's temporary folders: those are private to root, and PostgreSQL refuses to run as root.
    data = Path(tempfile.mkdtemp(prefix="coursekit-pgdata-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(data, "postgres", "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    subprocess.run([*as_user, str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust"],
                   check=True, capture_output=True)
    port = _free_port()
    subprocess.run([*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-w", "-l", str(data / "log"),
                    "-o", f"-h 127.0.0.1 -p {port} -k {data}", "start"], check=True, capture_output=True)
    try:
        subprocess.run([str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres",
                        "gradebook"], check=True, capture_output=True)
        # SQLAlchemy's plain "postgresql://" means psycopg 3; the course pins psycopg2.
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/gradebook"
    finally:
        subprocess.run([*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(data, ignore_errors=True)


def test_a_postgresql_gradebook_gives_the_same_scores(postgres_url, tmp_path):
    """Two workers write to a real PostgreSQL gradebook; the marks are the hand-written expected ones."""
    from grader_tests.test_sample_grades import EXPECTED, EXPECTED_LOST, TESTS
    config_path = make_class(tmp_path, db_url=postgres_url)
    result = coursekit(config_path, "grade", "--workers", "2", "--student", "reference", "--student", "partial")
    assert result.returncode == 0, result.stderr[-3000:]
    assert load_config(config_path).db_url.startswith("postgresql+psycopg2://")
    assert not (config_path.parent / "gradebook.db").exists(), "nothing went to SQLite"
    for student in ("reference", "partial"):
        expected = {gid: 0.0 if gid in EXPECTED_LOST[student] else float(EXPECTED["full"][gid]) for gid in TESTS}
        assert {gid: scores(config_path, (student,))[student][gid] for gid in TESTS} == expected, student
