"""The grading service: watch the exchange, grade each submission the class's way, release its feedback.

:class:`GradingService` polls the exchange every ``[service] poll_seconds``, writes every new
submission into the journal, asks :mod:`coursekit.service.schedule` what to do and does it, each
task on a thread of its own. Gradings go to the executor ``coursekit grade`` uses
(:class:`coursekit.grading.classgrade.LocalWorkers`: ``[grading] workers`` at once on this machine, or
:class:`~coursekit.grading.classgrade.DaskCluster`: as many at once as the cluster's workers have
threads); a submission starts grading only when the executor has room, so those waiting stay in the
journal, where a newer submission of the same student can still replace them:

* **grade**: nbgrader's collect (the submission that counts goes into submitted/), then exactly the
  class-grading path — :func:`coursekit.grading.classgrade.grade_submission` run by the executor
  (checks, sandbox, limits, nbgrader autograde with the course's verdicts, the gradebook), then here
  the class journal, the scores and the failures file — then the feedback: nbgrader's generate_feedback with the
  policy's steps (or, for a submission that could not be graded, the page with the reason), and
  nbgrader's release_feedback to that submission. Under ``counts = "best"``, a lower score than the
  student's best puts the best back into the gradebook afterwards (graded again, the same way);
* **defer / supersede / not_counted**: a page for that submission (:mod:`coursekit.service.notices`), released.

Every step's outcome is in the journal before the next begins, so a restart after SIGKILL
continues where the service stopped: nothing graded is graded again, nothing is lost. The same holds
for a Dask scheduler that goes away: the gradings it had fail with a message saying so, their
submissions stay in the journal and are graded again (after ``RETRY_BASE`` seconds) once it answers.
"""

from __future__ import annotations

import datetime as dt
import shutil
import sys
import threading
import traceback
from collections.abc import Callable

from coursekit.config import CourseConfig
from coursekit.grading import classgrade
from coursekit.service import notices
from coursekit.service.journal import Journal, Record, journal_path, now_utc, service_folder
from coursekit.service.policy import best_of, feedback_mode, feedback_steps
from coursekit.service.schedule import Task, plan
from coursekit.service.steps import NbgraderSteps
from coursekit.service.watcher import Attempt, feedback_page, inbound_folder, scan

#: Seconds before a task that raised is tried again (doubled each time, at most an hour).
RETRY_BASE = 30


_SAY = threading.Lock()


