"""The whole instructor flow of a term, end to end, with the real nbgrader (issue 5, part 2).

In a scratch copy of the course, one module-scoped fixture plays the term:

1. ``coursekit setup-data`` and ``coursekit build`` (generate_assignment; registers the due date);
2. ``nbgrader release_assignment`` into the course's exchange (``.exchange`` of the scratch copy);
3. three students -- alice, bob, carol -- each in their own home folder run ``nbgrader
   fetch_assignment``, fill in the fetched notebook (with ``coursekit.authoring.samples``: the reference
   answers, the demo's partial work, the activations only) and run ``nbgrader submit``; carol
   submits after the due date (see :func:`move_due_date_to_now`);
4. ``nbgrader collect``, and ``nbgrader zip_collect`` for dave, whose work arrives as an LMS download;
5. ``coursekit autograde`` (nbgrader autograde, with the late policy of course.toml);
6. the TA's marks and comments for the 思考题, written through nbgrader's Gradebook API;
7. ``coursekit feedback`` (generate_feedback), ``nbgrader release_feedback``, and every exchange
   student's ``nbgrader fetch_feedback``;
8. ``nbgrader export`` to CSV.

Each step asserts its own outcome as it goes (so a failure names the step and shows nbgrader's
log); the tests below then check the end state: gradebook values, feedback pages, CSV rows.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import json
import os
import re
import sqlite3
import subprocess
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import pytest
from bs4 import BeautifulSoup

from coursekit.config import CourseConfig, load_config
from coursekit.grading.nbgrader_settings import open_gradebook
from coursekit.authoring.release import copy_course
from coursekit.authoring.samples import Sample, make_submission
from dlcourse.lab2.samples import DEMO_SAMPLES
from dlcourse.lab2 import PARTS
from grader_tests.conftest import ROOT, mirror_path, run_step, share_secret

ASSIGNMENT = "lab2"
EXPECTED = json.loads((Path(__file__).parent / "files" / "expected_scores.json").read_text(encoding="utf-8"))
TESTS = list(EXPECTED["full"])
SAMPLES = {sample.student: sample for sample in DEMO_SAMPLES}

ACTIVATIONS = {gid for gid, part in PARTS.items() if part.todo == "activations"}
#: Work that is quick to grade (no experiment gets to train), for the late student.
ACTIVATIONS_ONLY = Sample("activations_only", "the three activations and the 思考题; nothing else",
                          fill=frozenset({"activations", *(f"answer_q{n}" for n in range(1, 6))}))

#: Students who work through nbgrader's exchange, in the order they submit, and their work.
ON_TIME = {"alice": SAMPLES["reference"], "bob": SAMPLES["partial"]}
LATE = {"carol": ACTIVATIONS_ONLY}
#: A student whose submission comes from the LMS (zip_collect), and their work.
LMS = {"dave": SAMPLES["blank"]}
#: Autograded cells each student loses (hand-written, as in files/expected_scores.json).
LOST = {"alice": set(), "bob": set(EXPECTED["lost"]["partial"]), "carol": set(TESTS) - ACTIVATIONS,
        "dave": set(TESTS)}

#: The TA's marks and comments for the 思考题 (carol's are not graded: under the course's
#: late_policy = "zero" her score is 0 whatever they are worth; see the xfail test at the end).
MANUAL = {
    "alice": {"answer_q1": (4, "推导完整：sigmoid 的导数最大只有 0.25。"),
              "answer_q2": (4, "很好。"),
              "answer_q3": (3, "说明了 ReLU 死亡的原因，但没有说怎样避免（更小的学习率或 LeakyReLU）。"),
              "answer_q4": (4, "很好。"),
              "answer_q5": (2, "只解释了 1/(1-p) 缩放的作用，没有说测试时为什么不丢弃。")},
    "bob": {"answer_q1": (2, "只说了“梯度变小”，没有说为什么。"),
            "answer_q2": (2, "请结合实验中的权重范数回答。"),
            "answer_q3": (2, "原因对，但缺少实验证据。"),
            "answer_q4": (2, "请比较 λ = 0 和 λ = 3 的曲线。"),
            "answer_q5": (2, "你的 dropout_layer 没有除以 1 - p，请先修正再回答。")},
}

#: LMS-style file names (nbgrader's documented "<assignment>_<student>_attempt_<time>_<file>"
#: scheme), with an ISO 8601 basic-format time: nbgrader parses the docs' "2016-01-30-15-30-10"
#: wrongly (the "-30-10" becomes a time-zone offset).
LMS_TIME_FORMAT = "%Y%m%dT%H%M%SZ"
LMS_REGEXP = r".*/[^/_]+_(?P<student_id>[^/_]+)_attempt_(?P<timestamp>\d{8}T\d{6}Z)_(?P<file_id>[^/]+\.ipynb)$"

CSV_COLUMNS = ["assignment", "duedate", "timestamp", "student_id", "last_name", "first_name", "email",
               "raw_score", "late_submission_penalty", "score", "max_score"]


# --- running nbgrader as the instructor and as a student ------------------------------------------

def tail(result: subprocess.CompletedProcess, limit: int = 4000) -> str:
    """The end of a finished command's output, for failure messages."""
    return f"stdout:\n{result.stdout[-1500:]}\nstderr:\n{result.stderr[-limit:]}"


