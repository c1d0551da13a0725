"""Grade a whole class with nbgrader: in parallel, on a Dask cluster, sandboxed, resumable.

``coursekit grade ASSIGNMENT`` runs ``nbgrader autograde ASSIGNMENT --student=S --force`` once
per submission, each in a grading process of its own (:mod:`coursekit.grading.worker`: forked
from a server that imported nbgrader and torch once per run). nbgrader executes, scores and
stores everything; this module runs the class (:func:`grade_class`; the command line only prints
what it reports), decides what runs where and keeps the books:

* **checks first**: a missing, renamed, empty, non-JSON or other-assignment notebook is reported
  with its reason without starting nbgrader (:func:`precheck`);
* **workers**: ``[grading] workers`` grading processes at once (threads here, or tasks on the
  Dask scheduler named by ``[grading] dask_scheduler`` / ``--scheduler``): the executors
  :class:`LocalWorkers` and :class:`DaskCluster`, which ``coursekit serve`` uses too. Every kernel computes
  with the grading profile's ``threads`` (:func:`grading_threads`), whatever the machine and the
  number of workers, so a submission's numbers, and so its marks, never depend on who graded it;
* **the gradebook**: SQLite in WAL mode with a busy timeout (set by nbgrader_settings), so
  parallel writers wait for each other instead of failing; any SQLAlchemy URL from course.toml
  (PostgreSQL) works the same way;
* **a journal** (``autograded/.coursekit-<assignment>-journal.jsonl``): one line per finished
  submission with a digest of its files. A run that was killed is finished by running the command
  again: submissions already in the journal with the same files are skipped. ``--force`` regrades;
* **limits**: each submission has ``[grading] notebook_timeout`` seconds; its kernel runs in a
  bubblewrap sandbox of its own (:mod:`coursekit.grading.sandbox`) unless ``[sandbox] enabled =
  false``, forked there from the run's kernel zygote (:mod:`coursekit.grading.zygote`);
* **phases**: the wall and CPU time of each phase of a submission end its log
  (:mod:`coursekit.grading.phases`; ``benchmarks/grading_phases.py`` sums them up).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import nbformat

from coursekit.config import CourseConfig, load_config
from coursekit.environment import ENV_CONFIG, ENV_EXECUTION, ENV_PROFILE, ENV_THREADS


class GradingError(RuntimeError):
    """The class run cannot start; the message says why and what to do."""


@dataclass(frozen=True)
class Job:
    """One submission to grade. Plain data, so that it can travel to a Dask worker."""

    course_toml: str
    assignment: str
    student: str
    threads: int
    sandbox: bool
    zygote: str = ""    # the socket of the run's kernel zygote (coursekit.grading.zygote), if it has one


@dataclass
class Outcome:
    """What became of one submission.

    Attributes:
        student: the student id (folder name under submitted/).
        status: ``graded`` (nbgrader stored its scores) or ``failed`` (it could not be graded).
        seconds: wall time spent on it, checks and nbgrader included.
        reason: why it failed, in one line; empty when graded.
        digest: SHA-256 of the submission's files when it was graded (for resuming).
        score: total score from the gradebook (filled in by the coordinator), or None.
    """

    student: str
    status: str
    seconds: float
    reason: str = ""
    digest: str = ""
    score: float | None = field(default=None)


# --- checks before nbgrader -------------------------------------------------------------------

def submission_digest(folder: Path) -> str:
    """SHA-256 over the names and contents of every file of a submission."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode() + b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def answer_cell_ids(config: CourseConfig, assignment: str) -> set[str]:
    """grade_ids of the assignment's solution cells (from the released notebook)."""
    release = config.directory("release") / assignment / config.assignment(assignment).notebook
    nb = nbformat.read(release, as_version=4)
    return {c.metadata["nbgrader"]["grade_id"] for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("solution")}


