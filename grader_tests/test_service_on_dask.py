"""`coursekit serve --scheduler ADDRESS` on a real Dask cluster on loopback (``dask scheduler`` and two
``dask worker``s, tests/support/dask_cluster.py): students submit through nbgrader's exchange and every
submission is graded on a Dask worker, in the sandbox, with the scores of the class's path; a scheduler
and a worker SIGKILLed lose nothing and grade nothing twice.

One run (module fixture) serves every assertion. The scheduler is SIGKILLed as soon as the service
runs; then two submissions arrive (a notebook with only the activations answered that tries to read
what the sandbox hides, and a file that is not JSON) and wait in the journal until a scheduler and
two workers are back; the worker that takes the probe is SIGKILLed while it grades it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

from coursekit.authoring.samples import Sample, make_submission
from coursekit.config import load_config
from coursekit.grading.gradetable import grade_rows
from coursekit.service.journal import Journal, journal_path
from coursekit.service.watcher import feedback_page
from grader_tests.conftest import mirror_path, released_course
from grader_tests.test_feedback_and_report import page_text
from tests.support.classroom import stop_service, submit
from tests.support.dask_cluster import LoopbackCluster

#: Reads, from the grading kernel's folder (autograded/<student>/lab2), what the sandbox must hide.
PROBE = r'''
def _probe(name, path):
    try:
        open(path, "rb").read(16)
        print(f"PROBE {name}: OPEN")
    except OSError as _err:
        print(f"PROBE {name}: blocked ({type(_err).__name__})")
_probe("read-source", "../../../source/lab2/lab2.ipynb")
_probe("read-gradebook", "../../../gradebook.db")
_probe("read-other-student", "../../../submitted/reference/lab2/lab2.ipynb")
'''
PROBES = ("read-source", "read-gradebook", "read-other-student")
#: The probe fills in the activations only: their six tests' points (course.toml), nothing else.
AUTOGRADED_SCORES = {"probe": 3 + 3 + 4 + 4 + 4 + 4}
WAIT = 600  # seconds: the most any state below may take on a busy 2-core machine


@dataclass
class Run:
    config_path: Path
    address: str            # the scheduler's (started again on the same port)
    attempts: dict          # student -> their submission
    events: list[dict]      # the service's journal at the end
    workers: list[str]      # the two workers that graded
    killed: str             # the one SIGKILLed while it graded the probe
    stream: dict[str, str]  # key of each grading task the scheduler finished -> the worker that ran it
    waited: list[str]       # the kinds of event in the journal while no scheduler was there
    log: str


def wait_for(what: str, predicate, service: subprocess.Popen, timeout: float = WAIT):
    """Poll `predicate` until it returns something true; fail with `what` (or the service's exit) otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if service.poll() is not None:
            pytest.fail(f"the service exited ({service.returncode}) while waiting for {what}")
        time.sleep(0.1)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


def probe_notebook(release, source) -> bytes:
    nb = make_submission(release, source, Sample("probe", "the activations only, and a look around",
                                                 fill=frozenset({"activations"})))
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "activations")
    cell.source += "\n\n" + PROBE.strip() + "\n"
    return nbformat.writes(nb).encode()


