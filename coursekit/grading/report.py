"""The class report: how a class did on one assignment, as an HTML page with PNG figures and a
short text table for the terminal.

Scores, due dates and lateness come from nbgrader's gradebook (its API). What nbgrader does not
keep in its database comes from elsewhere: the failure message of each failed test from the
autograded notebooks, and why a submission could not be graded from the record that
``coursekit autograde`` keeps (:func:`record_grading_failures`).
"""

from __future__ import annotations

import collections
import html
import json
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from coursekit.config import CourseConfig
from coursekit.grading.nbgrader_settings import open_gradebook


# --- what could not be graded ---------------------------------------------------------------

def failures_path(config: CourseConfig, name: str) -> Path:
    return config.directory("autograded") / f".coursekit-{name}-failures.json"


def read_grading_failures(config: CourseConfig, name: str) -> dict[str, str]:
    path = failures_path(config, name)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def record_grading_failures(config: CourseConfig, name: str, graded: list[str], failed: dict[str, str]) -> None:
    """Remember why submissions could not be graded (and forget those graded since)."""
    record = read_grading_failures(config, name)
    for student in graded:
        record.pop(student, None)
    record.update(failed)
    path = failures_path(config, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, ensure_ascii=False, indent=1, sort_keys=True), encoding="utf-8")


# --- the report's content ----------------------------------------------------------------------

@dataclass
class Part:
    """One autograded part: how many graded submissions passed it (full points)."""

    grade_id: str
    label: str
    points: float
    passed: int = 0
    graded: int = 0

    @property
    def pass_rate(self) -> float:
        return self.passed / self.graded if self.graded else 0.0


@dataclass
class ClassReport:
    """Everything the page and the terminal table show."""

    assignment: str
    max_score: float
    scores: dict[str, float] = field(default_factory=dict)          # student -> score after late penalty
    parts: dict[str, Part] = field(default_factory=dict)            # grade_id -> pass counts
    failures: collections.Counter = field(default_factory=collections.Counter)  # (grade_id, message) -> count
    ungraded: dict[str, str] = field(default_factory=dict)          # student -> reason
    late: dict[str, tuple[float, float]] = field(default_factory=dict)  # student -> (hours late, penalty)
    manual_pending: list[str] = field(default_factory=list)


def collect_report(config: CourseConfig, name: str) -> ClassReport:
    from coursekit.grading.feedback import part_label  # imports nbconvert: only the report needs it
    assignment = config.assignment(name)
    notebook = assignment.notebook.removesuffix(".ipynb")
    source = nbformat.read(config.directory("source") / name / assignment.notebook, as_version=4)
    labels = {cell.metadata["nbgrader"]["grade_id"]: part_label(cell) for cell in source.cells
              if cell.get("metadata", {}).get("nbgrader", {}).get("grade")}
    tests = [gid for gid, points in assignment.points.items() if gid.startswith("test_")]
    report = ClassReport(name, assignment.total_points)
    report.parts = {gid: Part(gid, labels.get(gid, gid), float(assignment.points[gid])) for gid in tests}
    recorded = read_grading_failures(config, name)
    with open_gradebook(config) as gradebook:
        for submission in gradebook.assignment_submissions(name):
            student = submission.student.id
            if student in recorded:  # nbgrader keeps a record of a submission it failed to grade
                continue
            report.scores[student] = float(submission.score - submission.late_submission_penalty)
            if submission.needs_manual_grade:
                report.manual_pending.append(student)
            if submission.total_seconds_late > 0:
                report.late[student] = (submission.total_seconds_late / 3600, float(submission.late_submission_penalty))
            for gid in tests:
                grade = gradebook.find_grade(gid, notebook, name, student)
                part = report.parts[gid]
                part.graded += 1
                part.passed += int(grade.score is not None and grade.score >= grade.max_score)
            report.failures.update(_failure_messages(config, name, student, assignment.notebook, tests))
    submitted = config.directory("submitted")
    on_disk = {p.name for p in submitted.iterdir() if (p / name).is_dir()} if submitted.is_dir() else set()
    for student in sorted(on_disk - set(report.scores)):
        report.ungraded[student] = recorded.get(student, "not autograded yet (run `python -m coursekit autograde`)")
    report.manual_pending.sort()
    return report


def _failure_messages(config: CourseConfig, name: str, student: str, notebook: str, tests: list[str]):
    from coursekit.grading.feedback import shorten, student_message
    path = config.directory("autograded") / student / name / notebook
    try:
        nb = nbformat.read(path, as_version=4)
    except (OSError, nbformat.reader.NotJSONError, ValueError):
        return []
    found = []
    for cell in nb.cells:
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        message = student_message(cell) if gid in tests else None
        if message:
            found.append((gid, shorten(message, 140)))
    return found


