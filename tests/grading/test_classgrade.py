"""coursekit.grading.classgrade without running nbgrader: checks before grading, the journal, the lock,
the plan of a resumed run, thread budgets and the summary table."""

from __future__ import annotations

import contextlib
import json
import shutil
from pathlib import Path

import nbformat
import pytest

from coursekit.grading import classgrade
from coursekit.config import load_config
from coursekit.authoring.release import copy_course

ROOT = Path(__file__).resolve().parents[2]
ANSWERS = {"activations", "network", "dead_units", "l2_penalty", "dropout_layer", *(f"answer_q{i}" for i in range(1, 6))}


@pytest.fixture
def course(tmp_path):
    config = load_config(copy_course(ROOT, tmp_path))
    release = config.directory("release") / "lab2" / "lab2.ipynb"
    for student in ("ann", "bob"):
        folder = config.directory("submitted") / student / "lab2"
        folder.mkdir(parents=True)
        shutil.copy(release, folder / "lab2.ipynb")
    return config


def submission(config, student: str) -> Path:
    return config.directory("submitted") / student / "lab2"


def test_answer_cells_come_from_the_release(course):
    assert classgrade.answer_cell_ids(course, "lab2") == ANSWERS


def test_a_released_notebook_passes_the_checks(course):
    assert classgrade.precheck(course, "lab2", "ann", ANSWERS) is None


@pytest.mark.parametrize("damage, words", [
    (lambda f: (f / "lab2.ipynb").rename(f / "lab2-copy.ipynb"), ["lab2-copy.ipynb", "改名"]),
    (lambda f: (f / "lab2.ipynb").unlink(), ["没有 lab2.ipynb"]),
    (lambda f: (f / "lab2.ipynb").write_bytes(b""), ["空文件"]),
    (lambda f: (f / "lab2.ipynb").write_text('{"cells": [', encoding="utf-8"), ["JSON"]),
    (lambda f: (f / "lab2.ipynb").write_bytes(b"\xff\xfe\x00garbage"), ["JSON"]),
    (lambda f: (f / "lab2.ipynb").write_text("[1, 2]", encoding="utf-8"), ["cells"]),
    (lambda f: nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1")]), f / "lab2.ipynb"),
     ["另一份作业"]),
])
def test_unreadable_submissions_get_a_reason(course, damage, words):
    damage(submission(course, "ann"))
    reason = classgrade.precheck(course, "lab2", "ann", ANSWERS)
    assert reason is not None and all(w in reason for w in words), reason


def test_digest_follows_content_not_time(course):
    folder = submission(course, "ann")
    first = classgrade.submission_digest(folder)
    (folder / "lab2.ipynb").touch()
    assert classgrade.submission_digest(folder) == first
    (folder / "notes.txt").write_text("x")
    assert classgrade.submission_digest(folder) != first


def test_journal_keeps_the_last_entry_and_ignores_a_torn_line(course):
    classgrade.append_journal(course, "lab2", classgrade.Outcome("ann", "failed", 1.0, "boom", "d1"))
    classgrade.append_journal(course, "lab2", classgrade.Outcome("ann", "graded", 2.0, "", "d2"))
    with open(classgrade.journal_path(course, "lab2"), "a", encoding="utf-8") as handle:
        handle.write('{"student": "bob", "stat')  # a run killed mid-write
    entries = classgrade.read_journal(course, "lab2")
    assert set(entries) == {"ann"} and entries["ann"].status == "graded" and entries["ann"].digest == "d2"


def test_plan_skips_what_an_earlier_run_finished(course):
    ann = submission(course, "ann")
    graded = course.directory("autograded") / "ann" / "lab2"
    graded.mkdir(parents=True)
    shutil.copy(ann / "lab2.ipynb", graded / "lab2.ipynb")
    classgrade.append_journal(course, "lab2", classgrade.Outcome(
        "ann", "graded", 3.0, "", classgrade.submission_digest(ann)))
    todo, done = classgrade.plan(course, "lab2", None, force=False)
    assert todo == ["bob"] and set(done) == {"ann"}
    # --force regrades; a changed submission is graded again; a lost autograded folder too.
    assert classgrade.plan(course, "lab2", None, force=True)[0] == ["ann", "bob"]
    (ann / "extra.txt").write_text("resubmitted")
    assert classgrade.plan(course, "lab2", None, force=False)[0] == ["ann", "bob"]


def test_the_longest_gradings_go_first(course):
    """By the seconds of each student's last grading in the journal; never graded first, in their order."""
    for student, seconds in (("ann", 3.0), ("bob", 9.0), ("cat", 0.2)):
        classgrade.append_journal(course, "lab2", classgrade.Outcome(student, "graded", seconds, "", "d"))
    assert classgrade.longest_first(course, "lab2", ["ann", "bob", "cat", "dan", "eve"]) == ["dan", "eve", "bob", "ann", "cat"]


