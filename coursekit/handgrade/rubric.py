"""The rubric of a hand-graded answer cell, kept in the instructor's (source) notebook.

A hand-graded cell (nbgrader ``grade`` and ``solution``, markdown) holds its model answer between
``### BEGIN SOLUTION`` and ``### END SOLUTION``, so nbgrader removes it from release/. Inside that
region the rubric is two markdown lists, readable as part of the model answer::

    **评分要点（共 4 分）：**

    - [A +2] 指出多层线性映射可以合并为一层
    - [B +1] ...

    **常见错误答案：**

    - [D −1] "激活函数是为了把输出限制在某个范围内"：那是输出层的事

Each item is ``- [ID POINTS] TEXT``: ID a short name that never changes (a letter), POINTS signed
(``+2``, ``−1``, ``-0.5``; 0 allowed for a wrong answer worth a note only), TEXT what the student sees.
Items under 评分要点 earn points (> 0) and add up to the cell's points; items under 常见错误答案 are
the common wrong answers (≤ 0). A score is the sum of the ticked items, kept between 0 and the
cell's points.

:func:`parse_rubric` reads one cell's source, :func:`load_rubric` the rubric of an assignment's
question from course.toml's source notebook, :func:`set_item_points` changes one item's points there.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import nbformat

from coursekit.config import CourseConfig

POINTS_HEADER = "评分要点"
WRONG_HEADER = "常见错误答案"
_HEADER = re.compile(r"^\*\*(评分要点|常见错误答案)(?:（共\s*([0-9.]+)\s*分）)?[：:]\*\*")
_ITEM = re.compile(r"^- \[([A-Za-z][A-Za-z0-9]{0,3}) ([+\-−]?[0-9]+(?:\.[0-9]+)?)\] (\S.*)$")
_POINTS_IN_ITEM = re.compile(r"^(- \[[A-Za-z][A-Za-z0-9]{0,3} )([+\-−]?[0-9]+(?:\.[0-9]+)?)(\] )")

#: One lock per process for rewriting source notebooks (two TAs on one server).
_write_lock = threading.Lock()


class RubricError(ValueError):
    """A rubric that cannot be read or used, said in one sentence with where it is."""


class StaleRubric(RubricError):
    """The rubric changed since the page read it: nothing was written."""


@dataclass(frozen=True)
class Item:
    """One rubric item: its id, its points (negative for a wrong answer) and the text a student sees."""

    id: str
    points: float
    text: str

    @property
    def wrong(self) -> bool:
        """A common wrong answer (from 常见错误答案), not a point earned."""
        return self.points <= 0


@dataclass(frozen=True)
class Rubric:
    """The rubric of one hand-graded cell; `version` changes whenever any item changes."""

    assignment: str
    question: str
    max_points: float
    items: tuple[Item, ...]
    prompt: str  # the question the student answers (the markdown cell before the answer cell)

    @property
    def version(self) -> str:
        text = "\n".join(f"{i.id} {i.points} {i.text}" for i in self.items) + f"\n{self.max_points}"
        return hashlib.sha1(text.encode("utf-8")).hexdigest()[:12]

    def item(self, item_id: str) -> Item:
        for item in self.items:
            if item.id == item_id:
                return item
        raise RubricError(f"{self.assignment} {self.question}: no rubric item '{item_id}' "
                          f"(items: {', '.join(i.id for i in self.items)})")

    def score(self, ticked: set[str] | frozenset[str]) -> float:
        """The points of the ticked items, between 0 and the cell's points."""
        total = sum(self.item(item_id).points for item_id in ticked)
        return round(min(max(total, 0.0), self.max_points), 4)

    def ordered(self, ticked: set[str] | frozenset[str]) -> list[str]:
        """The ticked ids in the rubric's order."""
        return [i.id for i in self.items if i.id in ticked]


def _number(text: str) -> float:
    return float(text.replace("−", "-"))