def precheck(config: CourseConfig, assignment: str, student: str, answer_ids: set[str]) -> str | None:
    """Why this submission cannot be graded, or None when nbgrader should grade it."""
    folder = config.directory("submitted") / student / assignment
    name = config.assignment(assignment).notebook
    path = folder / name
    if not path.is_file():
        others = sorted(p.name for p in folder.glob("*.ipynb"))
        if others:
            return (f"没有找到 {name}，但有 {', '.join(others)}：笔记本被改名了。"
                    f"请把它改回 {name} 后重新提交 (no {name}; found {', '.join(others)}).")
        return f"提交里没有 {name}（submission has no {name}）。"
    raw = path.read_bytes()
    if not raw.strip():
        return f"{name} 是空文件（0 字节）：请重新保存笔记本后提交 ({name} is empty)."
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        return f"{name} 不是有效的笔记本文件（JSON 错误：{err}）；请在 Jupyter 中打开并重新保存后提交。"
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        return f"{name} 不是 Jupyter 笔记本（缺少 cells 列表）。"
    ids = {c.get("metadata", {}).get("nbgrader", {}).get("grade_id") for c in data["cells"] if isinstance(c, dict)}
    if answer_ids and not answer_ids & ids:
        return (f"{name} 中没有本次作业的任何答题单元格（{', '.join(sorted(answer_ids))}）："
                f"看起来是另一份作业的笔记本 (a notebook of another assignment).")
    return None


# --- one submission (runs in a worker) --------------------------------------------------------

def kernel_environment(config: CourseConfig, threads: int) -> dict[str, str]:
    """The whole environment of a sandboxed grading kernel."""
    from coursekit.grading.sandbox import SANDBOX_HOME
    python_bin = str(Path(sys.executable).parent)
    home = SANDBOX_HOME
    env = {"PATH": f"{python_bin}:/usr/local/bin:/usr/bin:/bin", "HOME": home, "TMPDIR": home, "USER": "student",
           "LANG": "C.UTF-8", ENV_EXECUTION: "autograde", ENV_CONFIG: str(config.path),
           "MPLCONFIGDIR": f"{home}/matplotlib", "IPYTHONDIR": f"{home}/ipython",
           "JUPYTER_RUNTIME_DIR": f"{home}/jupyter",
           "PYTHONDONTWRITEBYTECODE": "1", ENV_THREADS: str(threads)}
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[name] = str(threads)
    if os.environ.get(ENV_PROFILE):
        env[ENV_PROFILE] = os.environ[ENV_PROFILE]
    return env


def nbgrader_reason(log: str) -> str:
    """The most telling line of a failed nbgrader run's log: the last exception, else the last error."""
    import re

    from coursekit.grading.phases import PREFIX
    lines = [line.strip() for line in log.splitlines() if line.strip() and not line.startswith(PREFIX)]
    for line in reversed(lines):  # the grader's own failure on a part says more than nbgrader's summary
        if re.match(r"^[\w.]*GraderError\b.*:", line):
            return line[:300]
    for line in reversed(lines):
        if re.match(r"^[\w.]+(Error|Exception|Exit)\b.*:", line):
            return line[:300]
    for line in reversed(lines):
        if "ERROR" in line or "CRITICAL" in line:
            return line[:300]
    return lines[-1][:300] if lines else "nbgrader failed without a message"


def _course_paths(config: CourseConfig, assignment: str) -> tuple[list[str], list[str]]:
    """The course's folders the sandbox shows the kernel, and those it shows empty."""
    from coursekit.partkit.part import declared_paths
    reference = getattr(config.assignment(assignment), "parts", "")
    return declared_paths(reference) if reference else ([], [])


