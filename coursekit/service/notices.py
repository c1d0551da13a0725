"""The pages a student gets for a submission the service does not grade now (or could not grade).

Each page is written into a folder of its own, laid out the way nbgrader's ``release_feedback``
expects (``<folder>/<student>/<assignment>/<notebook>.html`` beside the submission's
``timestamp.txt`` and ``submission_secret.txt``), so nbgrader releases it to that very submission
and the student reads it with the usual *Fetch Feedback*. The course's ``feedback/`` folder is not
touched.
"""

from __future__ import annotations

import datetime as dt
import html
import shutil
from pathlib import Path

from coursekit.grading.feedback import write_failure_feedback
from coursekit.service.watcher import Attempt


def when(moment: dt.datetime, zone: dt.tzinfo | None) -> str:
    """A moment as the course writes its due date (the due date's time zone)."""
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S (UTC%z)")


def folder_name(attempt_name: str) -> str:
    """A submission's name as a folder name the service's own paths (and nbgrader's patterns) take as is."""
    return attempt_name.replace("+", "_")


def notice_folder(root: Path, attempt: Attempt) -> Path:
    """The feedback_directory of one submission's notice (``root/<attempt>``)."""
    return root / folder_name(attempt.name)


def _submission_folder(root: Path, attempt: Attempt, inbound: Path) -> Path:
    """``<notice folder>/<student>/<assignment>`` with the submission's timestamp and secret beside the page,
    which is how release_feedback finds the submission a page belongs to."""
    folder = notice_folder(root, attempt) / attempt.student / attempt.assignment
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("timestamp.txt", "submission_secret.txt"):
        shutil.copyfile(inbound / name, folder / name)
    return folder


def _write(root: Path, attempt: Attempt, inbound: Path, notebook: str, title: str, paragraphs: list[str]) -> Path:
    folder = _submission_folder(root, attempt, inbound)
    body = "\n".join(f"<p>{p}</p>" for p in paragraphs)
    page = folder / (Path(notebook).stem + ".html")
    page.write_text(f"""<!DOCTYPE html>
<html lang="zh"><head><meta charset="utf-8"><title>{html.escape(attempt.assignment)}: {html.escape(title)}</title></head>
<body style="font-family: sans-serif; max-width: 48em; margin: 2em auto">
<h1>{html.escape(attempt.assignment)}：{html.escape(title)}</h1>
{body}
</body></html>
""", encoding="utf-8")
    return notice_folder(root, attempt)


def deferred(root: Path, attempt: Attempt, inbound: Path, notebook: str, until: dt.datetime | None,
             due: dt.datetime, per_hour: int, total: int) -> Path:
    """Over the rate limit: the submission is kept; when it (or a newer one) will be graded."""
    submitted = html.escape(when(attempt.submitted_at, due.tzinfo))
    rule = f"每位同学每小时最多自动评分 {per_hour} 次，截止前一共最多 {total} 次"
    if until is not None and until < due:
        next_time = html.escape(when(until, due.tzinfo))
        plan = (f"下一次评分时间：<b>{next_time}</b>。到时会评这份提交；如果在那之前你又提交了，就评最新的一份。"
                f"(The next grading: {next_time}; this submission, or a newer one if you submit again.)")
    else:
        plan = (f"截止前不再自动评分；截止时间 <b>{html.escape(when(due, due.tzinfo))}</b> 一到，你最后一份按时提交的作业会被评分。"
                f"(No more grading before the due date; your last on-time submission is graded then.)")
    return _write(root, attempt, inbound, notebook, "提交已收到，稍后评分", [
        f"你在 {submitted} 的提交已经收到并保存，不会丢失 (your submission is kept)。",
        f"{rule}，你已经用完了这一段时间的次数，所以它现在还没有评分。",
        plan,
        "反复提交不会得到更多信息：请先用笔记本里的自查单元格找出问题。"])


def superseded(root: Path, attempt: Attempt, inbound: Path, notebook: str, newer: Attempt, zone: dt.tzinfo | None) -> Path:
    """A newer submission of the same student replaced this one before it was graded."""
    return _write(root, attempt, inbound, notebook, "已被更新的提交取代", [
        f"你在 {html.escape(when(attempt.submitted_at, zone))} 的提交没有单独评分：你在 "
        f"{html.escape(when(newer.submitted_at, zone))} 又提交了一次，评分的是那一份（它的反馈单独发布）。",
        "这份提交仍保存在课程的提交记录里。(A newer submission replaced this one before it was graded; it is kept.)"])


def not_counted(root: Path, attempt: Attempt, inbound: Path, notebook: str, counted: Attempt, due: dt.datetime) -> Path:
    """Late, while an on-time submission of the student counts."""
    return _write(root, attempt, inbound, notebook, "截止后提交，不计分", [
        f"这份提交（{html.escape(when(attempt.submitted_at, due.tzinfo))}）晚于截止时间 "
        f"{html.escape(when(due, due.tzinfo))}。",
        f"计分的是你截止前最后一次提交（{html.escape(when(counted.submitted_at, due.tzinfo))}），它的反馈单独发布。"
        "这份迟交的作业仍保存在课程的提交记录里。(Late; your last on-time submission counts. This one is kept.)"])


def failed(root: Path, attempt: Attempt, inbound: Path, notebook: str, reason: str) -> Path:
    """The submission could not be graded: the reason (the class path's own page, for this submission)."""
    write_failure_feedback(_submission_folder(root, attempt, inbound), attempt.assignment, notebook, reason)
    return notice_folder(root, attempt)
