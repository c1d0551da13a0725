"""coursekit.grading.secret: one secret per course folder, made once, private, shared by every grading process."""

from __future__ import annotations

import os
import stat

from coursekit.grading import secret
from coursekit.grading.secret import FILE_NAME, grading_secret


def test_the_first_use_makes_a_private_secret_and_every_later_use_reads_it(tmp_path):
    value = grading_secret(tmp_path)
    path = tmp_path / FILE_NAME
    assert len(value) == 32 and path.read_text() == value.hex() + "\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600, "only the grader reads it"
    assert grading_secret(tmp_path) == value and grading_secret(str(tmp_path)) == value
    assert sorted(p.name for p in tmp_path.iterdir()) == [FILE_NAME], "no temporary file left behind"


def test_a_course_keeps_the_secret_it_was_given_and_a_deleted_one_is_drawn_anew(tmp_path):
    (tmp_path / FILE_NAME).write_text("ab" * 32 + "\n")
    assert grading_secret(tmp_path) == bytes.fromhex("ab" * 32)
    (tmp_path / FILE_NAME).unlink()
    assert grading_secret(tmp_path) != bytes.fromhex("ab" * 32)


def test_when_another_process_makes_the_secret_first_both_use_that_one(tmp_path, monkeypatch):
    """Two grading processes start together: the one that links second reads the first one's secret."""
    theirs = "cd" * 32
    link = os.link

    def beaten(source, target):
        (tmp_path / FILE_NAME).write_text(theirs + "\n")  # the other process got there in between
        link(source, target)

    monkeypatch.setattr(secret.os, "link", beaten)
    assert grading_secret(tmp_path) == bytes.fromhex(theirs)
    assert sorted(p.name for p in tmp_path.iterdir()) == [FILE_NAME]
