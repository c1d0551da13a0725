"""coursekit.grading.worker: the grading process of one submission, forked from a server that has
imported nbgrader once. Here nbgrader runs in folders whose nbgrader_config.py reports where it
runs (and, for the time limit, never finishes), so no kernel is started."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from coursekit.grading import phases, worker

#: An nbgrader_config.py that says in which folder and environment nbgrader loaded it.
REPORTING = "import os\nprint('config loaded in', os.getcwd(), 'COURSE_TOML =', os.environ.get('COURSE_TOML'), flush=True)\n"
#: One that starts a process of its own, says its pid, and then never lets nbgrader go on.
HANGING = ("import subprocess, threading\nchild = subprocess.Popen(['sleep', '600'])\n"
           "print('helper', child.pid, flush=True)\nthreading.Event().wait()\n")


def request(tmp_path: Path, config: str) -> worker.Request:
    (tmp_path / "nbgrader_config.py").write_text(config)
    return worker.Request(str(tmp_path), "lab2", "ann", 1, {"COURSE_TOML": str(tmp_path / "course.toml")},
                          str(tmp_path / "ann.log"), time.time())


def read_until(path: Path, words: str, process: worker.Grading) -> str:
    """The log once it holds `words` (or the process has ended)."""
    while True:
        text = path.read_text() if path.exists() else ""
        if words in text or process.wait(0.05) is not None:
            return text


def test_nbgrader_runs_in_the_course_folder_with_the_jobs_environment_and_logs_there(tmp_path):
    job = request(tmp_path, REPORTING)
    process = worker.Grading(job)
    status = process.wait(120)
    log = Path(job.log).read_text()
    assert status not in (None, 0), "nbgrader fails: there is no assignment here"
    assert f"config loaded in {tmp_path} COURSE_TOML = {tmp_path / 'course.toml'}" in log
    recorded = [p.name for p in phases.parse(log)]
    assert recorded[0] == "grading process start" and "nbgrader: save grades, write notebook" in recorded


def test_the_time_limit_kills_the_process_and_everything_it_started(tmp_path):
    job = request(tmp_path, HANGING)
    process = worker.Grading(job)
    text = read_until(Path(job.log), "helper", process)
    assert "helper" in text, text[-2000:]
    helper = int(text.split("helper")[1].split()[0])
    assert process.wait(0.5) is None, "still running"
    process.kill()
    assert process.wait(10) is not None
    deadline = time.monotonic() + 10  # SIGKILL is delivered asynchronously: the helper goes within moments
    while alive(helper) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(helper), "the process nbgrader's side started went with it"


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_the_server_of_one_submission_does_not_import_torch():
    """For `coursekit grade --student S` the grading process imports torch itself while its kernel starts."""
    script = ("import sys; from coursekit.grading.worker import PRELOAD; import importlib; "
              "from coursekit.grading.zygote import course_modules; "
              "[importlib.import_module(name) for name in PRELOAD]; assert 'torch' not in sys.modules; "
              "parts = course_modules()[0]; assert parts, parts; "
              "[importlib.import_module(name) for name in parts]; assert 'torch' in sys.modules")
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]


def test_what_every_grading_process_imports_comes_with_the_server():
    """Looking up the sandbox's kernelspec and reviewing a cell with a magic import no new module
    (IPython's package and input transformer used to cost every grading process ≈ 0.2 s)."""
    script = """
import importlib, sys
from coursekit.grading.worker import PRELOAD
for name in PRELOAD:
    importlib.import_module(name)
before = set(sys.modules)
from jupyter_client.kernelspec import KernelSpecManager
KernelSpecManager().find_kernel_specs()
from coursekit.partkit.review import python_source
python_source('%matplotlib inline\\nx = 1')
new = sorted(m for m in set(sys.modules) - before if m.split('.')[0] in ('IPython', 'jupyter_client', 'nbformat'))
assert not new, new
"""
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]


def test_the_score_line_is_read_back():
    log = "[AutogradeApp | INFO] done\n[coursekit score] 72.5\n"
    assert worker.reported_score(log) == (True, 72.5)
    assert worker.reported_score("[coursekit score] null\n") == (True, None), "nbgrader stored no scores"
    assert worker.reported_score("[AutogradeApp | INFO] done\n") == (False, None), "not reported: ask the gradebook"
    assert worker.reported_score("[coursekit score] {broken\n") == (False, None)


def test_the_gradebook_check_runs_in_a_process_of_the_server(tmp_path, alembic_on_path):
    from coursekit.authoring.release import copy_course
    from coursekit.config import load_config
    from coursekit.grading.nbgrader_settings import open_gradebook
    config_path = copy_course(Path(__file__).resolve().parents[2], tmp_path, with_release=False)
    with open_gradebook(load_config(config_path)):
        pass  # a gradebook without the assignment, as `coursekit grade` finds it before `build`
    assert worker.assignment_registered(str(config_path), "lab2") is False, "no `build` yet"
    assert worker.assignment_registered(str(tmp_path / "missing.toml"), "lab2") is None, "cannot tell: None"