def run_nbgrader(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run `nbgrader ARGS` in `cwd` with this interpreter, failing with nbgrader's log on an error."""
    bin_dir = str(Path(sys.executable).parent)
    full_env = {**(env or os.environ), "COURSE_DATA_MIRROR": str(mirror_path()), "MPLBACKEND": "Agg"}
    full_env["PATH"] = bin_dir + os.pathsep + full_env.get("PATH", "")
    result = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=cwd, env=full_env, check=False,
                            capture_output=True, text=True)
    assert result.returncode == 0, f"`nbgrader {' '.join(args)}` in {cwd} failed:\n{tail(result)}"
    return result


@dataclass
class Course:
    """The scratch course and the folders of its class."""

    config_path: Path
    homes: Path

    @property
    def config(self) -> CourseConfig:
        return load_config(self.config_path)  # re-read: the flow edits course.toml

    @property
    def root(self) -> Path:
        return self.config_path.parent

    def instructor(self, *args: str) -> subprocess.CompletedProcess:
        """`nbgrader ARGS` in the course folder, which reads the course's nbgrader_config.py."""
        return run_nbgrader(self.root, *args)

    def student(self, student: str, *args: str) -> subprocess.CompletedProcess:
        """`nbgrader ARGS` as `student`, in their own home folder.

        nbgrader 0.9.6 takes the student id from the uid's passwd entry (pwd.getpwuid), not from
        $USER, so one process plays three students with the documented `--student` option. The home
        (HOME, the working folder) holds the fetched assignment and nbgrader's submission cache; the
        course id and exchange root are what a student's own nbgrader_config.py would say.
        """
        home = self.home(student)
        env = {key: value for key, value in os.environ.items()
               if not key.startswith(("JUPYTER_", "XDG_")) and key != "COURSE_TOML"}
        env["HOME"] = str(home)
        return run_nbgrader(home, *args, f"--course={self.config.course_id}", f"--student={student}",
                            f"--Exchange.root={self.config.exchange_root}", env=env)

    def home(self, student: str) -> Path:
        path = self.homes / student
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def outbound(self) -> Path:
        return self.config.exchange_root / self.config.course_id / "outbound" / ASSIGNMENT

    @property
    def inbound(self) -> Path:
        return self.config.exchange_root / self.config.course_id / "inbound"

    def submitted(self, student: str) -> Path:
        return self.config.directory("submitted") / student / ASSIGNMENT

    def feedback(self, student: str) -> Path:
        return self.config.directory("feedback") / student / ASSIGNMENT / "lab2.html"


@dataclass
class Flow:
    """What the fixture did, for the tests to check."""

    course: Course
    due: dt.datetime                        # the due date in force (UTC, naive, as nbgrader keeps it)
    timestamps: dict[str, dt.datetime] = field(default_factory=dict)   # submission times (UTC, naive)
    fetched_feedback: dict[str, Path] = field(default_factory=dict)
    lms_notebook: Path | None = None
    grades_csv: Path | None = None


def parse_utc(text: str) -> dt.datetime:
    """A timestamp as nbgrader reads it (naive UTC), e.g. from timestamp.txt or a CSV cell."""
    from nbgrader.utils import parse_utc as nbgrader_parse_utc
    return nbgrader_parse_utc(text.strip())


# --- the steps -------------------------------------------------------------------------------------

def release_assignment(course: Course) -> None:
    """`nbgrader release_assignment`: the student version appears in the exchange's outbound folder."""
    course.instructor("release_assignment", ASSIGNMENT, "--force")
    released = course.outbound / "lab2.ipynb"
    assert released.is_file(), f"release_assignment did not put lab2.ipynb in {course.outbound}"
    assert released.read_bytes() == (course.config.directory("release") / ASSIGNMENT / "lab2.ipynb").read_bytes()