def grade_submission(job: Job) -> Outcome:
    """Check one submission and have a grading process (:mod:`coursekit.grading.worker`) run
    nbgrader autograde on it; never raises for a bad submission."""
    from coursekit.grading import phases, worker
    started = time.perf_counter()
    clock = phases.PhaseClock()
    config = load_config(job.course_toml)
    folder = config.directory("submitted") / job.student / job.assignment
    digest = submission_digest(folder) if folder.is_dir() else ""
    reason = precheck(config, job.assignment, job.student, answer_cell_ids(config, job.assignment))
    if reason:
        return Outcome(job.student, "failed", time.perf_counter() - started, reason, digest)
    env = {ENV_CONFIG: str(config.path), ENV_THREADS: str(job.threads),
           "OMP_NUM_THREADS": str(job.threads), "MKL_NUM_THREADS": str(job.threads)}
    private = None
    if job.sandbox:
        from coursekit.grading import sandbox
        package = str(Path(__file__).resolve().parents[1])
        course_folders, hidden = _course_paths(config, job.assignment)
        private, extra = sandbox.prepare(
            f"{job.assignment}-{job.student}-{os.getpid()}-{time.monotonic_ns()}",
            memory_mb=config.memory_limit_mb, max_processes=config.sandbox.max_processes,
            max_file_mb=config.sandbox.max_file_mb, tmp_mb=config.sandbox.tmp_mb,
            # the data folder only where the course has one (an assignment may need no data)
            read_only=[*([str(config.data_root)] if config.data_root.exists() else []), str(config.path), package,
                       *course_folders],
            env=kernel_environment(config, job.threads),
            masked=hidden,  # what the course's assignment hides while grading (Assignment.hidden_paths)
            workdir=str(config.directory("autograded") / job.student / job.assignment), zygote=job.zygote)
        env.update(extra)
    log_path = log_folder(config, job.assignment) / f"{job.student}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_path.write_text("", encoding="utf-8")  # an earlier run's log must never speak for this one
    clock.lap("coordinator: checks, sandbox")
    timed_out = False
    try:
        process = worker.Grading(worker.Request(str(config.root), job.assignment, job.student, job.threads, env,
                                                str(log_path), time.time()))
        status = process.wait(config.notebook_timeout)
        if status is None:
            timed_out = True
            process.kill()
        clock.lap("grading process (see its phases)")
    finally:
        if private is not None:
            from coursekit.grading import sandbox
            sandbox.cleanup(private)
    log = log_path.read_text(encoding="utf-8", errors="replace") if log_path.is_file() else ""
    clock.lap("coordinator: sandbox cleanup, log")
    with open(log_path, "a", encoding="utf-8") as handle:
        handle.write(clock.line("coordinator") + "\n")
    if timed_out:
        return Outcome(job.student, "failed", time.perf_counter() - started,
                       f"评分超过了 {config.notebook_timeout} 秒（course.toml grading.notebook_timeout），已停止 "
                       f"(stopped after {config.notebook_timeout} s).", digest)
    if status != 0:
        reason = nbgrader_reason(log) if log.strip() else (
            f"评分进程在写日志之前就结束了 (the grading process ended with status {status} before writing its log).")
        return Outcome(job.student, "failed", time.perf_counter() - started, reason, digest)
    reported, score = worker.reported_score(log)
    if reported and score is None:
        return Outcome(job.student, "failed", time.perf_counter() - started, NO_SCORES, digest)
    return Outcome(job.student, "graded", time.perf_counter() - started, "", digest, score)


# --- the class ---------------------------------------------------------------------------------

def log_folder(config: CourseConfig, assignment: str) -> Path:
    """Where nbgrader's log of each submission's last grading is kept (one file per student)."""
    return config.directory("autograded") / f".coursekit-{assignment}-logs"


def journal_path(config: CourseConfig, assignment: str) -> Path:
    return config.directory("autograded") / f".coursekit-{assignment}-journal.jsonl"


def read_journal(config: CourseConfig, assignment: str) -> dict[str, Outcome]:
    """The last journal entry of every student (a torn last line from a kill is ignored)."""
    path = journal_path(config, assignment)
    entries: dict[str, Outcome] = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                entry = Outcome(**json.loads(line))
            except (json.JSONDecodeError, TypeError):
                continue
            entries[entry.student] = entry
    return entries


def append_journal(config: CourseConfig, assignment: str, outcome: Outcome) -> None:
    path = journal_path(config, assignment)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(asdict(outcome), ensure_ascii=False) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


@contextlib.contextmanager
def class_lock(config: CourseConfig) -> Iterator[None]:
    """Only one class run per course at a time (the lock goes with the process, even on SIGKILL)."""
    path = config.root / ".coursekit-grading.lock"
    handle = open(path, "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise GradingError(f"another `coursekit grade` is running in {config.root} (lock {path}); "
                           f"wait for it to finish.") from None
    try:
        yield
    finally:
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


