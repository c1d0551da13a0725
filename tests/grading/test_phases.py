"""coursekit.grading.phases: the phases of a submission's grading, their CPU time, and their log line."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from coursekit.grading import phases

#: Burns CPU until it has used `seconds` of it, says so, then waits for its stdin to close.
BUSY = ("import sys, time\nwhile time.process_time() < {seconds}: pass\nprint('done', flush=True)\n"
        "sys.stdin.read()")
has_children_files = pytest.mark.skipif(not Path(f"/proc/self/task/{threading.get_native_id()}/children").exists(),
                                        reason="this kernel has no /proc/<pid>/task/<tid>/children (CONFIG_PROC_CHILDREN)")


def test_a_phase_lapped_again_adds_up_and_keeps_its_place():
    clock = phases.PhaseClock()
    clock.lap("start")
    clock.lap("verdicts")
    sum(range(200_000))
    clock.lap("cell")
    first = clock.phases["verdicts"].wall
    clock.lap("verdicts")
    assert list(clock.phases) == ["start", "verdicts", "cell"]
    assert clock.phases["verdicts"].wall >= first
    assert all(p.wall >= 0 and p.cpu >= 0 for p in clock.phases.values())


def test_the_first_phase_starts_at_the_given_origin():
    import time
    clock = phases.PhaseClock(origin=time.time() - 5)
    assert clock.lap("launch").wall >= 5


def test_the_log_line_is_read_back_and_other_lines_are_ignored():
    clock = phases.PhaseClock()
    clock.lap("kernel start")
    clock.lap("trusted cell setup")
    log = "\n".join(["[AutogradeApp | INFO] Writing 88833 bytes", clock.line("grading process"),
                     f"{phases.PREFIX} not json", "Traceback (most recent call last):"])
    read = phases.parse(log)
    assert [p.name for p in read] == ["kernel start", "trusted cell setup"]
    assert read[0] == clock.phases["kernel start"]


def test_no_process_costs_nothing():
    assert phases.tree_cpu(None) == 0.0
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    assert phases.tree_cpu(int(dead.stdout)) == 0.0


@has_children_files
def test_the_cpu_of_a_process_tree_includes_its_childrens():
    """A parent that only waits, with a child that burns 0.3 s of CPU: the tree's CPU counts the child's."""
    child = BUSY.format(seconds=0.3)
    parent = subprocess.Popen([sys.executable, "-c", f"import subprocess, sys; subprocess.run([sys.executable, '-c', {child!r}])"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout.readline().strip() == "done"
        assert phases.tree_cpu(parent.pid) >= 0.3
    finally:
        parent.stdin.close()
        parent.wait()


def test_the_current_clock_is_the_one_started_for_the_submission(monkeypatch):
    monkeypatch.setattr(phases, "_current", None)
    assert phases.current() is None
    clock = phases.start_submission()
    assert phases.current() is clock
