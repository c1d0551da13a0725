"""coursekit.hub.commands: `hub status|stop` say what they find, and every action needs a [hub] section
(`hub setup` and `hub start` are tests/hub/test_deploy.py's and browser_tests/test_hub.py's)."""

from __future__ import annotations

import argparse
import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from coursekit.config import load_config
from coursekit.hub import HubError, commands
from coursekit.hub.hubconfig import layout

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def config(tmp_path):
    config = load_config(ROOT / "course.toml")
    return dataclasses.replace(config, hub=dataclasses.replace(config.hub, state_dir=tmp_path / "state", port=8123))


def run(config, action: str) -> list[str]:
    said: list[str] = []
    commands.run(config, argparse.Namespace(action=action), said.append)
    return said


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    commands.add_arguments(parser)
    return parser.parse_args(argv)


def test_the_four_actions_and_no_other():
    assert [parse(action).action for action in commands.ACTIONS] == ["setup", "start", "stop", "status"]
    with pytest.raises(SystemExit):
        parse("restart")


def test_status_and_stop_of_a_hub_that_is_not_running(config):
    assert run(config, "status") == ["not running"]
    assert run(config, "stop") == ["the hub was not running"]


def test_status_names_the_running_hub_and_stop_stops_it(config):
    lay = layout(config)
    lay.private.mkdir(parents=True)
    code = "import sys, threading; print('ready', flush=True); threading.Event().wait()"
    hub = subprocess.Popen([sys.executable, "-c", code, "-f", str(lay.config_file)], stdout=subprocess.PIPE,
                           text=True, start_new_session=True)
    try:
        assert hub.stdout.readline() == "ready\n"
        lay.pid_file.write_text(f"{hub.pid}\n")
        assert run(config, "status") == [f"running at http://127.0.0.1:8123 (pid {hub.pid})"]
        assert run(config, "stop") == ["the hub stopped, with every server it started"]
        assert run(config, "status") == ["not running"]
    finally:
        if hub.poll() is None:
            hub.kill()
        hub.wait()


@pytest.mark.parametrize("action", ["start", "stop", "status"])
def test_a_course_without_a_hub_section_is_told_to_add_one(config, action):
    with pytest.raises(HubError, match=r"has no \[hub\] section"):
        run(dataclasses.replace(config, hub=None), action)


def test_after_setup_it_says_what_is_left_with_the_same_config(config):
    lines = commands.what_is_left(config, Path("/state/private/password"))
    text = "\n".join(lines)
    start = f"{sys.executable} -m coursekit --config {config.path} hub start"
    assert start in text, text
    assert "/services/dl-lab2/lab" in text and "python -m coursekit build" in text
    assert "nbgrader release_assignment lab2" in text and "stability" in text
    assert lines[-1] == "everyone logs in with their id and the shared password in /state/private/password"


def test_what_is_left_knows_what_is_released(config, tmp_path):
    config = dataclasses.replace(config, exchange_root=tmp_path / "exchange")
    (config.exchange_root / "dl-lab2" / "outbound" / "lab2").mkdir(parents=True)
    text = "\n".join(commands.what_is_left(config, None))
    assert "nbgrader release_assignment stability" in text and "release_assignment lab2" not in text
    assert "released already: lab2" in text and "password" not in text