def fetch_work_and_submit(course: Course, student: str, sample: Sample) -> dt.datetime:
    """One student's term: fetch the release, fill it in, submit. Returns the submission's time."""
    course.student(student, "fetch_assignment", ASSIGNMENT)
    fetched = course.home(student) / ASSIGNMENT / "lab2.ipynb"
    assert fetched.is_file(), f"fetch_assignment wrote nothing to {fetched.parent}"
    assert fetched.read_bytes() == (course.outbound / "lab2.ipynb").read_bytes(), "fetched = released"
    assert "BEGIN SOLUTION" not in fetched.read_text(encoding="utf-8"), "no solutions reach a student"

    source = nbformat.read(course.config.directory("source") / ASSIGNMENT / "lab2.ipynb", as_version=4)
    nbformat.write(make_submission(nbformat.read(fetched, as_version=4), source, sample), fetched)

    course.student(student, "submit", ASSIGNMENT)
    entries = sorted(course.inbound.glob(f"{student}+{ASSIGNMENT}+*"))
    assert len(entries) == 1, f"{student}: expected one submission in {course.inbound}, found {entries}"
    assert (entries[0] / "lab2.ipynb").read_bytes() == fetched.read_bytes(), "the exchange has the student's work"
    stamp = (entries[0] / "timestamp.txt").read_text()
    assert entries[0].name.split("+")[2] == stamp, "the folder name carries the same time as timestamp.txt"
    cached = course.home(student) / ".local" / "share" / "jupyter" / "nbgrader_cache" / course.config.course_id
    assert (cached / f"{student}+{ASSIGNMENT}+{stamp}" / "submission_secret.txt").is_file(), \
        "submit keeps a copy in the student's cache (fetch_feedback finds the feedback through it)"
    return parse_utc(stamp)


def move_due_date_to_now(course: Course, after: dt.datetime) -> dt.datetime:
    """Make the due date pass between the on-time submissions and the late one.

    A test cannot wait for a real due date, and editing a collected timestamp.txt would bypass
    nbgrader. So the instructor sets the due date in (the scratch copy of) course.toml to this
    moment -- after the submissions so far, before the next -- and `coursekit build` registers it in
    the gradebook. Every submission time still comes from `nbgrader submit` itself.
    """
    due = dt.datetime.now(dt.UTC)
    assert due.replace(tzinfo=None) > after, "the clock moved on since the last submission"
    text = course.config_path.read_text(encoding="utf-8")
    head, table, rest = text.partition("[assignments.lab2]")
    rest, count = re.subn(r"(?m)^due = .*$", f"due = {due.isoformat()}", rest, count=1)
    assert table and count == 1, "course.toml gives assignments.lab2 a due date"
    text = head + table + rest
    course.config_path.write_text(text, encoding="utf-8")
    assert course.config.assignment(ASSIGNMENT).due == due
    run_step(course.config_path, "build", "lab2")
    with open_gradebook(course.config) as gradebook:
        in_gradebook = gradebook.find_assignment(ASSIGNMENT).duedate
    assert in_gradebook == due.replace(tzinfo=None), "coursekit build registered the new due date"
    return in_gradebook


def collect(course: Course, timestamps: dict[str, dt.datetime]) -> None:
    """`nbgrader collect`: each exchange submission lands in submitted/<student>/lab2/ with its time."""
    course.instructor("collect", ASSIGNMENT)
    for student, moment in timestamps.items():
        folder = course.submitted(student)
        assert (folder / "lab2.ipynb").is_file(), f"collect did not bring {student}'s notebook to {folder}"
        assert parse_utc((folder / "timestamp.txt").read_text()) == moment
        assert (folder / "submission_secret.txt").is_file()