def already_done(config: CourseConfig, assignment: str, student: str, entry: Outcome | None) -> bool:
    """Whether the journal says this submission, as it is now, was finished by an earlier run."""
    if entry is None:
        return False
    folder = config.directory("submitted") / student / assignment
    if not folder.is_dir() or submission_digest(folder) != entry.digest:
        return False
    if entry.status == "failed":
        return True
    notebook = config.directory("autograded") / student / assignment / config.assignment(assignment).notebook
    return notebook.is_file()


def plan(config: CourseConfig, assignment: str, students: list[str] | None, force: bool
         ) -> tuple[list[str], dict[str, Outcome]]:
    """(students to grade now, students finished by an earlier run with their journal entries)."""
    submitted = config.directory("submitted")
    if not students:
        students = sorted(p.name for p in submitted.iterdir() if (p / assignment).is_dir()) if submitted.is_dir() else []
    if not students:
        raise GradingError(f"no submissions of '{assignment}' in {submitted}: run `nbgrader collect {assignment}` "
                           f"(or `python -m coursekit samples`) first.")
    journal = {} if force else read_journal(config, assignment)
    done = {s: journal[s] for s in students if already_done(config, assignment, s, journal.get(s))}
    return [s for s in students if s not in done], done


def longest_first(config: CourseConfig, assignment: str, students: list[str]) -> list[str]:
    """The students in the order to grade them: the longest gradings first, so that with several
    workers fewer cores sit idle at the end while one long submission finishes alone.

    How long a submission takes is what the journal says its last grading took (a regrade); one
    never graded goes first (it may be long). Ties keep the students' order. Which worker grades
    what, and when, never changes a mark.
    """
    journal = read_journal(config, assignment)
    return sorted(students, key=lambda s: journal[s].seconds if s in journal else float("inf"), reverse=True)


def grading_threads(config: CourseConfig) -> int:
    """torch/BLAS threads of every grading kernel: the grading profile's ``threads`` (at least 1).

    Fixed on purpose. Float sums come out in a different order with a different number of
    threads, and 30 epochs of training turn that into visibly different losses (the partial
    sample's dropout loss gap, for one, changes with the thread count). A mark on a
    threshold must not depend on how many cores the grading machine has or how many workers
    share them; parallelism comes from the workers instead (``[grading] workers = 0`` gives
    cores ÷ threads of them). The student's Validate runs the same profile with the same threads.
    """
    return max(1, config.profiles["grading"].threads)


@contextlib.contextmanager
def kernel_zygote(config: CourseConfig, threads: int) -> Iterator[str]:
    """The socket of a kernel zygote for this run (:mod:`coursekit.grading.zygote`), or "" without the
    sandbox (nbgrader then starts its kernels itself). The zygote ends with the block."""
    if not config.sandbox.enabled:
        yield ""
        return
    from coursekit.grading.zygote import Zygote
    with Zygote(kernel_environment(config, threads)) as zygote:
        yield zygote.socket


# --- the class run --------------------------------------------------------------------------------

@dataclass(frozen=True)
class RunOptions:
    """How ``coursekit grade`` asks for a class run (each left out: course.toml's, or everyone)."""

    students: tuple[str, ...] = ()  # only these students (none: every student with a submission)
    workers: int | None = None      # submissions graded at once on this machine
    scheduler: str | None = None    # the address of a Dask scheduler to grade on instead
    force: bool = False             # regrade submissions that an earlier run finished


@dataclass
class ClassResult:
    """What a class run reports: an outcome per submission (this run's and an earlier run's) and the
    assignment's points."""

    outcomes: list[Outcome]
    total: float

    @property
    def failures(self) -> dict[str, str]:
        """student -> why the submission could not be graded."""
        return {o.student: o.reason for o in self.outcomes if o.status != "graded"}

    def table(self) -> str:
        return summary_table(self.outcomes, self.total)


#: Told every line of a class run's progress, with how far the run is: (line, submissions finished in
#: this run, submissions it grades). The first line (0 finished) says what the run grades, how and where.
Progress = Callable[[str, int, int], None]


def not_built(assignment: str) -> GradingError:
    return GradingError(f"the gradebook has no assignment '{assignment}' yet: run `python -m coursekit build "
                        f"{assignment}` first (it registers the assignment's test cells and due date with nbgrader).")