def test_scores_reported_by_the_grading_processes_need_no_gradebook(course, monkeypatch):
    import coursekit.grading.nbgrader_settings as settings
    monkeypatch.setattr(settings, "open_gradebook", lambda config: pytest.fail("the gradebook was opened"))
    outcomes = [classgrade.Outcome("ann", "graded", 9.0, "", "d", 80.0), classgrade.Outcome("bob", "failed", 1.0, "x", "d")]
    classgrade.fill_scores(course, "lab2", outcomes)
    assert [o.score for o in outcomes] == [80.0, None]


def test_plan_without_submissions_says_what_to_do(tmp_path):
    config = load_config(copy_course(ROOT, tmp_path))
    with pytest.raises(classgrade.GradingError, match="nbgrader collect"):
        classgrade.plan(config, "lab2", None, force=False)


def test_only_one_class_run_at_a_time(course):
    with classgrade.class_lock(course):
        with pytest.raises(classgrade.GradingError, match="another `coursekit grade` is running"):
            with classgrade.class_lock(course):
                pass
    with classgrade.class_lock(course):  # released afterwards
        pass


def test_every_grading_kernel_gets_the_grading_profiles_threads(course):
    assert course.profiles["grading"].threads == 1
    assert classgrade.grading_threads(course) == 1, "whatever the number of workers or cores"


@pytest.mark.parametrize("threads, cores, workers", [(1, 2, 2), (1, 16, 16), (2, 2, 1), (4, 2, 1), (3, 16, 5)])
def test_default_workers_fill_the_cores_at_the_grading_threads(tmp_path, monkeypatch, threads, cores, workers):
    """[grading] workers = 0: as many workers as the cores can run at the grading profile's threads."""
    path = copy_course(ROOT, tmp_path)
    text = path.read_text(encoding="utf-8")
    grading = '[profiles.grading]\nbase = "full"\nthreads = 1 '
    assert text.count(grading) == 1
    path.write_text(text.replace(grading, grading.replace("threads = 1", f"threads = {threads}")), encoding="utf-8")
    monkeypatch.setattr("os.cpu_count", lambda: cores)
    config = load_config(path)
    assert (config.workers, classgrade.grading_threads(config)) == (workers, threads)
    assert config.workers * threads <= max(cores, threads)


def test_summary_table_has_a_row_per_student_with_the_reason():
    table = classgrade.summary_table([
        classgrade.Outcome("zoe", "graded", 12.34, score=80.0),
        classgrade.Outcome("adam", "failed", 0.5, "lab2.ipynb 是空文件"),
    ], 100)
    lines = table.splitlines()
    assert lines[0].split() == ["student", "score", "time", "status", "reason"]
    assert lines[1].split()[:4] == ["adam", "-", "0.5", "s"] and "是空文件" in lines[1]
    assert lines[2].split()[:2] == ["zoe", "80/100"] and "graded" in lines[2]


def test_outcomes_travel_as_plain_data():
    job = classgrade.Job("/c/course.toml", "lab2", "ann", 1, True)
    outcome = classgrade.Outcome("ann", "graded", 1.0)
    assert json.loads(json.dumps(job.__dict__))["student"] == "ann"
    assert classgrade.Outcome(**json.loads(json.dumps(outcome.__dict__))) == outcome


def test_nbgrader_reason_prefers_the_last_exception():
    log = "[AutogradeApp] INFO | x\nValueError: first\n[AutogradeApp] ERROR | failed\nKeyError: 'last one'\n"
    assert classgrade.nbgrader_reason(log) == "KeyError: 'last one'"
    log = ("[AutogradeApp | INFO] Sanitizing x\nTraceback (most recent call last):\n  File ...\n"
           "nbformat.reader.NotJSONError: Notebook does not appear to be JSON: '{\"cells\": [ this'\n"
           "[AutogradeApp | ERROR] There was an error processing assignment\n")
    assert classgrade.nbgrader_reason(log).startswith("nbformat.reader.NotJSONError: Notebook does not appear")
    assert classgrade.nbgrader_reason("[X | ERROR] something broke\n") == "[X | ERROR] something broke"
    log = ("coursekit.grading.judge.GraderError: test_relu 的 judge 出错：KeyError: 'x'\n"
           "nbgrader.converters.base.NbGraderException: Please see the error log\n")
    assert classgrade.nbgrader_reason(log).startswith("coursekit.grading.judge.GraderError: test_relu")
    assert classgrade.nbgrader_reason("") == "nbgrader failed without a message"
    from coursekit.grading.phases import PhaseClock
    clock = PhaseClock()
    clock.lap("nbgrader: save grades, write notebook")
    assert classgrade.nbgrader_reason(f"[X | INFO] started\n{clock.line('grading process')}\n") == "[X | INFO] started", \
        "the phases at the end of the log are not a reason"