def zip_collect(course: Course, student: str, sample: Sample, moment: dt.datetime) -> Path:
    """An LMS download (a zip of renamed notebooks) brought in with `nbgrader zip_collect`."""
    release = course.config.directory("release") / ASSIGNMENT / "lab2.ipynb"
    source = course.config.directory("source") / ASSIGNMENT / "lab2.ipynb"
    notebook = make_submission(nbformat.read(release, as_version=4), nbformat.read(source, as_version=4), sample)
    name = f"{ASSIGNMENT}_{student}_attempt_{moment.strftime(LMS_TIME_FORMAT)}_lab2.ipynb"
    archive = course.root / "downloaded" / ASSIGNMENT / "archive"
    archive.mkdir(parents=True)
    with zipfile.ZipFile(archive / "lms_download.zip", "w") as bundle:
        bundle.writestr(name, nbformat.writes(notebook))
    course.instructor("zip_collect", ASSIGNMENT, f"--FileNameCollectorPlugin.named_regexp={LMS_REGEXP}")
    extracted = sorted((course.root / "downloaded" / ASSIGNMENT / "extracted").rglob("*.ipynb"))
    assert [path.name for path in extracted] == [name], "zip_collect extracted the LMS download"
    folder = course.submitted(student)
    assert sorted(path.name for path in folder.iterdir()) == ["lab2.ipynb", "timestamp.txt"]
    assert (folder / "lab2.ipynb").read_bytes() == extracted[0].read_bytes()
    assert parse_utc((folder / "timestamp.txt").read_text()) == moment, "the LMS time is kept"
    return folder / "lab2.ipynb"


def autograde(course: Course, students: list[str]) -> None:
    """`coursekit autograde` (nbgrader autograde per student): every submission is graded."""
    run_step(course.config_path, "autograde")
    with open_gradebook(course.config) as gradebook:
        graded = sorted(s.student.id for s in gradebook.assignment_submissions(ASSIGNMENT))
    assert graded == sorted(students)
    for student in students:
        assert (course.config.directory("autograded") / student / ASSIGNMENT / "lab2.ipynb").is_file()


def enter_manual_grades(course: Course) -> None:
    """The TA's marks and comments for the 思考题, through nbgrader's Gradebook API.

    The same writes as formgrader's grade and comment handlers: a manual score clears
    needs_manual_grade, a comment is the grader's manual_comment.
    """
    with open_gradebook(course.config) as gradebook:
        for student, marks in MANUAL.items():
            for grade_id, (points, comment) in marks.items():
                grade = gradebook.find_grade(grade_id, "lab2", ASSIGNMENT, student)
                assert grade.needs_manual_grade and grade.auto_score is None, (student, grade_id)
                grade.manual_score = points
                grade.needs_manual_grade = False
                gradebook.find_comment(grade_id, "lab2", ASSIGNMENT, student).manual_comment = comment
            gradebook.db.commit()
            submission = gradebook.find_submission(ASSIGNMENT, student)
            assert not submission.needs_manual_grade, f"{student} still has cells to grade by hand"


def release_and_fetch_feedback(course: Course, students: list[str]) -> dict[str, Path]:
    """`coursekit feedback`, `nbgrader release_feedback`, then every exchange student's fetch_feedback."""
    run_step(course.config_path, "feedback")
    for student in [*students, *LMS]:
        assert course.feedback(student).is_file(), f"generate_feedback wrote no page for {student}"
    # A zip_collect'ed submission has no submission_secret.txt, which release_feedback needs to name
    # the page in the exchange; LMS students get their page through the LMS, so they are left out.
    course.instructor("release_feedback", ASSIGNMENT, f"--CourseDirectory.student_id_exclude={','.join(LMS)}")
    released = sorted((course.config.exchange_root / course.config.course_id / "feedback").glob("*.html"))
    assert len(released) == len(students), f"one released page per exchange student, got {released}"
    fetched = {}
    for student in students:
        course.student(student, "fetch_feedback", ASSIGNMENT)
        pages = sorted((course.home(student) / ASSIGNMENT / "feedback").glob("*/lab2.html"))
        assert len(pages) == 1, f"{student} fetched {pages}"
        assert pages[0].read_bytes() == course.feedback(student).read_bytes(), f"{student} got their own page"
        fetched[student] = pages[0]
    return fetched


def export_grades(course: Course) -> Path:
    """`nbgrader export` (CSV) of the whole class."""
    target = course.root / "grades.csv"
    course.instructor("export", f"--to={target}")
    assert target.is_file(), "nbgrader export wrote no CSV"
    return target


