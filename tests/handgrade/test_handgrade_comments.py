"""coursekit.handgrade.comments: a grade's items as nbgrader's comment, and read back."""

from __future__ import annotations

from pathlib import Path

import pytest

from coursekit.config import load_config
from coursekit.handgrade.comments import format_comment, parse_comment
from coursekit.handgrade.rubric import RubricError, load_rubric

ROOT = Path(__file__).resolve().parents[2]
RUBRIC = load_rubric(load_config(ROOT / "course.toml"), "lab2", "answer_q1")


def test_the_comment_lists_items_earned_and_lost_and_reads_back():
    text = format_comment(RUBRIC, {"A", "D"}, "  例子举得好\n第二行 ")
    lines = text.splitlines()
    assert lines[0] == "**评分项**（1 / 4 分）："
    assert lines[2].startswith("- ✓ [A] +2 指出多层线性映射")
    assert lines[3].startswith("- ✗ [B] 未得 +1：") and lines[4].startswith("- ✗ [C] 未得 +1：")
    assert lines[5].startswith("- ✗ [D] −1 \"激活函数是为了")
    assert not any("[E]" in line or "[F]" in line for line in lines), "wrong answers not made are not listed"
    assert text.endswith("**助教评语：** 例子举得好\n第二行")
    marks = parse_comment(text)
    assert marks.structured and marks.ticked == {"A", "D"} and marks.comment == "例子举得好\n第二行"


@pytest.mark.parametrize("ticked", [set(), {"A", "B", "C"}, {"B", "E", "F"}])
def test_round_trip(ticked):
    assert parse_comment(format_comment(RUBRIC, ticked)).ticked == ticked


def test_a_formgrader_comment_is_kept_as_words():
    marks = parse_comment("写得不错，但没有举例。")
    assert not marks.structured and marks.ticked == frozenset() and marks.comment == "写得不错，但没有举例。"
    assert parse_comment(None).comment == ""


def test_unknown_item_is_refused():
    with pytest.raises(RubricError, match="no rubric item 'Q'"):
        format_comment(RUBRIC, {"Q"})
