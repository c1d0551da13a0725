"""coursekit.grading.report: the record of ungradable submissions, and the text summary."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from coursekit.config import load_config
from coursekit.grading.report import ClassReport, Part, read_grading_failures, record_grading_failures, text_table

CONFIG = load_config(Path(__file__).resolve().parents[2] / "course.toml")


def test_failures_are_remembered_until_graded(tmp_path):
    config = dataclasses.replace(CONFIG, root=tmp_path)
    assert read_grading_failures(config, "lab2") == {}
    record_grading_failures(config, "lab2", graded=["ann"], failed={"bob": "NotJSONError: ...", "cy": "timeout"})
    record_grading_failures(config, "lab2", graded=["bob"], failed={})
    assert read_grading_failures(config, "lab2") == {"cy": "timeout"}


def test_text_table_summarises_the_class():
    report = ClassReport("lab2", 100, scores={"a": 80.0, "b": 58.0, "c": 0.0},
                         parts={"test_relu": Part("test_relu", "ReLU", 6, passed=2, graded=3)},
                         ungraded={"d": "NotJSONError: bad file"}, late={"b": (24.0, 58.0)})
    text = text_table(report)
    assert "3 graded, 1 could not be graded, 1 late" in text
    assert "min 0, median 58, max 80" in text
    assert "test_relu" in text and "67%  (2/3)" in text
    assert "could not grade d: NotJSONError: bad file" in text


def test_class_page_links_the_similarity_report_only_when_it_exists(tmp_path):
    from coursekit.grading.report import write_report
    report = ClassReport("lab2", 100, scores={"a": 80.0}, parts={"test_relu": Part("test_relu", "ReLU", 3, 1, 1)})
    page = write_report(report, tmp_path / "lab2")
    assert "similarity.html" not in page.read_text(encoding="utf-8")
    (tmp_path / "lab2" / "similarity.html").write_text("<html></html>", encoding="utf-8")
    page = write_report(report, tmp_path / "lab2")
    assert '<a href="similarity.html">Similarity report</a>' in page.read_text(encoding="utf-8")
