"""course.toml: the real file loads; each kind of bad file gives one clear message; nbgrader agrees."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
from pathlib import Path

import pytest

from coursekit.config import ConfigError, load_config
from coursekit.grading.nbgrader_settings import nbgrader_settings

ROOT = Path(__file__).resolve().parents[1]
COURSE_TOML = ROOT / "course.toml"


def write_variant(tmp_path: Path, old: str, new: str) -> Path:
    """A copy of the real course.toml with one textual change (which must apply exactly once)."""
    text = COURSE_TOML.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"test setup: {old!r} occurs {text.count(old)} times"
    path = tmp_path / "course.toml"
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


def test_real_course_toml_loads():
    config = load_config(COURSE_TOML)
    assert config.course_id == "dl-lab2"
    assert config.root == ROOT
    lab2 = config.assignment("lab2")
    assert lab2.total_points == 100
    assert lab2.due.tzinfo is not None and lab2.due.utcoffset() == dt.timedelta(hours=8)
    assert set(config.profiles) == {"full", "cpu", "grading"}
    assert config.profiles["grading"].dropout["num_train"] <= config.profiles["cpu"].dropout["num_train"]
    assert config.directory("source") == ROOT / "source"
    assert config.data_root == (ROOT / "data").resolve()


@pytest.mark.parametrize("old, new, expected", [
    ('id = "dl-lab2"', 'id = "dl-lab2', r"not valid TOML"),
    ('cell_timeout = 120', 'cell_timeout = 120\ncolour = "blue"', r"unknown key 'grading\.colour'"),
    ('cell_timeout = 120', 'cell_timeout = "120"', r"key 'grading\.cell_timeout' must be a whole number of seconds, got a string '120'"),
    ('show_hidden_tests = false', 'show_hidden_tests = 1', r"'grading\.show_hidden_tests' must be true or false, got an integer 1"),
    ('workers = 0', 'workers = true', r"'grading\.workers' must be a whole number .*got a boolean True"),
    ('lr = 0.02\nlambd = 1.0                 # from w = 0 it lowers the test loss to <= 0.69 x that of lambda = 0 on 20 seeds\n[profiles.full.dropout]',
     'lr = "fast"\nlambd = 1.0\n[profiles.full.dropout]',
     r"'profiles\.full\.weight_decay\.lr' must be a number, got a string 'fast'"),
    ('late_policy = "zero"', 'late_policy = "half"', r"'grading\.late_policy' must be one of none, zero"),
    ('default = "auto"', 'default = "gpu"', r"'profiles\.default' must be auto, full, cpu or grading"),
    ('due = 2026-12-14T23:59:00+08:00', 'due = 2026-12-14T23:59:00', r"needs a time zone"),
    ('test_relu = 3', 'test_relu = "six"', r"'assignments\.lab2\.points\.test_relu' must be a number of points"),
    ('[data]\nroot = "data"', '[dataset]\nroot = "data"', r"unknown section '\[dataset\]'"),
    ('before_deadline = "outcomes"', 'before_deadline = "scores"',
     r"'service\.before_deadline' must be one of visible, outcomes, full, got 'scores'"),
    ('counts = "last"', 'counts = "first"', r"'service\.counts' must be one of last, best, got 'first'"),
    ('per_student_per_hour = 4', 'per_student_per_hour = 0', r"'service\.per_student_per_hour' must be at least 1"),
    ('per_student_per_hour = 4', 'per_student_per_hour = 2.5',
     r"'service\.per_student_per_hour' must be a whole number of graded submissions, got a number 2\.5"),
    ('per_student_total = 20', 'per_student_total = 3',
     r"'service\.per_student_total' \(3\) must be at least 'service\.per_student_per_hour' \(4\)"),
    ('poll_seconds = 2', 'poll_seconds = 0', r"'service\.poll_seconds' must be between 0\.1 and 60 seconds"),
    ('poll_seconds = 2', 'poll_seconds = "2"', r"'service\.poll_seconds' must be a number of seconds, got a string"),
    ('counts = "last"', 'counts = "last"\nqueue = "redis"', r"unknown key 'service\.queue'"),
])
def test_bad_file_gives_one_clear_message(tmp_path, old, new, expected):
    path = write_variant(tmp_path, old, new)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert str(path) in message, "the message names the file"
    assert re.search(expected, message), message
    assert "\n" not in message.strip(), "one line, no traceback"


def test_missing_section_and_missing_key(tmp_path):
    text = COURSE_TOML.read_text(encoding="utf-8")
    start = text.index("[grading]")
    end = text.index("[data]")
    path = tmp_path / "course.toml"
    path.write_text(text[:start] + text[end:], encoding="utf-8")
    with pytest.raises(ConfigError, match=r"missing section '\[grading\]'"):
        load_config(path)
    path = write_variant(tmp_path, 'memory_limit_mb = 4096', '')
    with pytest.raises(ConfigError, match=r"missing key 'grading\.memory_limit_mb'"):
        load_config(path)


def test_service_policy_is_read(tmp_path):
    service = load_config(COURSE_TOML).service
    assert (service.before_deadline, service.counts) == ("outcomes", "last"), "outcomes and last are the defaults"
    assert service.per_student_per_hour <= service.per_student_total
    path = write_variant(tmp_path, 'counts = "last"', 'counts = "best"')
    assert load_config(path).service.counts == "best"
    path = write_variant(tmp_path, 'poll_seconds = 2', 'poll_seconds = 0.5')
    assert load_config(path).service.poll_seconds == 0.5
    path = write_variant(tmp_path, "per_student_total = 20        #", "#")
    with pytest.raises(ConfigError, match=r"missing key 'service\.per_student_total'"):
        load_config(path)


def test_missing_file_is_clear(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "nope.toml")


def test_mirror_from_environment_overrides_file(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_DATA_MIRROR", str(tmp_path / "mirror"))
    assert load_config(COURSE_TOML).data_mirror == tmp_path / "mirror"
    monkeypatch.delenv("COURSE_DATA_MIRROR")
    path = write_variant(tmp_path, 'mirror = ""', 'mirror = "somewhere"')
    assert load_config(path).data_mirror == tmp_path / "somewhere"
    assert load_config(COURSE_TOML).data_mirror is None


def test_nbgrader_reads_the_same_values():
    """traitlets' loader (what nbgrader uses) run on nbgrader_config.py yields course.toml's values."""
    from traitlets.config.loader import PyFileConfigLoader

    c = PyFileConfigLoader("nbgrader_config.py", path=str(ROOT)).load_config()
    config = load_config(COURSE_TOML)
    assert c.CourseDirectory.course_id == config.course_id == "dl-lab2"
    assert c.CourseDirectory.root == str(ROOT)
    assert c.CourseDirectory.source_directory == "source"
    assert c.CourseDirectory.release_directory == "release"
    assert c.CourseDirectory.db_url == f"sqlite:///{ROOT}/gradebook.db?timeout=120"  # busy timeout: parallel writers wait
    assert c.ExecutePreprocessor.timeout == config.cell_timeout == 120
    assert c.Exchange.root == str(config.exchange_root)
    assert c.LateSubmissionPlugin.penalty_method == config.late_policy == "zero"
    assert c.OverwriteCells.add_missing_cells is True
    assert set(nbgrader_settings(config)) == set(c.keys())


def test_nbgrader_stops_with_the_message_on_a_bad_file(tmp_path):
    """A broken course.toml stops plain nbgrader commands with the clear message, not a traceback."""
    (tmp_path / "nbgrader_config.py").write_text((ROOT / "nbgrader_config.py").read_text())
    write_variant(tmp_path, 'cell_timeout = 120', 'cell_timeout = "soon"')
    out = subprocess.run([sys.executable, "-m", "nbgrader", "list"], cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode != 0
    assert "course.toml cannot be used" in out.stderr and "grading.cell_timeout" in out.stderr
    assert "Traceback" not in out.stderr


def test_hub_section_of_the_real_course_toml():
    hub = load_config(COURSE_TOML).hub
    assert hub.roster == ROOT / "roster.csv" and hub.roster.is_file()
    assert hub.staff == ("instructor", "ta1")
    assert hub.port == 8000 and hub.ip == "127.0.0.1"
    assert hub.authenticator == "shared-password"
    assert not hub.state_dir.is_relative_to(ROOT)


@pytest.mark.parametrize("old, new, expected", [
    ('tas = ["ta1"]', 'tas = "ta1"', r"key 'hub\.tas' must be an array of TA account names.*got a string"),
    ('tas = ["ta1"]', 'tas = ["TA 1"]', r"key 'hub\.tas' must be an account name .*got 'TA 1'"),
    ('tas = ["ta1"]', 'tas = ["instructor"]', r"'hub\.instructor' and 'hub\.tas' name the same account twice"),
    ('instructor = "instructor"', 'instructor = "root+1"', r"key 'hub\.instructor' must be an account name"),
    ('port = 8000', 'port = 65534', r"key 'hub\.port' must be a TCP port from 1 to 65532"),
    ('port = 8000', 'port = "8000"', r"key 'hub\.port' must be a TCP port .*got a string"),
    ('authenticator = "shared-password"', 'authenticator = "github"', r"'hub\.authenticator' must be one of shared-password, pam"),
    ('state_dir = "/var/lib/coursekit-hub/dl-lab2"', 'state_dir = "hub-state"',
     r"key 'hub\.state_dir' must be outside the course folder"),
    ('proxy = ""', 'proxy = ""\nusers = 3', r"unknown key 'hub\.users'"),
])
def test_bad_hub_section_gives_one_clear_message(tmp_path, old, new, expected):
    path = write_variant(tmp_path, old, new)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert str(path) in message and re.search(expected, message), message
    assert "\n" not in message.strip()


def test_hub_section_is_optional(tmp_path):
    text = COURSE_TOML.read_text(encoding="utf-8")
    start = text.index("[hub]")
    end = text.index("\n\n", text.index('proxy = "'))
    path = tmp_path / "course.toml"
    path.write_text(text[:start] + text[end:], encoding="utf-8")
    assert load_config(path).hub is None
