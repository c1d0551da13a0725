"""coursekit.service.notices: pages laid out for nbgrader's release_feedback, saying what happens next."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

from bs4 import BeautifulSoup

from coursekit.config import load_config
from coursekit.grading import classgrade
from coursekit.service import notices
from coursekit.service.watcher import parse_attempt

ROOT = Path(__file__).resolve().parents[2]
CHINA = dt.timezone(dt.timedelta(hours=8))
DUE = dt.datetime(2026, 12, 14, 23, 59, tzinfo=CHINA)
ATTEMPT = parse_attempt("alice+lab2+2026-12-01 08:00:00.000000 UTC+aB_c")


def inbound(tmp_path):
    folder = tmp_path / "inbound" / ATTEMPT.name
    folder.mkdir(parents=True)
    (folder / "timestamp.txt").write_text("2026-12-01 08:00:00.000000 UTC")
    (folder / "submission_secret.txt").write_text("f" * 128)
    return folder


def text_of(root, name="lab2.html"):
    page = root / "alice" / "lab2" / name
    return BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser").get_text()


def test_a_deferred_submission_is_told_when_it_will_be_graded(tmp_path):
    until = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.timezone.utc)
    root = notices.deferred(tmp_path / "notices", ATTEMPT, inbound(tmp_path), "lab2.ipynb", until, DUE, 4, 20)
    assert "+" not in root.name, "nbgrader matches the folder with a pattern: no '+'"
    folder = root / "alice" / "lab2"
    assert (folder / "submission_secret.txt").read_text() == "f" * 128, "released to this very submission"
    assert (folder / "timestamp.txt").is_file()
    text = text_of(root)
    assert "2026-12-01 17:00:00 (UTC+0800)" in text, "the next grading, in the course's time zone"
    assert "每小时最多自动评分 4 次" in text and "不会丢失" in text


def test_over_the_total_the_page_names_the_due_date(tmp_path):
    root = notices.deferred(tmp_path / "n", ATTEMPT, inbound(tmp_path), "lab2.ipynb", None, DUE, 4, 20)
    assert "2026-12-14 23:59:00 (UTC+0800)" in text_of(root) and "截止前不再自动评分" in text_of(root)


def broken_submission_reason(tmp_path, files: dict[str, bytes]) -> str:
    """The reason the class-grading path gives for a submission of these files (as the service grades it)."""
    config = dataclasses.replace(load_config(ROOT / "course.toml"), root=tmp_path / "course")
    folder = config.directory("submitted") / ATTEMPT.student / ATTEMPT.assignment
    folder.mkdir(parents=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    reason = classgrade.precheck(config, ATTEMPT.assignment, ATTEMPT.student, set())
    assert reason, "the class-grading path refuses this submission"
    return reason


def test_a_broken_notebook_gets_a_page_with_its_reason_where_the_student_fetches_it(tmp_path):
    """A notebook cut off in the middle: the page sits beside this submission's secret, shows the reason the
    grading path gave word for word, names the notebook, and says the 0 is not a judgement of the answers."""
    reason = broken_submission_reason(tmp_path, {"lab2.ipynb": b'{"cells": [ {"cell_type": "co'})
    root = notices.failed(tmp_path / "notices", ATTEMPT, inbound(tmp_path), "lab2.ipynb", reason)
    assert root == notices.notice_folder(tmp_path / "notices", ATTEMPT), "the folder the service releases"
    folder = root / "alice" / "lab2"
    assert sorted(p.name for p in folder.iterdir()) == ["lab2.html", "submission_secret.txt", "timestamp.txt"]
    assert (folder / "submission_secret.txt").read_text() == "f" * 128, "released to this very submission"
    page = BeautifulSoup((folder / "lab2.html").read_text(encoding="utf-8"), "html.parser")
    assert page.title.get_text().startswith("lab2")
    reason_line = next(p for p in page.find_all("p") if p.b is not None)
    assert reason_line.get_text() == "原因 (reason)：" + reason
    assert "lab2.ipynb" in reason_line.get_text() and "JSON" in reason_line.get_text()
    assert "得分 (score)：0" in page.get_text() and "不是因为答案错误" in page.get_text()
    assert not (tmp_path / "course" / "feedback").exists(), "the course's feedback/ is not touched"


def test_a_reason_quoting_the_students_file_names_is_shown_as_text(tmp_path):
    """A renamed notebook: the reason quotes the student's own file name, which is markup here; the page
    shows it as text and runs nothing."""
    name = '<img src=x onerror="alert(1)">.ipynb'
    reason = broken_submission_reason(tmp_path, {name: b"{}"})
    assert name in reason
    root = notices.failed(tmp_path / "notices", ATTEMPT, inbound(tmp_path), "lab2.ipynb", reason)
    raw = (root / "alice" / "lab2" / "lab2.html").read_text(encoding="utf-8")
    page = BeautifulSoup(raw, "html.parser")
    assert page.find("img") is None and page.find("script") is None, "no element from the reason"
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;.ipynb" in raw
    assert name in page.get_text() and "lab2.ipynb" in page.get_text()