def test_an_earlier_runs_log_never_speaks_for_a_grading_process_that_wrote_none(course, monkeypatch):
    from coursekit.grading import worker
    log = classgrade.log_folder(course, "lab2") / "ann.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("[coursekit score] 80.0\nKeyError: 'from the last run'\n", encoding="utf-8")

    class DiesAtOnce:  # a grading process that ends before it opens its log
        def __init__(self, request):
            pass

        def wait(self, timeout):
            return 1

    monkeypatch.setattr(worker, "Grading", DiesAtOnce)
    outcome = classgrade.grade_submission(classgrade.Job(str(course.path), "lab2", "ann", 1, sandbox=False))
    assert outcome.status == "failed" and outcome.score is None
    assert "last run" not in outcome.reason and "status 1 before writing its log" in outcome.reason


def test_the_class_run_reports_its_progress_and_returns_the_outcomes(course, monkeypatch):
    """grade_class runs the class without printing: each line goes to the progress callback, the outcomes come back."""
    from coursekit.grading import nbgrader_settings, worker
    monkeypatch.setattr(nbgrader_settings, "assignment_built", lambda *a, **k: True)
    monkeypatch.setattr(classgrade, "kernel_zygote", lambda *a: contextlib.nullcontext(""))
    monkeypatch.setattr(worker, "warm_up", lambda *a: None)
    monkeypatch.setattr(classgrade, "ready_to_grade", lambda *a: None)

    def graded_by_nbgrader(job):  # what grade_submission reports, without nbgrader
        digest = classgrade.submission_digest(submission(course, job.student))
        if job.student == "ann":
            return classgrade.Outcome("ann", "graded", 1.0, digest=digest, score=80.0)
        return classgrade.Outcome(job.student, "failed", 0.5, "空文件", digest)

    monkeypatch.setattr(classgrade, "run_local",
                        lambda jobs, workers, on_done: [on_done(graded_by_nbgrader(job)) for job in jobs])
    lines = []
    result = classgrade.grade_class(course, "lab2", classgrade.RunOptions(workers=2),
                                    lambda line, done, total: lines.append((line, done, total)))
    assert lines[0][0].startswith("grading 2 submission(s) of 'lab2' with 2 worker(s)") and lines[0][1:] == (0, 2)
    assert lines[1:] == [("ann: graded in 1.0 s", 1, 2), ("bob: could not be graded: 空文件", 2, 2)]
    assert result.failures == {"bob": "空文件"} and result.total == 100
    assert "80/100" in result.table()
    assert set(classgrade.read_journal(course, "lab2")) == {"ann", "bob"}

    lines.clear()
    graded = course.directory("autograded") / "ann" / "lab2" / "lab2.ipynb"  # what nbgrader leaves of ann's grading
    graded.parent.mkdir(parents=True)
    graded.write_text("{}", encoding="utf-8")
    monkeypatch.setattr(classgrade, "fill_scores", lambda *a: None)  # read from nbgrader's gradebook
    again = classgrade.grade_class(course, "lab2", classgrade.RunOptions(),
                                   lambda line, done, total: lines.append((line, done, total)))
    assert lines == [(lines[0][0], 0, 0)] and "2 already graded by an earlier run" in lines[0][0]
    assert {o.student for o in again.outcomes} == {"ann", "bob"} and again.failures == {"bob": "空文件"}


def test_a_class_run_before_build_says_so_and_starts_nothing(course, monkeypatch):
    """The scratch course has no gradebook yet: SQLite answers at once, before any process of the run starts."""
    from coursekit.grading import worker
    monkeypatch.setattr(classgrade, "kernel_zygote", lambda *a: pytest.fail("a zygote was started"))
    monkeypatch.setattr(worker, "warm_up", lambda *a: pytest.fail("the grading server was started"))
    with pytest.raises(classgrade.GradingError, match="run `python -m coursekit build lab2`"):
        classgrade.grade_class(course, "lab2", classgrade.RunOptions(), lambda *a: pytest.fail("nothing to report"))


def test_a_setting_its_part_does_not_have_stops_the_run_before_any_grading(course):
    """course.toml's overrides are checked against the parts before a class run starts, naming the key."""
    text = course.path.read_text(encoding="utf-8").replace(
        "[assignments.lab2.points]", "[assignments.lab2.settings.test_dead_units]\ntolerence = 1e-3\n\n"
                                     "[assignments.lab2.points]", 1)
    course.path.write_text(text, encoding="utf-8")
    with pytest.raises(classgrade.GradingError, match=r"assignments\.lab2\.settings\.test_dead_units\.tolerence"):
        classgrade.check_settings(load_config(course.path), "lab2")
    course.path.write_text(text.replace("tolerence", "tolerance"), encoding="utf-8")
    classgrade.check_settings(load_config(course.path), "lab2")
