"""coursekit.labserver without a browser: what it starts and how it configures nbgrader."""

from __future__ import annotations

import argparse
from pathlib import Path

from traitlets.config import Config

from coursekit.config import load_config
from coursekit.labserver import (INSTRUCTOR_EXTENSIONS, add_arguments, lab_launch, student_nbgrader_config,
                                 write_student_config)

ROOT = Path(__file__).resolve().parents[1]


def test_instructor_server_is_local_with_token_in_the_course_folder_with_formgrader():
    config = load_config(ROOT / "course.toml")
    launch = lab_launch(config, port=8899, token="t0ken", env={"PATH": "/usr/bin"})
    assert launch.url == "http://127.0.0.1:8899/lab?token=t0ken"
    assert launch.cwd == config.root
    for option in ("--ServerApp.ip=127.0.0.1", "--ServerApp.port=8899", "--ServerApp.port_retries=0",
                   f"--ServerApp.root_dir={config.root}", "--no-browser"):
        assert option in launch.command
    assert launch.env["JUPYTER_TOKEN"] == "t0ken" and not any("t0ken" in part for part in launch.command)
    for name in INSTRUCTOR_EXTENSIONS:
        assert f"--ServerApp.jpserver_extensions={name}=True" in launch.command
    assert launch.env["COURSE_TOML"] == str(config.path)


def test_random_token_and_free_port_by_default():
    config = load_config(ROOT / "course.toml")
    first, second = lab_launch(config, env={}), lab_launch(config, env={})
    assert first.token != second.token and len(first.token) >= 32
    assert 0 < first.port < 65536


def test_student_folder_gets_the_course_id_exchange_and_time_limit(tmp_path):
    config = load_config(ROOT / "course.toml")
    launch = lab_launch(config, student_dir=tmp_path, env={})
    assert launch.cwd == tmp_path.resolve()
    assert "--ServerApp.jpserver_extensions=nbgrader.server_extensions.formgrader=False" in launch.command
    namespace = {"get_config": Config}  # what traitlets gives nbgrader_config.py
    exec((tmp_path / "nbgrader_config.py").read_text(), namespace)
    settings = namespace["c"]
    assert settings["CourseDirectory"]["course_id"] == config.course_id
    assert settings["Exchange"]["root"] == str(config.exchange_root)
    assert settings["ExecutePreprocessor"]["timeout"] == config.cell_timeout
    assert "student_id" not in settings["CourseDirectory"], "by default nbgrader uses the login name"
    lab_launch(config, student_dir=tmp_path, env={}, student_id="alice")
    assert "c.CourseDirectory.student_id = 'alice'" in (tmp_path / "nbgrader_config.py").read_text()


def test_a_students_own_config_is_never_overwritten(tmp_path):
    config = load_config(ROOT / "course.toml")
    own = tmp_path / "nbgrader_config.py"
    own.write_text("c = get_config()\nc.CourseDirectory.course_id = 'mine'\n")
    write_student_config(config, tmp_path)
    assert "mine" in own.read_text()
    ours = tmp_path / "again"
    write_student_config(config, ours)
    assert (ours / "nbgrader_config.py").read_text() == student_nbgrader_config(config)


def test_arguments():
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--port", "9000", "--token", "x", "--student", "/tmp/s", "--student-id", "bob"])
    assert (args.port, args.token, args.student, args.student_id) == (9000, "x", Path("/tmp/s"), "bob")
