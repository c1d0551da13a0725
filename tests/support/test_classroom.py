"""tests/support/classroom.py: the simulated class submits the way nbgrader's Submit button does, reads its
feedback the way Fetch Feedback finds it, and stops a service the way systemd does."""

from __future__ import annotations

import dataclasses
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from nbgrader.exchange import ExchangeError

from coursekit.config import load_config
from coursekit.service import notices
from coursekit.service.steps import NbgraderSteps
from coursekit.service.watcher import inbound_folder, is_complete, scan
from tests.support.classroom import feedback_released, scratch_exchange, stop_service, submit

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def config(tmp_path):
    """The real course.toml on a scratch course folder and an exchange with the course's folders."""
    return scratch_exchange(load_config(ROOT / "course.toml"), tmp_path)


def test_a_submission_is_what_nbgrader_submit_leaves_in_the_exchange(config, tmp_path):
    home = tmp_path / "alice-home"
    attempt = submit(config, home, "alice", "lab2", {"lab2.ipynb": b'{"cells": []}'})
    assert (attempt.student, attempt.assignment) == ("alice", "lab2")
    assert (home / "lab2" / "lab2.ipynb").read_bytes() == b'{"cells": []}', "the student's own copy"
    folder = inbound_folder(config) / attempt.name
    assert (folder / "lab2.ipynb").read_bytes() == b'{"cells": []}'
    assert is_complete(folder) and scan(config, "lab2") == [attempt], "the service sees it as complete"
    again = submit(config, home, "alice", "lab2", {"lab2.ipynb": b'{"cells": [1]}'})
    assert again.name != attempt.name and scan(config, "lab2") == [attempt, again], "each Submit is kept"
    assert (home / ".nbgrader-cache" / config.course_id).is_dir(), "nbgrader's student cache, in the home"


def test_a_course_missing_from_the_exchange_refuses_the_submission(config, tmp_path):
    other = dataclasses.replace(config, exchange_root=tmp_path / "another-exchange")
    other.exchange_root.mkdir()  # an exchange, but the course was never set up in it
    with pytest.raises(ExchangeError, match="Inbound directory doesn't exist"):
        submit(other, tmp_path / "home", "alice", "lab2", {"lab2.ipynb": b"{}"})


def test_feedback_is_there_once_nbgrader_released_it_to_that_submission(config, tmp_path):
    first = submit(config, tmp_path / "home", "alice", "lab2", {"lab2.ipynb": b"not json"})
    second = submit(config, tmp_path / "home", "alice", "lab2", {"lab2.ipynb": b"not json either"})
    assert not feedback_released(config, first, "lab2.ipynb")
    page = notices.failed(config.root / "notices", first, inbound_folder(config) / first.name, "lab2.ipynb",
                          "lab2.ipynb 不是有效的笔记本文件")
    NbgraderSteps(config).release_feedback("lab2", "alice", page)
    assert feedback_released(config, first, "lab2.ipynb")
    assert not feedback_released(config, second, "lab2.ipynb"), "the page belongs to the first submission only"


#: A stand-in for `coursekit serve`: says it is ready once its SIGTERM handling is in place.
SERVICE = """
import signal, sys, threading
if sys.argv[1] == "stops":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
else:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("ready", flush=True)
threading.Event().wait()
"""


def service(kind: str) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-c", SERVICE, kind], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline() == "ready\n"
    return process


def test_stop_service_sends_sigterm_and_waits_for_the_service_to_finish():
    process = service("stops")
    stop_service(process)
    assert process.returncode == 0, "it stopped by itself on SIGTERM"


def test_stop_service_kills_a_service_that_ignores_sigterm():
    process = service("ignores")
    stop_service(process, timeout=0.5)
    assert process.returncode == -signal.SIGKILL


def test_stop_service_leaves_a_stopped_service_alone():
    process = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    process.wait()
    stop_service(process)
    assert process.returncode == 3
