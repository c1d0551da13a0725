"""The executors that `coursekit grade` and `coursekit serve` share (coursekit.grading.classgrade): what they
say when they cannot grade. Grading on a real cluster is grader_tests/test_service_on_dask.py and
grader_tests/test_class_grading.py."""

from __future__ import annotations

import socket
import time

import pytest

from coursekit.grading import classgrade


def closed_port() -> int:
    """A loopback port that nothing listens on (bound, then let go)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_scheduler_is_named_with_what_to_do():
    address = f"tcp://127.0.0.1:{closed_port()}"
    started = time.monotonic()
    with pytest.raises(classgrade.GradingError) as raised:
        classgrade.DaskCluster(address, connect_timeout=1)
    message = str(raised.value)
    assert f"cannot reach the Dask scheduler at {address}" in message
    assert "dask_scheduler" in message and "--scheduler" in message
    assert time.monotonic() - started < 15, "it waits for the connect timeout, not longer"


def test_local_workers_grade_each_job_and_say_where(monkeypatch):
    monkeypatch.setattr(classgrade, "grade_submission",
                        lambda job: classgrade.Outcome(job.student, "graded", 0.1, score=1.0))
    with classgrade.LocalWorkers(2) as workers:
        assert workers.capacity() == 2 and workers.where == "with 2 worker(s)"
        outcomes = []
        jobs = [classgrade.Job("course.toml", "lab2", s, 1, sandbox=True) for s in ("ann", "ben", "cat")]
        classgrade.run_jobs(workers, jobs, outcomes.append)
    assert sorted(o.student for o in outcomes) == ["ann", "ben", "cat"]


def test_no_workers_is_refused():
    with pytest.raises(classgrade.GradingError, match="at least 1"):
        classgrade.LocalWorkers(0)


def test_serve_on_a_cluster_refuses_a_local_worker_count(capsys, monkeypatch):
    import os
    from pathlib import Path

    from coursekit import cli
    from coursekit.environment import ENV_CONFIG, ENV_MIRROR
    for name in (ENV_CONFIG, ENV_MIRROR):  # the command line sets them for its children: restored afterwards
        if name in os.environ:
            monkeypatch.setenv(name, os.environ[name])
        else:
            monkeypatch.delenv(name, raising=False)
    course_toml = Path(__file__).resolve().parents[2] / "course.toml"
    assert cli.main(["--config", str(course_toml), "serve", "--scheduler", "tcp://127.0.0.1:8786",
                     "--workers", "2"]) == 2
    assert "--workers is for grading on this machine" in capsys.readouterr().err
