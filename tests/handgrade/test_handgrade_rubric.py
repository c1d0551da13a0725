"""coursekit.handgrade.rubric: the rubric in the source notebook, checked against course.toml."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from coursekit.config import load_config
from coursekit.handgrade.rubric import (RubricError, StaleRubric, hand_graded_questions, load_current_rubric,
                                        load_rubric, load_rubrics, parse_rubric, rubric_problems, set_item_points)

ROOT = Path(__file__).resolve().parents[2]
CONFIG = load_config(ROOT / "course.toml")
CELL = """### BEGIN SOLUTION
**参考答案。** …

**评分要点（共 3 分）：**

- [A +2] 第一点
- [B +1] 第二点，$x^2$

**常见错误答案：**

- [C −1] "错的说法"：为什么错
- [D -0.5] 另一个
- [E 0] 只提醒

**助教注意：** 不是评分项。
### END SOLUTION"""


@pytest.mark.parametrize("assignment", list(CONFIG.assignments))
def test_every_hand_graded_question_has_a_rubric_that_adds_up_to_course_toml(assignment):
    rubrics = load_rubrics(CONFIG, assignment)
    manual = [gid for gid in CONFIG.assignment(assignment).points if gid.startswith("answer_")]
    assert sorted(rubrics) == sorted(manual) == sorted(hand_graded_questions(CONFIG, assignment))
    for gid, rubric in rubrics.items():
        earned = sum(i.points for i in rubric.items if not i.wrong)
        assert earned == CONFIG.assignment(assignment).points[gid]
        assert any(i.wrong for i in rubric.items), f"{gid} lists its common wrong answers as items"
        assert rubric.prompt.strip(), f"{gid}: the question before the answer cell"


def test_the_rubric_is_removed_from_the_release():
    release = "\n".join(c.source for c in nbformat.read(CONFIG.directory("release") / "lab2" / "lab2.ipynb",
                                                        as_version=4).cells)
    for item in load_rubric(CONFIG, "lab2", "answer_q1").items:
        assert item.text not in release


def test_parse_items_points_and_wrong_answers():
    rubric = parse_rubric(CELL, "a", "q", 3)
    assert [(i.id, i.points, i.wrong) for i in rubric.items] == [
        ("A", 2, False), ("B", 1, False), ("C", -1, True), ("D", -0.5, True), ("E", 0, True)]
    assert rubric.items[1].text == "第二点，$x^2$"
    assert rubric.score({"A", "B"}) == 3 and rubric.score({"A", "C"}) == 1
    assert rubric.score({"C", "D"}) == 0, "never below 0"
    with pytest.raises(RubricError, match="no rubric item 'Z'"):
        rubric.score({"Z"})


@pytest.mark.parametrize("change, message", [
    (("- [B +1] 第二点", "- [B 1 第二点"), "not '- \\[ID POINTS\\] TEXT'"),
    (("- [B +1]", "- [B −1]"), "must earn points"),
    (("- [C −1]", "- [C +1]"), "must be worth 0 or less"),
    (("- [D -0.5]", "- [A -0.5]"), "used twice: A"),
    (("- [A +2]", "- [A +3]"), "add up to 4, the cell is worth 3"),
    (("共 3 分", "共 5 分"), "says 共 5 分"),
])
def test_malformed_rubrics_are_refused_with_where(change, message):
    with pytest.raises(RubricError, match=message):
        parse_rubric(CELL.replace(*change), "lab2", "answer_q9", 3)


def test_a_cell_without_items_is_refused():
    with pytest.raises(RubricError, match="no rubric items"):
        parse_rubric("### BEGIN SOLUTION\n答案\n### END SOLUTION", "lab2", "answer_q1", 4)


def test_changing_points_rewrites_only_that_item_and_refuses_a_stale_rubric(course):
    path = course.directory("source") / "lab2" / "lab2.ipynb"
    before = nbformat.read(path, as_version=4)
    old = load_current_rubric(course, "lab2", "answer_q1")
    new = set_item_points(course, "lab2", "answer_q1", "D", -0.5, old.version)
    assert new.item("D").points == -0.5 and new.version != old.version
    assert [i for i in new.items if i.id != "D"] == [i for i in old.items if i.id != "D"]
    after = nbformat.read(path, as_version=4)
    changed = [k for k, (a, b) in enumerate(zip(before.cells, after.cells)) if a.source != b.source]
    assert len(changed) == 1 and "- [D −0.5] " in after.cells[changed[0]].source
    with pytest.raises(StaleRubric, match="reload the page"):
        set_item_points(course, "lab2", "answer_q1", "D", -1, old.version)
    with pytest.raises(RubricError, match="must be worth 0 or less"):
        set_item_points(course, "lab2", "answer_q1", "D", 1, new.version)
    moved = set_item_points(course, "lab2", "answer_q1", "A", 1.5, new.version)
    assert rubric_problems(moved) == ["评分要点合计 3.5 分，但这道题是 4 分"]
    with pytest.raises(RubricError, match="add up to 3.5"):
        load_rubric(course, "lab2", "answer_q1")
