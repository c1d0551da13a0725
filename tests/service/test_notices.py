"""coursekit.service.notices: pages laid out for nbgrader's release_feedback, saying what happens next."""

from __future__ import annotations

import datetime as dt

from bs4 import BeautifulSoup

from coursekit.service import notices
from coursekit.service.watcher import parse_attempt

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


def test_a_broken_notebook_gets_its_reason(tmp_path):
    root = notices.failed(tmp_path / "n", ATTEMPT, inbound(tmp_path), "lab2.ipynb", "lab2.ipynb 不是有效的笔记本文件")
    assert "lab2.ipynb 不是有效的笔记本文件" in text_of(root)