def check_settings(config: CourseConfig, assignment: str) -> None:
    """GradingError, naming the key, when an override in ``[assignments.<name>.settings]`` is not a setting
    its part can take (the course's parts are imported only when there are overrides)."""
    if not config.assignment(assignment).settings:
        return
    from coursekit.grading.judge import assignment_parts
    from coursekit.partkit.settings import SettingError
    try:
        assignment_parts(config, assignment)
    except SettingError as err:
        raise GradingError(f"course.toml: {err}") from None


def ready_to_grade(config: CourseConfig, assignment: str, ask: Callable[[], bool | None] | None = None) -> None:
    """What grading needs before it starts (a class run and ``coursekit serve``): the assignment in the
    gradebook (:func:`coursekit.grading.nbgrader_settings.assignment_built`, which ``ask`` is handed to),
    bubblewrap (unless the sandbox is off), the settings course.toml overrides (each a setting of its part),
    the assignment's data (its provision hook), the gradebook in WAL mode."""
    from coursekit.grading.nbgrader_settings import assignment_built, enable_wal
    from coursekit.grading.sandbox import SandboxError, bwrap_path
    from coursekit.partkit.part import provision_data

    if not assignment_built(config, assignment, ask):
        raise not_built(assignment)
    check_settings(config, assignment)
    if config.sandbox.enabled:
        try:
            bwrap_path()
        except SandboxError as err:
            raise GradingError(str(err)) from None
    provision_data(config, [assignment])  # the kernels read the assignment's data, they cannot fetch it
    enable_wal(config)


def grade_class(config: CourseConfig, assignment: str, options: RunOptions, progress: Progress) -> ClassResult:
    """Grade the class's submissions of ``assignment`` (``coursekit grade``): those an earlier run finished
    are skipped unless ``options.force``; the journal, the scores in the gradebook and the record of
    failures are kept up to date. Raises GradingError when the run cannot start."""
    from coursekit.grading import worker
    from coursekit.grading.nbgrader_settings import assignment_built

    scheduler = options.scheduler or config.dask_scheduler
    threads = grading_threads(config)
    if not scheduler and assignment_built(config, assignment, nbgrader=False) is False:
        raise not_built(assignment)  # a SQLite gradebook says so at once: no zygote or server started for nothing
    with contextlib.ExitStack() as run:
        if scheduler:  # on a Dask cluster kernels start by themselves
            zygote = ""
            ready_to_grade(config, assignment)
        else:
            # First, while this process runs its checks: a kernel zygote (coursekit.grading.zygote) imports
            # what every grading kernel imports, once, and the grading processes' server imports nbgrader
            # (and torch, for a class); the gradebook is then asked by a process of that server.
            zygote = run.enter_context(kernel_zygote(config, threads))
            worker.warm_up(len(options.students) if options.students else None)
            ready_to_grade(config, assignment,
                           lambda: worker.assignment_registered(str(config.path), assignment))
        outcomes = _grade_planned(config, assignment, options, scheduler, threads, zygote, progress)
    fill_scores(config, assignment, outcomes)
    result = ClassResult(outcomes, float(sum(config.assignment(assignment).points.values())))
    from coursekit.grading.report import record_grading_failures
    record_grading_failures(config, assignment, [o.student for o in outcomes if o.status == "graded"],
                            result.failures)
    return result