def say(message: str) -> None:
    with _SAY:  # whole lines, whichever worker speaks
        print(f"[coursekit serve] {now_utc().strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


class GradingService:
    """One assignment's grading service (see the module's docstring)."""

    def __init__(self, config: CourseConfig, assignment: str, executor: classgrade.Executor,
                 clock: Callable[[], dt.datetime] = now_utc, zygote: str = "") -> None:
        """``executor``: where submissions are graded (the caller opens and closes it); ``zygote``: the socket
        of a kernel zygote (coursekit.grading.zygote) living as long as the service ("" on a Dask cluster)."""
        self.config = config
        self.zygote = zygote
        self.assignment = assignment
        self.notebook = config.assignment(assignment).notebook
        self.due = config.assignment(assignment).due
        self.executor = executor
        self.clock = clock
        self.journal = Journal(journal_path(config, assignment))
        self.folder = service_folder(config, assignment)
        self.steps = NbgraderSteps(config)
        self.threads = classgrade.grading_threads(config)
        self._books = threading.Lock()        # the class journal and the failures file
        self._busy: set[str] = set()          # students with a task queued or running
        self._busy_lock = threading.Lock()
        self._retry_at: dict[str, tuple[dt.datetime, int]] = {}  # attempt -> (not before, failures so far)
        self._grading = 0                     # grade tasks started and not finished (under _busy_lock)
        self._told = ""                       # the executor's trouble last said (said again only when it changes)
        self._wake = threading.Event()

    # --- the loop --------------------------------------------------------------------------------
    def serve(self, stop: threading.Event) -> None:
        """Poll and dispatch until `stop` is set; then finish the tasks already started (the submissions
        not started yet stay in the journal for the next start)."""
        say(f"watching {inbound_folder(self.config)} for '{self.assignment}', grading {self.executor.where}; "
            f"journal {self.journal.path}")
        started: list[threading.Thread] = []
        try:
            while not stop.is_set():
                for task in self.poll(self.free_slots()):
                    thread = threading.Thread(target=self._run, args=(task,), name=f"{task.action}-{task.attempt.student}")
                    thread.start()
                    started.append(thread)
                started = [thread for thread in started if thread.is_alive()]
                self._wake.wait(self.config.service.poll_seconds)
                self._wake.clear()
            say("stopping: finishing the submissions already started")
        finally:
            for thread in started:
                thread.join()
        say("stopped")

    def free_slots(self) -> int:
        """How many more gradings the executor takes now (0 while a Dask cluster has no worker or cannot
        be reached: the submissions wait in the journal, and the trouble is said once)."""
        try:
            capacity = self.executor.capacity()
        except classgrade.GradingError as err:
            self._tell(f"{err}; new submissions wait in the journal until it answers")
            return 0
        if capacity < 1:
            self._tell(f"no worker {self.executor.where}; new submissions wait in the journal until one joins")
            return 0
        self._tell("")
        with self._busy_lock:
            return max(0, capacity - self._grading)

    def _tell(self, trouble: str) -> None:
        if trouble != self._told:
            say(trouble or f"grading {self.executor.where} again")
            self._told = trouble

    def poll(self, slots: int | None = None) -> list[Task]:
        """Record new submissions; the tasks to start now (their students are marked busy): every task
        due now, gradings only as many as ``slots`` (None: all)."""
        # Who is busy is read before the journal: a task writes its events before its student stops being
        # busy, so every student not busy here has all their events in the replay below. (Read the other
        # way round, a task finishing in between left its submission "received" in the replay and it was
        # graded a second time.) Only this thread marks students busy, so the set cannot grow meanwhile.
        with self._busy_lock:
            busy = set(self._busy)
        records = self.journal.replay()
        for attempt in scan(self.config, self.assignment):
            if attempt.name not in records:
                self.journal.append("received", attempt)
                records[attempt.name] = Record(attempt)
                if feedback_page(self.config, attempt, self.notebook).is_file():
                    # Answered before the service knew it (the instructor released its feedback): left as it is.
                    self.journal.append("released", attempt, latency=None, by="instructor")
                    records[attempt.name].state = "released"
                    say(f"{attempt.student}: {attempt.name} already has feedback in the exchange; left as it is")
                else:
                    say(f"{attempt.student}: new submission {attempt.name}")
        now = self.clock()
        tasks = [t for t in plan(records.values(), now, self.due, self.config.service, busy)
                 if self._retry_at.get(t.attempt.name, (now, 0))[0] <= now]
        if slots is not None:  # the oldest submissions first (plan's order); the others wait for room
            grades = [t for t in tasks if t.action == "grade"][:max(0, slots)]
            tasks = [t for t in tasks if t.action != "grade" or t in grades]
        with self._busy_lock:
            self._busy.update(t.attempt.student for t in tasks)
            self._grading += sum(1 for t in tasks if t.action == "grade")
        return tasks

    def _run(self, task: Task) -> None:
        try:
            self.execute(task)
            self._retry_at.pop(task.attempt.name, None)
        except Exception as err:  # one submission's trouble must not stop the service; it is tried again
            _, failures = self._retry_at.get(task.attempt.name, (None, 0))
            delay = min(3600, RETRY_BASE * 2 ** failures)
            self._retry_at[task.attempt.name] = (self.clock() + dt.timedelta(seconds=delay), failures + 1)
            # The executor's own trouble (a lost Dask scheduler) says everything in its message.
            detail = "" if isinstance(err, classgrade.GradingError) else "\n" + traceback.format_exc()
            say(f"{task.attempt.student}: {task.action} of {task.attempt.name} failed ({err}); it stays in the "
                f"journal and is tried again in {delay} s" + detail)
        finally:
            with self._busy_lock:
                self._busy.discard(task.attempt.student)
                if task.action == "grade":
                    self._grading -= 1
            self._wake.set()

    # --- the tasks ---------------------------------------------------------------------------------
    def execute(self, task: Task) -> None:
        attempt = task.attempt
        inbound = inbound_folder(self.config) / attempt.name
        notice_root = self.folder / "notices"
        if task.action == "grade":
            self.grade(attempt, final=task.final)
        elif task.action == "release":
            self.release(self.journal.replay()[attempt.name])
        elif task.action == "defer":
            sv = self.config.service
            folder = notices.deferred(notice_root, attempt, inbound, self.notebook, task.until, self.due,
                                      sv.per_student_per_hour, sv.per_student_total)
            self.steps.release_feedback(self.assignment, attempt.student, folder)
            self.journal.append("deferred", attempt, until=task.until.isoformat() if task.until else None)
            say(f"{attempt.student}: over the rate limit; kept, graded "
                + (f"at {task.until.isoformat()}" if task.until else "at the due date"))
        elif task.action == "supersede":
            folder = notices.superseded(notice_root, attempt, inbound, self.notebook, task.other, self.due.tzinfo)
            self.steps.release_feedback(self.assignment, attempt.student, folder)
            self.journal.append("superseded", attempt, by=task.other.name)
        elif task.action == "not_counted":
            folder = notices.not_counted(notice_root, attempt, inbound, self.notebook, task.other, self.due)
            self.steps.release_feedback(self.assignment, attempt.student, folder)
            self.journal.append("not_counted", attempt, counted=task.other.name)
        else:
            raise ValueError(f"unknown task {task.action!r}")

    def grade(self, attempt: Attempt, final: bool = False) -> None:
        """Collect this submission, grade it the class's way, journal it, release its feedback."""
        self.steps.collect(self.assignment, attempt.student)
        submitted = self.config.directory("submitted") / attempt.student / self.assignment
        if collected_time(submitted) != attempt.submitted_at:
            # nbgrader collected another submission (a newer one still being written): plan again.
            raise RuntimeError(f"nbgrader collect took another submission than {attempt.name} "
                               f"(a newer one being written?)")
        if self.config.service.counts == "best":
            keep = self._kept(attempt.name)
            shutil.rmtree(keep, ignore_errors=True)
            shutil.copytree(submitted, keep)
        outcome = self._grade_collected(attempt.student)
        self.journal.append("graded", attempt, status=outcome.status, score=outcome.score, reason=outcome.reason,
                            seconds=round(outcome.seconds, 2), final=final)
        say(f"{attempt.student}: " + (f"graded, {outcome.score:g} points, in {outcome.seconds:.1f} s"
                                       if outcome.status == "graded" else f"could not be graded: {outcome.reason}"))
        self.release(self.journal.replay()[attempt.name])
        if self.config.service.counts == "best":
            self._keep_best(attempt)

    def _grade_collected(self, student: str) -> classgrade.Outcome:
        """The class-grading path for what is in submitted/<student>/: grade, class journal, score, failures."""
        from coursekit.grading.report import record_grading_failures
        job = classgrade.Job(str(self.config.path), self.assignment, student, self.threads,
                             self.config.sandbox.enabled, self.zygote)
        outcome = self.executor.submit(job).result()
        classgrade.fill_scores(self.config, self.assignment, [outcome])
        with self._books:
            classgrade.append_journal(self.config, self.assignment, outcome)
            graded = [student] if outcome.status == "graded" else []
            failed = {} if graded else {student: outcome.reason}
            record_grading_failures(self.config, self.assignment, graded, failed)
        return outcome

    def release(self, record: Record) -> None:
        """Feedback for a graded submission (the policy's), or the page with the reason; released to it."""
        attempt = record.attempt
        if record.status == "graded":
            now = self.clock()
            mode = feedback_mode(self.config, self.due, now)
            if now >= self.due:
                from coursekit.grading.latework import apply_late_policy
                with self._books:
                    apply_late_policy(self.config, self.assignment)
            self.steps.generate_feedback(self.assignment, attempt.student, feedback_steps(self.config, mode))
            self.steps.release_feedback(self.assignment, attempt.student)
        else:
            inbound = inbound_folder(self.config) / attempt.name
            folder = notices.failed(self.folder / "notices", attempt, inbound, self.notebook, record.reason)
            self.steps.release_feedback(self.assignment, attempt.student, folder)
        latency = (now_utc() - attempt.submitted_at).total_seconds()
        self.journal.append("released", attempt, latency=round(latency, 2))
        say(f"{attempt.student}: feedback released, {latency:.1f} s after Submit")

    def _kept(self, name: str):
        """Where policy ``best`` keeps a copy of a graded submission, to put it back later."""
        return self.folder / "attempts" / notices.folder_name(name)

    def _keep_best(self, attempt: Attempt) -> None:
        """Policy ``best``: when this submission scored below the student's best on-time one, put that back."""
        records = [r for r in self.journal.replay().values() if r.attempt.student == attempt.student]
        scored = [(r.attempt.submitted_at, r.attempt.name, r.score) for r in records
                  if r.status == "graded" and r.score is not None and r.attempt.on_time(self.due)]
        best = best_of(scored)
        if best is None or best == attempt.name:
            return
        keep = self._kept(best)
        if not keep.is_dir():
            return
        submitted = self.config.directory("submitted") / attempt.student / self.assignment
        shutil.rmtree(submitted)
        shutil.copytree(keep, submitted)
        outcome = self._grade_collected(attempt.student)
        best_attempt = next(r.attempt for r in records if r.attempt.name == best)
        self.journal.append("restored", best_attempt, score=outcome.score, status=outcome.status)
        say(f"{attempt.student}: the best submission ({outcome.score:g} points) put back into the gradebook")


def collected_time(folder) -> dt.datetime | None:
    """The nbgrader timestamp of the submission in submitted/<student>/<assignment>/, or None."""
    from nbgrader.utils import parse_utc
    try:
        text = (folder / "timestamp.txt").read_text(encoding="utf-8").strip()
        return parse_utc(text).replace(tzinfo=dt.timezone.utc)
    except (OSError, ValueError):
        return None
