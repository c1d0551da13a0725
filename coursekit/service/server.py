"""The grading service: watch the exchange, grade each submission the class's way, release its feedback.

:class:`GradingService` polls the exchange every ``[service] poll_seconds``, writes every new
submission into the journal, asks :mod:`coursekit.service.schedule` what to do and does it on
``[grading] workers`` threads:

* **grade**: nbgrader's collect (the submission that counts goes into submitted/), then exactly the
  class-grading path — :func:`coursekit.grading.classgrade.grade_submission` (checks, sandbox,
  limits, nbgrader autograde with the course's verdicts, the gradebook), the class journal, the
  scores and the failures file — then the feedback: nbgrader's generate_feedback with the
  policy's steps (or, for a submission that could not be graded, the page with the reason), and
  nbgrader's release_feedback to that submission. Under ``counts = "best"``, a lower score than the
  student's best puts the best back into the gradebook afterwards (graded again, the same way);
* **defer / supersede / not_counted**: a page for that submission (:mod:`coursekit.service.notices`), released.

Every step's outcome is in the journal before the next begins, so a restart after SIGKILL
continues where the service stopped: nothing graded is graded again, nothing is lost.
"""

from __future__ import annotations

import datetime as dt
import shutil
import sys
import threading
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

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

    def __init__(self, config: CourseConfig, assignment: str, workers: int,
                 clock: Callable[[], dt.datetime] = now_utc, zygote: str = "") -> None:
        """``zygote``: the socket of a kernel zygote (coursekit.grading.zygote) living as long as the service."""
        self.config = config
        self.zygote = zygote
        self.assignment = assignment
        self.notebook = config.assignment(assignment).notebook
        self.due = config.assignment(assignment).due
        self.workers = workers
        self.clock = clock
        self.journal = Journal(journal_path(config, assignment))
        self.folder = service_folder(config, assignment)
        self.steps = NbgraderSteps(config)
        self.threads = classgrade.grading_threads(config)
        self._books = threading.Lock()        # the class journal and the failures file
        self._busy: set[str] = set()          # students with a task queued or running
        self._busy_lock = threading.Lock()
        self._retry_at: dict[str, tuple[dt.datetime, int]] = {}  # attempt -> (not before, failures so far)
        self._wake = threading.Event()

    # --- the loop --------------------------------------------------------------------------------
    def serve(self, stop: threading.Event) -> None:
        """Poll and dispatch until `stop` is set; then finish the tasks already started (the ones
        still waiting for a worker stay in the journal for the next start)."""
        say(f"watching {inbound_folder(self.config)} for '{self.assignment}' with {self.workers} worker(s); "
            f"journal {self.journal.path}")
        pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="grade")
        try:
            while not stop.is_set():
                for task in self.poll():
                    pool.submit(self._run, task)
                self._wake.wait(self.config.service.poll_seconds)
                self._wake.clear()
            say("stopping: finishing the submissions already started")
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        say("stopped")

    def poll(self) -> list[Task]:
        """Record new submissions; the tasks to start now (their students are marked busy)."""
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
        with self._busy_lock:
            self._busy.update(t.attempt.student for t in tasks)
        return tasks

    def _run(self, task: Task) -> None:
        try:
            self.execute(task)
            self._retry_at.pop(task.attempt.name, None)
        except Exception as err:  # one submission's trouble must not stop the service; it is tried again
            _, failures = self._retry_at.get(task.attempt.name, (None, 0))
            delay = min(3600, RETRY_BASE * 2 ** failures)
            self._retry_at[task.attempt.name] = (self.clock() + dt.timedelta(seconds=delay), failures + 1)
            say(f"{task.attempt.student}: {task.action} of {task.attempt.name} failed ({err}); tried again in {delay} s\n"
                + traceback.format_exc())
        finally:
            with self._busy_lock:
                self._busy.discard(task.attempt.student)
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
        outcome = classgrade.grade_submission(job)
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
