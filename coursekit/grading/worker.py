"""The process that grades one submission: ``nbgrader autograde ASSIGNMENT --student=S --force``.

Each submission is still graded by a process of its own, exactly as before: nbgrader's
AutogradeApp with the course's nbgrader_config.py, in the course folder, in a session of its own
that is killed as a whole at the time limit, writing nbgrader's log to
``autograded/.coursekit-<assignment>-logs/<student>.log``. What changed is how that process
begins. A fresh ``python -m nbgrader`` spends ≈ 1.7 s of CPU importing nbgrader, and torch for the
judge, before it reads the submission; here one *server* process per class run imports all of
that once (:data:`PRELOAD` and the course's parts modules; for a run of one submission without them), and
every grading process is forked from it (``multiprocessing``'s forkserver). The server grades nothing and is never changed by a
submission, so every grading process starts from the same state, whatever was graded before.

In the grading process (:func:`grade`), the sandboxed kernel is launched first
(:func:`coursekit.grading.execute.prestart_kernel`), so its own start-up (Python, ipykernel,
torch) runs while the grading process imports what the server did not and nbgrader opens the
gradebook and sanitizes the submission; then nbgrader runs.
The phases of the submission (:mod:`coursekit.grading.phases`) end the log.

Where a process may not have children of its own (a daemonic Dask worker), the same
:func:`grade` runs in a fresh ``python -m coursekit.grading.worker`` instead.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
from dataclasses import asdict, dataclass

from coursekit.environment import ENV_CONFIG
from coursekit.grading.quickstart import defer_iri_grammars

#: What the server imports once, in this order (this module first: it defers the IRI grammars
#: before anything imports nbformat; see coursekit.grading.quickstart).
PRELOAD = ["coursekit.grading.worker", "nbgrader.apps.nbgraderapp", "nbgrader.converters.autograde",
           "nbgrader.preprocessors", "nbconvert.exporters.notebook", "jupyter_client.manager",
           "coursekit.grading.execute", "coursekit.partkit.review",
           "coursekit.grading.feedback", "sqlalchemy.dialects.sqlite",
           # jupyter_client's kernelspec lookup imports IPython (for IPython.paths), and the review its
           # input transformer: ≈ 0.2 s of every grading process when not preloaded.
           "IPython", "IPython.core.inputtransformer2"]


@dataclass(frozen=True)
class Request:
    """One submission for a grading process (plain data: it is pickled to the forked process)."""

    root: str               # the course folder (nbgrader runs there and reads its nbgrader_config.py)
    assignment: str
    student: str
    threads: int            # torch threads of the judge (the kernel gets the same through its env)
    env: dict[str, str]     # environment variables to set (COURSE_TOML, threads, the sandbox's)
    log: str                # where nbgrader's log goes
    launched: float         # time.time() when the coordinator launched it (the first phase starts there)


def grade(request: Request) -> None:
    """Grade one submission in this process (which must be a fresh one: it becomes nbgrader)."""
    try:
        os.setsid()  # its own process group: the time limit kills everything it started
    except OSError:
        pass  # already a session leader
    from coursekit.grading.sandbox import die_with_parent
    die_with_parent()
    log = os.open(request.log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    os.chdir(request.root)
    os.environ.update(request.env)
    from coursekit.grading import execute, phases
    clock = phases.start_submission(origin=request.launched)
    clock.lap("grading process start")
    execute.prestart_kernel()
    clock.lap("kernel launch")
    import torch  # preloaded by the server of a class; for one submission imported now, while the kernel starts
    torch.set_num_threads(request.threads)  # the judge's references: as many threads as the kernel's
    from nbgrader.apps.nbgraderapp import NbGraderApp
    try:
        NbGraderApp.launch_instance(argv=["autograde", request.assignment, f"--student={request.student}", "--force"])
    finally:
        clock.lap("nbgrader: save grades, write notebook")
        print(clock.line("grading process"), file=sys.stderr, flush=True)
    report_score(request)


#: Starts the log line with the submission's total score in the gradebook (``none``: nbgrader stored none).
SCORE_PREFIX = "[coursekit score]"


def report_score(request: Request) -> None:
    """Write the submission's score, as nbgrader stored it, into the log: the coordinator of a class run
    reads it there (:func:`reported_score`) and never imports nbgrader itself (≈ 1 s of CPU)."""
    from nbgrader.api import MissingEntry

    from coursekit.config import load_config
    from coursekit.grading.nbgrader_settings import open_gradebook
    try:
        with open_gradebook(load_config(request.env[ENV_CONFIG])) as gradebook:
            try:
                score = gradebook.find_submission(request.assignment, request.student).score
            except MissingEntry:
                score = None
    except Exception as err:  # the coordinator then reads the gradebook itself
        print(f"[coursekit] score not reported: {type(err).__name__}: {err}", file=sys.stderr, flush=True)
        return
    print(f"{SCORE_PREFIX} {json.dumps(score)}", file=sys.stderr, flush=True)


def reported_score(log: str) -> tuple[bool, float | None]:
    """(whether the grading process reported a score, the score or None when nbgrader stored none)."""
    for line in reversed(log.splitlines()):
        if line.startswith(SCORE_PREFIX):
            try:
                value = json.loads(line[len(SCORE_PREFIX):])
            except ValueError:
                break
            return True, float(value) if isinstance(value, (int, float)) else None
    return False, None


class Grading:
    """A running grading process: wait for it, or kill it with everything it started."""

    def __init__(self, request: Request) -> None:
        self._process: multiprocessing.process.BaseProcess | None = None
        self._popen: subprocess.Popen | None = None
        if multiprocessing.current_process().daemon:
            self._popen = subprocess.Popen([sys.executable, "-m", "coursekit.grading.worker",
                                            json.dumps(asdict(request))],
                                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                           stderr=subprocess.DEVNULL)
        else:
            self._process = _context().Process(target=grade, args=(request,), name=f"grade-{request.student}")
            self._process.start()

    @property
    def pid(self) -> int:
        return self._popen.pid if self._popen is not None else self._process.pid

    def wait(self, timeout: float) -> int | None:
        """The exit status, or None if it is still running after ``timeout`` seconds."""
        if self._popen is not None:
            try:
                return self._popen.wait(timeout)
            except subprocess.TimeoutExpired:
                return None
        self._process.join(timeout)
        return self._process.exitcode

    def kill(self) -> None:
        """SIGKILL its process group (itself, the kernel launcher and what they started)."""
        for target in (lambda: os.killpg(self.pid, signal.SIGKILL), lambda: os.kill(self.pid, signal.SIGKILL)):
            try:
                target()
            except (ProcessLookupError, PermissionError):
                continue
        if self._popen is not None:
            self._popen.wait()
        else:
            self._process.join()


def _context(preload: list[str] | None = None):
    """The forkserver context; `preload` counts only before the server has started (by :func:`warm_up`)."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(preload or PRELOAD)
    return context


