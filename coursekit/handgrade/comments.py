"""A hand grade as nbgrader's comment of the cell: the ticked rubric items and the TA's own words.

The comment is markdown, shown as it is by formgrader and by the student's feedback page::

    **评分项**（3 / 4 分）：

    - ✓ [A] +2 指出多层线性映射可以合并为一层
    - ✓ [B] +1 说明表达能力受限……
    - ✗ [C] 未得 +1：说明非线性使多层网络能逼近复杂的非线性函数
    - ✗ [D] −1 "激活函数是为了把输出限制在某个范围内"……

    **助教评语：** 例子举得好。

Every point item is listed (earned ✓ or not earned ✗ 未得); a wrong answer only when it was ticked
(✗ with its negative points). :func:`parse_comment` reads such a comment back: the gradebook is the
only store of which items an answer has. A comment written any other way (in formgrader) has no
items, and all of it is the TA's words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from coursekit.handgrade.rubric import Rubric

HEADER = "**评分项**"
TA_PREFIX = "**助教评语：**"
_LINE = re.compile(r"^- ([✓✗]) \[([A-Za-z][A-Za-z0-9]{0,3})\] (未得 )?([+\-−]?[0-9.]+)")


@dataclass(frozen=True)
class Marks:
    """What a comment says: the ticked item ids and the TA's own comment."""

    ticked: frozenset[str]
    comment: str
    structured: bool  # written by this module (False: a free comment, e.g. from formgrader)


def _points(value: float) -> str:
    text = f"{abs(value):g}"
    return ("+" if value > 0 else "−" if value < 0 else "") + text


def format_comment(rubric: Rubric, ticked: set[str] | frozenset[str], comment: str = "") -> str:
    """The nbgrader comment of a grade with these items ticked (unknown ids: RubricError)."""
    for item_id in ticked:
        rubric.item(item_id)
    score = rubric.score(ticked)
    lines = [f"{HEADER}（{score:g} / {rubric.max_points:g} 分）：", ""]
    for item in rubric.items:
        if not item.wrong:
            if item.id in ticked:
                lines.append(f"- ✓ [{item.id}] {_points(item.points)} {item.text}")
            else:
                lines.append(f"- ✗ [{item.id}] 未得 {_points(item.points)}：{item.text}")
        elif item.id in ticked:
            lines.append(f"- ✗ [{item.id}] {_points(item.points)} {item.text}")
    comment = comment.strip()
    if comment:
        lines += ["", f"{TA_PREFIX} {comment}"]
    return "\n".join(lines)


def parse_comment(text: str | None) -> Marks:
    """The items and the TA's words of a comment from the gradebook."""
    text = (text or "").strip()
    if not text.startswith(HEADER):
        return Marks(frozenset(), text, structured=False)
    ticked, rest = set(), []
    for line in text.splitlines()[1:]:
        match = _LINE.match(line)
        if match:
            mark, item_id, not_earned = match.group(1), match.group(2), match.group(3)
            if mark == "✓" or (mark == "✗" and not not_earned):
                ticked.add(item_id)
        else:
            rest.append(line)
    words = "\n".join(rest).strip()
    if words.startswith(TA_PREFIX):
        words = words[len(TA_PREFIX):].strip()
    return Marks(frozenset(ticked), words, structured=True)