# --- output -----------------------------------------------------------------------------------

def text_table(report: ClassReport) -> str:
    lines = [f"Class report for '{report.assignment}': {len(report.scores)} graded, "
             f"{len(report.ungraded)} could not be graded, {len(report.late)} late, "
             f"{len(report.manual_pending)} with 思考题 to grade by hand"]
    if report.scores:
        values = sorted(report.scores.values())
        lines.append(f"scores (of {report.max_score:g}): min {values[0]:g}, median {values[len(values) // 2]:g}, "
                     f"max {values[-1]:g}")
    lines.append("pass rate per autograded part:")
    for part in report.parts.values():
        lines.append(f"  {part.grade_id:<26} {100 * part.pass_rate:5.0f}%  ({part.passed}/{part.graded})")
    for student, reason in report.ungraded.items():
        lines.append(f"could not grade {student}: {reason}")
    return "\n".join(lines)


def write_report(report: ClassReport, out_dir: Path) -> Path:
    """Write index.html and its PNG figures into `out_dir`; return the page's path."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    out_dir.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.hist(list(report.scores.values()) or [0], bins=10, range=(0, report.max_score), color="#4c72b0")
    ax.set(title=f"Scores ({len(report.scores)} graded)", xlabel=f"score (of {report.max_score:g})",
           ylabel="submissions")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    fig.tight_layout()
    fig.savefig(out_dir / "scores.png", dpi=100)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 0.45 * len(report.parts) + 1.2))
    names = [part.grade_id.removeprefix("test_") for part in report.parts.values()]
    ax.barh(names, [100 * part.pass_rate for part in report.parts.values()], color="#55a868")
    ax.invert_yaxis()
    ax.set(title="Pass rate per autograded part", xlabel="% of graded submissions with full points", xlim=(0, 100))
    fig.tight_layout()
    fig.savefig(out_dir / "pass_rates.png", dpi=100)
    plt.close(fig)

    esc = html.escape
    part_rows = "".join(
        f"<tr><td>{esc(p.grade_id)}</td><td>{esc(p.label)}</td><td>{p.points:g}</td>"
        f"<td>{100 * p.pass_rate:.0f}% ({p.passed}/{p.graded})</td></tr>" for p in report.parts.values())
    failure_rows = "".join(
        f"<tr><td>{count}</td><td>{esc(gid)}</td><td>{esc(message)}</td></tr>"
        for (gid, message), count in report.failures.most_common(15)) or "<tr><td colspan=3>none</td></tr>"
    ungraded_rows = "".join(f"<tr><td>{esc(s)}</td><td>{esc(r)}</td></tr>" for s, r in report.ungraded.items()) \
        or "<tr><td colspan=2>none</td></tr>"
    similarity = out_dir / "similarity.html"
    similarity_link = ('<p><a href="similarity.html">Similarity report</a> (which answers look copied; '
                       'instructors only)</p>' if similarity.is_file() else "")
    late_rows = "".join(f"<tr><td>{esc(s)}</td><td>{h:.1f} h</td><td>{p:g}</td></tr>"
                        for s, (h, p) in sorted(report.late.items())) or "<tr><td colspan=3>none</td></tr>"
    score_rows = "".join(f"<tr><td>{esc(s)}</td><td>{v:g}</td></tr>" for s, v in sorted(report.scores.items()))
    page = f"""<!DOCTYPE html>
<html lang="zh"><head><meta charset="utf-8"><title>Class report: {esc(report.assignment)}</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:.3em .6em;text-align:left}}img{{max-width:100%}}</style></head><body>
<h1>Class report: {esc(report.assignment)}</h1>
<p>{len(report.scores)} graded · {len(report.ungraded)} could not be graded · {len(report.late)} late ·
{len(report.manual_pending)} with 思考题 still to grade by hand</p>
{similarity_link}
<h2>Scores</h2><img src="scores.png" alt="score histogram">
<table><tr><th>student</th><th>score (of {report.max_score:g})</th></tr>{score_rows}</table>
<h2>Pass rate per autograded part</h2><img src="pass_rates.png" alt="pass rate per part">
<table><tr><th>grade id</th><th>what it checks</th><th>points</th><th>pass rate</th></tr>{part_rows}</table>
<h2>Most frequent failure messages</h2>
<table><tr><th>count</th><th>part</th><th>message</th></tr>{failure_rows}</table>
<h2>Submissions that could not be graded</h2>
<table><tr><th>student</th><th>reason</th></tr>{ungraded_rows}</table>
<h2>Late submissions</h2>
<table><tr><th>student</th><th>late by</th><th>penalty</th></tr>{late_rows}</table>
</body></html>
"""
    page_path = out_dir / "index.html"
    page_path.write_text(page, encoding="utf-8")
    return page_path
