"""coursekit.service.steps: nbgrader's own collect and release_feedback on a scratch exchange, and the
retries of a step the gradebook's lock refused."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from coursekit.config import load_config
from coursekit.service import notices, steps
from coursekit.service.server import collected_time
from coursekit.service.steps import NbgraderSteps, StepError
from coursekit.service.watcher import feedback_page, inbound_folder
from tests.support.classroom import scratch_exchange, submit

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def config(tmp_path, alembic_on_path):
    return scratch_exchange(load_config(ROOT / "course.toml"), tmp_path)


def test_collect_brings_the_latest_submission_and_a_notice_is_released_to_its_own_submission(config, tmp_path):
    home = tmp_path / "home"
    first = submit(config, home, "alice", "lab2", {"lab2.ipynb": b"first"})
    latest = submit(config, home, "alice", "lab2", {"lab2.ipynb": b"latest"})
    nbgrader = NbgraderSteps(config)
    nbgrader.collect("lab2", "alice")
    submitted = config.directory("submitted") / "alice" / "lab2"
    assert (submitted / "lab2.ipynb").read_bytes() == b"latest"
    assert collected_time(submitted) == latest.submitted_at

    folder = notices.failed(config.root / "notices", first, inbound_folder(config) / first.name, "lab2.ipynb",
                            "lab2.ipynb 不是有效的笔记本文件")
    nbgrader.release_feedback("lab2", "alice", folder)
    page = feedback_page(config, first, "lab2.ipynb")
    assert "lab2.ipynb 不是有效的笔记本文件" in page.read_text(encoding="utf-8")
    assert not feedback_page(config, latest, "lab2.ipynb").exists(), "only the submission the page belongs to"
    assert not (config.root / "feedback").exists(), "released from the notice folder, not the course's feedback/"


class App:
    """An nbgrader app whose start() raises each of `errors` in turn, then succeeds."""

    def __init__(self, errors: list[str]) -> None:
        self.errors, self.log, self.starts = errors, logging.getLogger("test-steps"), 0

    def start(self) -> None:
        self.starts += 1
        if self.errors:
            raise RuntimeError(self.errors.pop(0))
        self.log.warning("done")


@pytest.fixture
def no_waiting(monkeypatch):
    waits = []
    monkeypatch.setattr(steps.time, "sleep", waits.append)
    return waits


def test_a_step_the_gradebook_lock_refused_is_tried_again_after_longer_waits(config, no_waiting):
    app = App(["sqlite3.OperationalError: database is locked"] * 2)
    log = NbgraderSteps(config)._run("collect", lambda: app)
    assert app.starts == 3 and "done" in log
    assert no_waiting == list(steps.RETRY_DELAYS[:2])


def test_a_step_still_locked_after_every_retry_fails_with_nbgraders_reason(config, no_waiting):
    app = App(["sqlite3.OperationalError: database is locked"] * 99)
    with pytest.raises(StepError, match="nbgrader collect failed: .*database is locked"):
        NbgraderSteps(config)._run("collect", lambda: app)
    assert app.starts == len(steps.RETRY_DELAYS) + 1 and no_waiting == list(steps.RETRY_DELAYS)


def test_any_other_failure_is_not_retried(config, no_waiting):
    app = App(["no submission of alice"])
    with pytest.raises(StepError, match="nbgrader release_feedback failed: RuntimeError: no submission of alice"):
        NbgraderSteps(config)._run("release_feedback", lambda: app)
    assert app.starts == 1 and no_waiting == []