def solution_region(source: str) -> str:
    """The text between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` (empty when there is none)."""
    lines, inside = [], False
    for line in source.splitlines():
        if line.strip() == "### BEGIN SOLUTION":
            inside = True
        elif line.strip() == "### END SOLUTION":
            inside = False
        elif inside:
            lines.append(line)
    return "\n".join(lines)


def parse_items(source: str, where: str) -> tuple[float | None, list[Item]]:
    """The stated total (共 N 分) and the items of a cell's solution region; RubricError when malformed."""
    total, section, items = None, None, []
    for number, line in enumerate(solution_region(source).splitlines(), start=1):
        header = _HEADER.match(line.strip())
        if header:
            section = header.group(1)
            if section == POINTS_HEADER and header.group(2):
                total = float(header.group(2))
            continue
        if section is None:
            continue
        if line.startswith("- ["):
            match = _ITEM.match(line.rstrip())
            if not match:
                raise RubricError(f"{where}: rubric line {number} is not '- [ID POINTS] TEXT': {line.strip()[:60]!r}")
            item = Item(match.group(1), _number(match.group(2)), match.group(3).strip())
            if section == POINTS_HEADER and item.points <= 0:
                raise RubricError(f"{where}: item {item.id} under {POINTS_HEADER} must earn points (got {item.points:g})")
            if section == WRONG_HEADER and item.points > 0:
                raise RubricError(f"{where}: item {item.id} under {WRONG_HEADER} must be worth 0 or less "
                                  f"(got +{item.points:g})")
            items.append(item)
        elif line.strip() and not line.startswith("  "):
            section = None  # the list ended: what follows is prose (e.g. 助教注意)
    ids = [i.id for i in items]
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    if repeated:
        raise RubricError(f"{where}: rubric item ids used twice: {', '.join(repeated)}")
    return total, items


def parse_rubric(source: str, assignment: str, question: str, max_points: float, prompt: str = "") -> Rubric:
    """The rubric of one cell's source; its positive items must add up to `max_points`."""
    where = f"{assignment} {question}"
    total, items = parse_items(source, where)
    if not items:
        raise RubricError(f"{where}: the model answer has no rubric items ('- [A +1] …' under **{POINTS_HEADER}：**)")
    earned = round(sum(i.points for i in items if not i.wrong), 4)
    if earned != float(max_points):
        raise RubricError(f"{where}: the {POINTS_HEADER} items add up to {earned:g}, the cell is worth {max_points:g}")
    if total is not None and total != float(max_points):
        raise RubricError(f"{where}: the rubric says 共 {total:g} 分, the cell is worth {max_points:g}")
    return Rubric(assignment, question, float(max_points), tuple(items), prompt)