def _grade_planned(config: CourseConfig, assignment: str, options: RunOptions, scheduler: str | None,
                   threads: int, zygote: str, progress: Progress) -> list[Outcome]:
    """Under the class lock: plan the run, grade what is to grade, journal each outcome as it comes."""
    workers = options.workers or config.workers
    with class_lock(config):
        todo, done = plan(config, assignment, list(options.students), options.force)
        todo = longest_first(config, assignment, todo)
        where = where_graded(scheduler, workers)
        sandboxed = "in the bubblewrap sandbox" if config.sandbox.enabled else "WITHOUT a sandbox"
        progress(f"grading {len(todo)} submission(s) of '{assignment}' {where}, {sandboxed}"
                 + (f"; {len(done)} already graded by an earlier run (--force regrades them)" if done else ""),
                 0, len(todo))
        # The same threads everywhere (the grading profile's): marks never depend on the machine.
        jobs = [Job(str(config.path), assignment, student, threads, config.sandbox.enabled, zygote) for student in todo]
        # Their scores as the gradebook has them now (a TA may have graded by hand since).
        outcomes = [replace(o, score=None) for o in done.values()]
        finished = 0

        def on_done(outcome: Outcome) -> None:
            nonlocal finished
            append_journal(config, assignment, outcome)
            outcomes.append(outcome)
            finished += 1
            detail = f"graded in {outcome.seconds:.1f} s" if outcome.status == "graded" else \
                f"could not be graded: {outcome.reason}"
            progress(f"{outcome.student}: {detail}", finished, len(jobs))

        if scheduler:
            run_dask(jobs, scheduler, on_done)
        else:
            run_local(jobs, workers, on_done)
    return outcomes


# --- where submissions are graded: the executors ------------------------------------------------
#
# ``coursekit grade`` and ``coursekit serve`` hand their jobs to one of these two, and to nothing else:
# each takes a Job and gives back a concurrent.futures.Future of its Outcome, and says how many
# submissions it grades at once (``capacity``). A future fails only with a GradingError that says
# what went wrong where (a bad submission is an Outcome, never an exception).

def where_graded(scheduler: str | None, workers: int) -> str:
    """Where a run grades, in the words of its first line: "with 2 worker(s)", "on the Dask cluster at ADDRESS"."""
    return f"on the Dask cluster at {scheduler}" if scheduler else f"with {workers} worker(s)"


#: Seconds a Dask client waits for its scheduler (connecting, and reconnecting after losing it).
DASK_CONNECT_TIMEOUT = 20


class LocalWorkers:
    """``workers`` submissions graded at once on this machine, each by a grading process of its own."""

    def __init__(self, workers: int) -> None:
        if workers < 1:
            raise GradingError(f"the number of grading workers must be at least 1, not {workers}")
        self.workers = workers
        self.where = where_graded(None, workers)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="grade")

    def capacity(self) -> int:
        return self.workers

    def submit(self, job: Job) -> Future:
        return self._pool.submit(_grade_here, job)

    def close(self) -> None:
        """Wait for the gradings that started; those not started are dropped (their journal says so)."""
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> LocalWorkers:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _grade_here(job: Job) -> Outcome:
    return grade_submission(job)  # looked up at each call: the module's grade_submission as it is now