def warm_up(submissions: int | None = None) -> None:
    """Start the server now (it imports for a second or two), while the coordinator does its own checks.
    It imports :data:`PRELOAD` and, for a class, the course's parts modules (which import torch). For one
    submission (``submissions == 1``) only :data:`PRELOAD`: one grading process importing torch itself
    costs nothing extra, and the server is ready (and the kernel launched) about a second sooner."""
    if not multiprocessing.current_process().daemon:
        from coursekit.grading.zygote import course_modules
        _context(PRELOAD if submissions == 1 else PRELOAD + course_modules()[0])
        from multiprocessing import forkserver
        forkserver.ensure_running()


def assignment_registered(course_toml: str, assignment: str) -> bool | None:
    """:func:`coursekit.grading.nbgrader_settings.assignment_built`, asked of a process forked from the server
    (which imported nbgrader), for its ``ask``: the coordinator of a class run never imports nbgrader itself
    (≈ 1 s of CPU while the server and the kernel zygote import theirs). None when the question could not be asked."""
    if multiprocessing.current_process().daemon:
        return None
    process = _context().Process(target=_check_assignment, args=(course_toml, assignment), name="gradebook-check")
    process.start()
    process.join()
    return {0: True, 3: False}.get(process.exitcode)


def _check_assignment(course_toml: str, assignment: str) -> None:
    try:
        os.chdir(os.path.dirname(os.path.abspath(course_toml)))  # the server's folder may be gone by now
        from coursekit.config import load_config
        from coursekit.grading.nbgrader_settings import assignment_built
        known = assignment_built(load_config(course_toml), assignment)
    except Exception as err:  # the coordinator asks again itself and says what is wrong
        print(f"[coursekit] the grading server could not read the gradebook ({type(err).__name__}: {err}); "
              f"asking it directly", file=sys.stderr, flush=True)
        os._exit(1)
    os._exit(0 if known else 3)


def main() -> None:
    grade(Request(**json.loads(sys.argv[1])))


defer_iri_grammars()  # this module is the server's first import: before nbformat, wherever it is imported

if __name__ == "__main__":
    main()