def _nbgrader(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def is_hand_graded(cell) -> bool:
    """A markdown answer cell graded by hand (nbgrader: grade and solution)."""
    meta = _nbgrader(cell)
    return cell.get("cell_type") == "markdown" and bool(meta.get("grade")) and bool(meta.get("solution"))


def source_notebook(config: CourseConfig, assignment: str) -> Path:
    return config.directory("source") / assignment / config.assignment(assignment).notebook


def hand_graded_questions(config: CourseConfig, assignment: str) -> list[str]:
    """The grade ids of the assignment's hand-graded answer cells, in notebook order."""
    nb = nbformat.read(source_notebook(config, assignment), as_version=4)
    return [_nbgrader(cell)["grade_id"] for cell in nb.cells if is_hand_graded(cell)]


def _rubrics(config: CourseConfig, assignment: str, nb, strict: bool = True) -> dict[str, Rubric]:
    """The rubrics of a notebook. `strict` also checks that the earned items add up to the cell's
    points; without it, such a rubric is still returned (a TA may be moving points between items,
    one change per item; :func:`rubric_problems` says what does not add up)."""
    points = config.assignment(assignment).points
    rubrics, previous = {}, ""
    for cell in nb.cells:
        if is_hand_graded(cell):
            gid = _nbgrader(cell)["grade_id"]
            if gid not in points:
                raise RubricError(f"{config.path}: assignments.{assignment}.points has no '{gid}'")
            if strict:
                rubrics[gid] = parse_rubric(cell.source, assignment, gid, float(points[gid]), prompt=previous)
            else:
                _, items = parse_items(cell.source, f"{assignment} {gid}")
                rubrics[gid] = Rubric(assignment, gid, float(points[gid]), tuple(items), previous)
        if cell.get("cell_type") == "markdown":
            previous = cell.source
    return rubrics


def load_rubrics(config: CourseConfig, assignment: str) -> dict[str, Rubric]:
    """Every hand-graded question's rubric of an assignment, by grade id, checked against course.toml."""
    path = source_notebook(config, assignment)
    if not path.is_file():
        raise RubricError(f"{path}: the source notebook of '{assignment}' is missing")
    return _rubrics(config, assignment, nbformat.read(path, as_version=4))


def load_rubric(config: CourseConfig, assignment: str, question: str) -> Rubric:
    rubrics = load_rubrics(config, assignment)
    if question not in rubrics:
        raise RubricError(f"{assignment}: no hand-graded question '{question}' "
                          f"(there are: {', '.join(rubrics) or 'none'})")
    return rubrics[question]


def _points_text(points: float) -> str:
    text = f"{abs(points):g}"
    return ("+" if points > 0 else "−" if points < 0 else "") + text


def set_item_points(config: CourseConfig, assignment: str, question: str, item_id: str, points: float,
                    expected_version: str) -> Rubric:
    """Change one item's points in the source notebook and return the new rubric.

    Refused (RubricError, nothing written) when the rubric changed since `expected_version` was read
    or when the new points would move the item to the other list (a point earned stays > 0, a wrong
    answer ≤ 0). Earned items that no longer add up to the cell's points are allowed (moving points
    between items takes one change per item); :func:`rubric_problems` reports them.
    """
    path = source_notebook(config, assignment)
    with _write_lock:
        nb = nbformat.read(path, as_version=4)
        rubric = _rubrics(config, assignment, nb, strict=False).get(question)
        if rubric is None:
            raise RubricError(f"{assignment}: no hand-graded question '{question}'")
        if rubric.version != expected_version:
            raise StaleRubric(f"{assignment} {question}: the rubric was changed by someone else since this page "
                              "loaded it; reload the page and try again")
        item = rubric.item(item_id)
        if (item.points > 0) != (points > 0):
            side = "earn points (> 0)" if item.points > 0 else "be worth 0 or less"
            raise RubricError(f"{assignment} {question}: item {item_id} must {side}; got {points:g}")
        for cell in nb.cells:
            if is_hand_graded(cell) and _nbgrader(cell)["grade_id"] == question:
                lines = cell.source.split("\n")
                for k, line in enumerate(lines):
                    if line.startswith(f"- [{item_id} "):
                        lines[k] = _POINTS_IN_ITEM.sub(lambda m: m.group(1) + _points_text(points) + m.group(3), line)
                cell.source = "\n".join(lines)
        _atomic_write(nb, path)
    return _rubrics(config, assignment, nbformat.read(path, as_version=4), strict=False)[question]


def load_current_rubric(config: CourseConfig, assignment: str, question: str) -> Rubric:
    """The rubric as the source notebook has it now, even while its earned items do not add up
    (what the grading page shows; :func:`load_rubric` is the checked one)."""
    path = source_notebook(config, assignment)
    rubrics = _rubrics(config, assignment, nbformat.read(path, as_version=4), strict=False)
    if question not in rubrics:
        raise RubricError(f"{assignment}: no hand-graded question '{question}' (there are: {', '.join(rubrics)})")
    return rubrics[question]


def rubric_problems(rubric: Rubric) -> list[str]:
    """What keeps a rubric from being the cell's (empty when it is fine)."""
    earned = round(sum(i.points for i in rubric.items if not i.wrong), 4)
    if earned != rubric.max_points:
        return [f"评分要点合计 {earned:g} 分，但这道题是 {rubric.max_points:g} 分"]
    return []


def _atomic_write(nb, path: Path) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            nbformat.write(nb, out)
        os.chmod(tmp, path.stat().st_mode & 0o777)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