@pytest.fixture(scope="module")
def flow(tmp_path_factory) -> Flow:
    """The term, played once: see the module docstring."""
    base = tmp_path_factory.mktemp("instructor-flow")
    course = Course(copy_course(ROOT, base / "course", with_release=False), base / "homes")
    share_secret(course.config_path)
    for step in ("setup-data", "build"):
        run_step(course.config_path, step)
    release_assignment(course)

    timestamps = {student: fetch_work_and_submit(course, student, sample) for student, sample in ON_TIME.items()}
    due = move_due_date_to_now(course, after=max(timestamps.values()))
    timestamps.update({student: fetch_work_and_submit(course, student, sample) for student, sample in LATE.items()})
    collect(course, timestamps)

    result = Flow(course=course, due=due, timestamps=timestamps)
    (lms_student, lms_sample), = LMS.items()
    result.timestamps[lms_student] = (due - dt.timedelta(hours=1)).replace(microsecond=0)
    result.lms_notebook = zip_collect(course, lms_student, lms_sample, result.timestamps[lms_student])

    exchange_students = [*ON_TIME, *LATE]
    autograde(course, [*exchange_students, lms_student])
    enter_manual_grades(course)
    result.fetched_feedback = release_and_fetch_feedback(course, exchange_students)
    result.grades_csv = export_grades(course)
    return result


# --- the end state -------------------------------------------------------------------------------

def expected_auto(student: str) -> dict[str, float]:
    return {gid: 0.0 if gid in LOST[student] else float(EXPECTED["full"][gid]) for gid in TESTS}


def expected_manual(student: str) -> float:
    return float(sum(points for points, _ in MANUAL.get(student, {}).values()))


def test_each_student_gets_the_autograded_marks_their_work_deserves(flow):
    config = flow.course.config
    with open_gradebook(config) as gradebook:
        for student in LOST:
            scores = {gid: gradebook.find_grade(gid, "lab2", ASSIGNMENT, student).score for gid in TESTS}
            assert scores == expected_auto(student), student
            assert gradebook.find_submission(ASSIGNMENT, student).code_score == sum(expected_auto(student).values())
    assert [sum(expected_auto(student).values()) for student in LOST] == [80, 70, 22, 0]


def test_the_late_submission_follows_the_course_policy(flow):
    config = flow.course.config
    assert config.late_policy == "zero"
    assert flow.timestamps["alice"] < flow.timestamps["bob"] < flow.due < flow.timestamps["carol"]
    assert flow.timestamps["dave"] < flow.due
    with open_gradebook(config) as gradebook:
        for student in LOST:
            submission = gradebook.find_submission(ASSIGNMENT, student)
            assert submission.timestamp == flow.timestamps[student], student
            late = student in LATE
            assert (submission.total_seconds_late > 0) == late, student
            assert submission.late_submission_penalty == (submission.score if late else 0), student
    carol = flow.course.feedback("carol").read_text(encoding="utf-8")
    assert "总分：0 / 100" in carol and "迟交扣分 22" in carol


def summary(page: Path) -> dict[str, list[str]]:
    """The feedback's summary table: part -> [points, status]."""
    table = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser").find("table")
    rows = [[td.get_text(" ", strip=True).replace("\u00a0", " ") for td in tr.find_all("td")]
            for tr in table.find_all("tr")[1:]]
    return {row[0]: row[1:] for row in rows}


def test_hand_grades_are_in_the_gradebook_and_in_the_fetched_feedback(flow):
    with open_gradebook(flow.course.config) as gradebook:
        for student, marks in MANUAL.items():
            for grade_id, (points, comment) in marks.items():
                assert gradebook.find_grade(grade_id, "lab2", ASSIGNMENT, student).score == points
                assert gradebook.find_comment(grade_id, "lab2", ASSIGNMENT, student).comment == comment
            total = sum(expected_auto(student).values()) + expected_manual(student)
            assert gradebook.find_submission(ASSIGNMENT, student).score == total
    for student, marks in MANUAL.items():
        page = flow.fetched_feedback[student]
        text = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser").get_text()
        total = sum(expected_auto(student).values()) + expected_manual(student)
        assert f"总分：{total:g} / 100" in text, student
        assert f"(Score: {total:.1f} / 100.0)" in text, student
        rows = summary(page)
        for grade_id, (points, comment) in marks.items():
            label = f"思考题 {grade_id.removeprefix('answer_q')}（人工评分）"
            assert rows[label] == [f"{points} / 4", "✓ 已评分"], (student, label)
            assert comment in text, (student, grade_id)
    assert summary(flow.fetched_feedback["alice"])["思考题 5（人工评分）"][0] == "2 / 4"
    carol = summary(flow.fetched_feedback["carol"])
    assert all(carol[f"思考题 {n}（人工评分）"][1] == "○ 待助教评分" for n in range(1, 6))