class DaskCluster:
    """Submissions graded as tasks on the Dask scheduler at ``address`` (its workers see the course folder).

    Each task is :func:`grade_submission` itself, run in the worker's process: the same checks, sandbox
    and limits as on this machine. A worker lost mid-grading is Dask's to handle (the scheduler gives the
    task to another worker); a scheduler lost, or a task whose workers kept dying, fails the future with
    a GradingError, and the caller keeps the submission to grade again. After a lost scheduler the next
    call connects anew.
    """

    def __init__(self, address: str, connect_timeout: float = DASK_CONNECT_TIMEOUT) -> None:
        from coursekit.config import MissingExtra, require_extra
        try:
            self._distributed = require_extra("distributed", "grading on a Dask cluster")
        except MissingExtra as err:
            raise GradingError(str(err)) from err
        self.address = address
        self.where = where_graded(address, 0)
        self._timeout = connect_timeout
        self._lock = threading.Lock()
        self._client = None
        self._running: dict[str, object] = {}  # key -> its Dask future, held until it settles (Dask drops unheld ones)
        self._client_now()

    def _client_now(self):
        """The connected client: a new one when there is none or the last one gave up on its scheduler."""
        with self._lock:
            client = self._client
            if client is not None and client.status == "connecting":
                raise GradingError(f"lost the connection to the Dask scheduler at {self.address}; reconnecting")
            if client is None or client.status != "running":
                if client is not None:
                    with contextlib.suppress(Exception):  # a client that already gave up closes with an error
                        client.close(timeout=1)
                self._client = None
                try:
                    self._client = self._distributed.Client(self.address, timeout=f"{self._timeout}s",
                                                            set_as_default=False)
                except (OSError, TimeoutError) as err:
                    raise GradingError(f"cannot reach the Dask scheduler at {self.address}: {err} (is `dask "
                                       f"scheduler` running there? course.toml [grading] dask_scheduler or "
                                       f"--scheduler names it)") from None
            return self._client

    def capacity(self) -> int:
        """How many submissions the cluster grades at once now: its workers' threads (0: no worker)."""
        client = self._client_now()
        try:
            return sum(client.nthreads().values())
        except (OSError, TimeoutError) as err:
            raise GradingError(f"lost the connection to the Dask scheduler at {self.address}: {err}") from None

    def submit(self, job: Job) -> Future:
        client = self._client_now()
        key = f"grade-{job.student}-{time.time_ns()}"
        future: Future = Future()
        future.set_running_or_notify_cancel()
        try:
            remote = client.submit(grade_submission, job, pure=False, key=key)
        except (OSError, TimeoutError) as err:
            raise GradingError(f"lost the connection to the Dask scheduler at {self.address}: {err}") from None
        self._running[key] = remote
        remote.add_done_callback(lambda done: self._settle(key, job, done, future))
        return future

    def _settle(self, key: str, job: Job, done, future: Future) -> None:
        """Runs in Dask's callback thread once the task has finished, failed or been cancelled."""
        self._running.pop(key, None)
        try:
            future.set_result(done.result())
        except CancelledError as err:  # distributed's FutureCancelledError: the scheduler went away
            future.set_exception(GradingError(
                f"lost the Dask scheduler at {self.address} while grading {job.student}'s submission ({err})"
                .replace("\n", " ")))
        except self._distributed.KilledWorker as err:
            future.set_exception(GradingError(
                f"the Dask workers that took {job.student}'s submission kept dying ({err}); see their logs"))
        except Exception as err:  # the task itself raised: a fault of the grader, reported as it is
            future.set_exception(err)

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):  # closing a client whose scheduler is gone may complain
                client.close()

    def __enter__(self) -> DaskCluster:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


Executor = LocalWorkers | DaskCluster


def run_jobs(executor: Executor, jobs: list[Job], on_done: Callable[[Outcome], None]) -> None:
    """Hand every job to `executor`; `on_done` each outcome as it comes (any order)."""
    futures = [executor.submit(job) for job in jobs]
    for future in as_completed(futures):
        on_done(future.result())


def run_local(jobs: list[Job], workers: int, on_done: Callable[[Outcome], None]) -> None:
    with LocalWorkers(workers) as executor:
        run_jobs(executor, jobs, on_done)


def run_dask(jobs: list[Job], address: str, on_done: Callable[[Outcome], None]) -> None:
    """Send each job to the Dask cluster at `address` (its workers must see the course folder)."""
    with DaskCluster(address) as executor:
        run_jobs(executor, jobs, on_done)


NO_SCORES = "nbgrader finished but stored no scores"


def fill_scores(config: CourseConfig, assignment: str, outcomes: list[Outcome]) -> None:
    """The total score of each graded outcome that has none yet, read from nbgrader's gradebook (a
    grading process reports its submission's score itself, so a class run usually opens nothing here)."""
    missing = [o for o in outcomes if o.status == "graded" and o.score is None]
    if not missing:
        return
    from nbgrader.api import MissingEntry

    from coursekit.grading.nbgrader_settings import open_gradebook
    with open_gradebook(config) as gradebook:
        for outcome in missing:
            try:
                outcome.score = gradebook.find_submission(assignment, outcome.student).score
            except MissingEntry:
                outcome.status, outcome.reason = "failed", NO_SCORES


def summary_table(outcomes: list[Outcome], total: float) -> str:
    """The table printed at the end: student, score, time, status, reason."""
    rows = [("student", "score", "time", "status", "reason")]
    for o in sorted(outcomes, key=lambda o: o.student):
        score = f"{o.score:g}/{total:g}" if o.score is not None else "-"
        rows.append((o.student, score, f"{o.seconds:.1f} s", o.status, o.reason))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:4])) + "  " + row[4] for row in rows]
    return "\n".join(line.rstrip() for line in lines)