@pytest.fixture(scope="module")
def served_on_dask(tmp_path_factory) -> Run:
    base = tmp_path_factory.mktemp("served-on-dask")
    env = {"COURSE_DATA_MIRROR": str(mirror_path()), "MPLBACKEND": "Agg"}
    with LoopbackCluster(base / "cluster", env) as cluster:
        cluster.add_workers(2)  # they start while the course is built
        config_path = released_course(base / "course", (("poll_seconds = 2", "poll_seconds = 0.5"),
                                                        ("due = 2026-12-14", "due = 2099-12-14")))
        config = load_config(config_path)
        release = nbformat.read(config.directory("release") / "lab2" / "lab2.ipynb", as_version=4)
        source = nbformat.read(config.directory("source") / "lab2" / "lab2.ipynb", as_version=4)
        workers = cluster.wait_for_workers(2)
        journal = Journal(journal_path(config, "lab2"))
        log = base / "service.log"
        said = lambda text: text in log.read_text(encoding="utf-8", errors="replace")
        homes = base / "homes"
        with log.open("a") as out:
            service = subprocess.Popen([sys.executable, "-m", "coursekit", "--config", str(config_path), "serve",
                                        "--scheduler", cluster.address], cwd=config_path.parent,
                                       env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT)
        try:
            wait_for("the service to start", lambda: said("journal "), service)
            # The scheduler goes away: submissions now wait in the journal, and are graded once one is back.
            cluster.kill_scheduler()
            wait_for("the service to say it lost the scheduler",
                     lambda: said("lost the connection to the Dask scheduler"), service)
            attempts = {"probe": submit(config, homes / "probe", "probe", "lab2",
                                        {"lab2.ipynb": probe_notebook(release, source)}),
                        "broken": submit(config, homes / "broken", "broken", "lab2",
                                         {"lab2.ipynb": b'{"cells": [ this is not json'})}
            wait_for("the service to see both", lambda: said("probe: new submission") and said("broken: new submission"),
                     service)
            waited = {e["event"] for e in journal.lines()}
            cluster.start_scheduler()
            cluster.client.get_task_stream()  # the scheduler records every task from now on
            cluster.add_workers(2)
            workers = cluster.wait_for_workers(2)
            # A worker dies while it grades the probe: Dask gives the task to the other worker.
            killed = wait_for("the probe's grading on a Dask worker", lambda: next(
                (w for w, keys in cluster.processing().items() if any(k.startswith("grade-probe-") for k in keys)),
                None), service)
            cluster.kill_worker(killed)
            names = {a.name for a in attempts.values()}
            wait_for("every submission's feedback",
                     lambda: {e["attempt"] for e in journal.lines() if e["event"] == "released"} >= names, service)
            stream = {str(e["key"]): e["worker"] for e in cluster.client.get_task_stream()}
        finally:
            stop_service(service)
    return Run(config_path, cluster.address, attempts, journal.lines(), workers, killed, stream, sorted(waited),
               log.read_text(encoding="utf-8", errors="replace"))


def test_every_submission_is_graded_on_a_dask_worker(served_on_dask):
    assert f"grading on the Dask cluster at {served_on_dask.address}; journal" in served_on_dask.log
    for student in ("probe", "broken"):
        ran_on = [w for key, w in served_on_dask.stream.items() if key.startswith(f"grade-{student}-")]
        assert len(ran_on) == 1 and ran_on[0] in served_on_dask.workers, (student, served_on_dask.stream)
    survivor = next(w for w in served_on_dask.workers if w != served_on_dask.killed)
    assert served_on_dask.stream[next(k for k in served_on_dask.stream if k.startswith("grade-probe-"))] == survivor


def test_a_lost_worker_and_a_lost_scheduler_lose_nothing_and_grade_nothing_twice(served_on_dask):
    counted: dict[str, list[str]] = {}
    for event in served_on_dask.events:
        counted.setdefault(event["attempt"], []).append(event["event"])
    assert set(counted) == {a.name for a in served_on_dask.attempts.values()}, "no submission unknown, none lost"
    for student, attempt in served_on_dask.attempts.items():
        events = counted[attempt.name]
        assert events.count("graded") == 1 and events.count("released") == 1, (student, events)
    assert served_on_dask.waited == ["received"], "kept, not graded, while no scheduler answered"
    log = served_on_dask.log
    assert log.index("probe: new submission") > log.index("lost the connection to the Dask scheduler")
    assert f"grading on the Dask cluster at {served_on_dask.address} again" in log[log.index("probe: new submission"):]


def test_the_dask_workers_grade_in_the_sandbox_with_the_class_paths_scores(served_on_dask):
    config = load_config(served_on_dask.config_path)
    _, rows = grade_rows(config, "lab2")
    autograded = {row["student"]: sum(v for gid, v in row["cells"].items() if v is not None and not gid.startswith("answer_q"))
                  for row in rows}
    assert autograded == AUTOGRADED_SCORES, "broken never reached nbgrader"
    graded = nbformat.read(config.directory("autograded") / "probe" / "lab2" / "lab2.ipynb", as_version=4)
    printed = "".join(o.get("text", "") for c in graded.cells for o in c.get("outputs", []))
    for name in PROBES:
        assert f"PROBE {name}: blocked" in printed, (name, printed[-2000:])
    text = page_text(feedback_page(config, served_on_dask.attempts["broken"], "lab2.ipynb"))
    assert "不是有效的笔记本文件" in text
