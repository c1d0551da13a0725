"""coursekit.labserver: the environment JupyterLab gets (so kernels, validate and autograde find the course and
its data), where its token comes from, and the command line's answers. (The command it builds and the student's
nbgrader_config.py: browser_tests/test_labserver.py.)"""

from __future__ import annotations

import dataclasses
import os
import socket
import sys
from pathlib import Path

from traitlets.config import Config

from coursekit import labserver
from coursekit.config import load_config

ROOT = Path(__file__).resolve().parents[1]


def test_the_server_environment_finds_this_python_the_course_and_the_data_mirror(tmp_path):
    config = dataclasses.replace(load_config(ROOT / "course.toml"), data_mirror=tmp_path / "mirror")
    launch = labserver.lab_launch(config, port=8899, token="t", env={"PATH": "/usr/bin", "LANG": "C.UTF-8"})
    assert launch.env["PATH"].split(os.pathsep) == [str(Path(sys.executable).parent), "/usr/bin"]
    assert launch.env["COURSE_TOML"] == str(config.path)
    assert launch.env["COURSE_DATA_MIRROR"] == str(tmp_path / "mirror")
    assert launch.env["LANG"] == "C.UTF-8", "the rest of the given environment is kept"
    without = labserver.lab_launch(dataclasses.replace(config, data_mirror=None), port=8899, token="t", env={})
    assert "COURSE_DATA_MIRROR" not in without.env
    assert ("--ServerApp.allow_root=True" in launch.command) == (os.geteuid() == 0)


def test_the_token_comes_from_the_argument_then_the_environment(monkeypatch):
    config = load_config(ROOT / "course.toml")
    monkeypatch.setenv(labserver.ENV_TOKEN, "from-the-environment")
    assert labserver.lab_launch(config, port=8899, env={}).token == "from-the-environment"
    assert labserver.lab_launch(config, port=8899, token="given", env={}).token == "given"


def test_a_free_port_can_be_listened_on():
    port = labserver.free_port()
    with socket.socket() as sock:
        sock.bind((labserver.HOST, port))


def test_the_students_nbgrader_config_names_the_student_when_given(tmp_path):
    config = load_config(ROOT / "course.toml")
    text = labserver.student_nbgrader_config(config, "alice")
    assert text.startswith(f"{labserver.STUDENT_CONFIG_MARKER} {config.path}\n")
    namespace = {"get_config": Config}
    exec(text, namespace)
    assert namespace["c"]["CourseDirectory"]["student_id"] == "alice"
    ours = labserver.write_student_config(config, tmp_path, "alice")
    labserver.write_student_config(config, tmp_path, "bob")
    assert "c.CourseDirectory.student_id = 'bob'" in ours.read_text(), "a file written here is kept up to date"


def test_a_missing_course_toml_is_an_error_message_not_a_traceback(tmp_path, capsys):
    assert labserver.main(["--config", str(tmp_path / "nothing.toml")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("coursekit lab: ") and "nothing.toml" in err