def test_the_lms_submission_is_collected_graded_and_given_feedback(flow):
    dave = flow.course.submitted("dave")
    assert flow.lms_notebook == dave / "lab2.ipynb"
    with open_gradebook(flow.course.config) as gradebook:
        submission = gradebook.find_submission(ASSIGNMENT, "dave")
        assert submission.score == 0 and not submission.needs_manual_grade, "unanswered 思考题 score 0 by themselves"
    assert "总分：0 / 100" in flow.course.feedback("dave").read_text(encoding="utf-8")
    assert not (flow.course.homes / "dave").exists(), "dave never used the exchange"


def test_the_csv_export_has_one_row_per_student_with_the_final_score(flow):
    with flow.grades_csv.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        assert reader.fieldnames == CSV_COLUMNS
        every = list(reader)
    rows = {row["student_id"]: row for row in every if row["assignment"] == ASSIGNMENT}
    assert sorted(rows) == sorted(LOST)
    # one row per student and assignment: the course's second assignment, not submitted, scores 0
    others = [row for row in every if row["assignment"] != ASSIGNMENT]
    assert sorted(row["student_id"] for row in others) == sorted(LOST) and {float(r["score"]) for r in others} == {0.0}
    expected_final = {"alice": 97.0, "bob": 80.0, "carol": 0.0, "dave": 0.0}
    for student, row in rows.items():
        raw = sum(expected_auto(student).values()) + expected_manual(student)
        penalty = raw if student in LATE else 0.0
        assert row["assignment"] == ASSIGNMENT
        assert parse_utc(row["duedate"]) == flow.due
        assert parse_utc(row["timestamp"]) == flow.timestamps[student]
        assert (float(row["raw_score"]), float(row["late_submission_penalty"])) == (raw, penalty), student
        assert float(row["score"]) == expected_final[student] == raw - penalty, student
        assert float(row["max_score"]) == 100.0


def test_hand_grades_on_late_work_are_zeroed_too(flow, tmp_path):
    """late_policy = "zero" means zero, even after the TA grades a late submission's 思考题.

    nbgrader computes the penalty once, at autograde time, from the autograded score; marks a TA
    enters afterwards would count. coursekit.grading.latework.zero_late_work (run by `coursekit feedback`,
    `grades`, `report` and `export`) sets the penalty to the whole score. Works on a copy of the
    gradebook (SQLite's backup API: a consistent copy even in WAL mode), so the other tests see the
    class as the fixture left it.
    """
    from nbgrader.api import Gradebook

    from coursekit.grading.latework import zero_late_work

    gradebook_copy = tmp_path / "gradebook.db"
    with contextlib.closing(sqlite3.connect(flow.course.root / "gradebook.db")) as source, \
            contextlib.closing(sqlite3.connect(gradebook_copy)) as target:
        source.backup(target)
    with Gradebook(f"sqlite:///{gradebook_copy}", course_id=flow.course.config.course_id) as gradebook:
        for grade_id in (gid for gid in flow.course.config.assignment(ASSIGNMENT).points if gid.startswith("answer_")):
            grade = gradebook.find_grade(grade_id, "lab2", ASSIGNMENT, "carol")
            grade.manual_score, grade.needs_manual_grade = 4, False
        gradebook.db.commit()

    def exported_row(name: str) -> dict[str, str]:
        exported = tmp_path / name
        flow.course.instructor("export", f"--db=sqlite:///{gradebook_copy}", f"--to={exported}")
        with exported.open(newline="", encoding="utf-8") as handle:
            return next(row for row in csv.DictReader(handle) if row["student_id"] == "carol")

    before = exported_row("before.csv")
    assert float(before["raw_score"]) == 22.0 + 20.0, "the hand grades are in the copy"
    assert float(before["late_submission_penalty"]) == 22.0, "nbgrader's penalty covers only the autograded part"
    with Gradebook(f"sqlite:///{gradebook_copy}", course_id=flow.course.config.course_id) as gradebook:
        assert zero_late_work(gradebook, ASSIGNMENT) == ["carol"]
        assert zero_late_work(gradebook, ASSIGNMENT) == [], "applying the policy twice changes nothing"
    after = exported_row("after.csv")
    assert (float(after["raw_score"]), float(after["late_submission_penalty"]), float(after["score"])) == (42, 42, 0)
    for other in ("alice", "bob"):  # on time: untouched
        with Gradebook(f"sqlite:///{gradebook_copy}", course_id=flow.course.config.course_id) as gradebook:
            assert gradebook.find_submission(ASSIGNMENT, other).late_submission_penalty == 0
