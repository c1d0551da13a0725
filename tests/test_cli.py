"""The coursekit command: clear one-line errors with exit status 2, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from coursekit.cli import parser
from coursekit.authoring.release import copy_course

ROOT = Path(__file__).resolve().parents[1]


def coursekit(*args: str, cwd: Path = ROOT, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "coursekit", *args], cwd=cwd, env=env,
                          capture_output=True, text=True)


@pytest.mark.parametrize("command", ["setup-data", "build", "samples", "grade", "autograde", "serve", "feedback",
                                     "grades", "export", "report", "similarity", "lab", "demo"])
def test_every_command_answers(command):
    """Each command of the README exists and says how it is used (exit 0, no traceback)."""
    result = coursekit(command, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: coursekit {command}") and "Traceback" not in result.stderr


def test_bad_course_toml_is_reported_in_one_line(tmp_path):
    config_path = copy_course(ROOT, tmp_path, with_release=False)
    config_path.write_text(config_path.read_text().replace("workers = 0", "workers = \"many\""))
    result = coursekit("--config", str(config_path), "grades")
    assert result.returncode == 2
    assert "grading.workers" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("url, expected", [
    ("postgresql+psycopg://teacher@127.0.0.1:5432/gradebook", "needs the Python module 'psycopg'"),
    ("nosuchdb://somewhere/gradebook", "not a database URL SQLAlchemy knows"),
])
def test_a_gradebook_url_without_its_driver_is_one_clear_line(tmp_path, url, expected):
    config_path = copy_course(ROOT, tmp_path, with_release=False)
    config_path.write_text(config_path.read_text().replace('db_url = "sqlite:///gradebook.db"', f'db_url = "{url}"'))
    result = coursekit("--config", str(config_path), "build")
    assert result.returncode == 2
    assert expected in result.stderr and "db_url" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_serve_before_build_says_what_to_do(tmp_path):
    config_path = copy_course(ROOT, tmp_path, with_release=False)
    result = coursekit("--config", str(config_path), "serve")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "the gradebook has no assignment 'lab2' yet: run `python -m coursekit build lab2`" in result.stderr


def test_grade_before_build_says_what_to_do(tmp_path):
    """The gradebook is asked before anything starts (SQLite: read directly, without nbgrader)."""
    config_path = copy_course(ROOT, tmp_path, with_release=False)
    result = coursekit("--config", str(config_path), "grade")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "the gradebook has no assignment 'lab2' yet: run `python -m coursekit build lab2`" in result.stderr


def test_unknown_assignment_names_the_known_ones():
    result = coursekit("build", "lab9")
    assert result.returncode == 2
    assert "no assignment named 'lab9'; known: lab2" in result.stderr


def test_setup_data_with_a_missing_mirror_says_what_to_do(tmp_path):
    config_path = copy_course(ROOT, tmp_path, with_release=False)
    import os
    env = {**os.environ, "COURSE_DATA_MIRROR": str(tmp_path / "no-such-mirror")}
    result = coursekit("--config", str(config_path), "setup-data", env=env)
    assert result.returncode == 2
    assert "COURSE_DATA_MIRROR" in result.stderr and "does not exist" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "data").exists(), "the data root is left as it was"


@pytest.mark.parametrize("argv", [["autograde", "--student", "a", "--student", "b"], ["samples", "lab2"]])
def test_arguments_parse(argv):
    args = parser().parse_args(argv)
    assert args.command == argv[0]


def test_building_the_command_line_imports_neither_nbgrader_nor_torch():
    """Every command pays for what its parser imports (`coursekit grade --student S` included)."""
    script = ("import sys; from coursekit.cli import parser; parser(); "
              "assert not {'nbgrader', 'torch'} & set(sys.modules), {'nbgrader', 'torch'} & set(sys.modules)")
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]


def test_grade_before_build_starts_no_zygote_and_no_server(tmp_path, monkeypatch, capsys):
    """A SQLite gradebook answers at once: nothing of the run is started only to be stopped."""
    from coursekit import cli
    from coursekit.grading import classgrade, worker
    config_path = copy_course(ROOT, tmp_path, with_release=False)
    monkeypatch.setattr(classgrade, "kernel_zygote", lambda *a: pytest.fail("a zygote was started"))
    monkeypatch.setattr(worker, "warm_up", lambda *a: pytest.fail("the grading server was started"))
    assert cli.main(["--config", str(config_path), "grade"]) == 2
    assert "run `python -m coursekit build lab2`" in capsys.readouterr().err
