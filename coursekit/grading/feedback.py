"""Feedback that teaches without giving the hidden tests away: two nbconvert preprocessors that
nbgrader's ``generate_feedback`` runs (configured in nbgrader_config.py from course.toml).

* :class:`SummarizeGrades` puts a table at the top of the feedback: every graded part, points
  earned / possible, and a one-line status (the failed test's own message, in words).
* :class:`HideHiddenTests` removes the hidden-test regions from the test cells and replaces
  each test cell's error traceback (whose frames would quote hidden lines) by its message.

Both run after nbgrader's ``GetGrades``, which writes each graded cell's score into its metadata.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

from nbconvert.preprocessors import Preprocessor
from nbformat import NotebookNode
from nbgrader.utils import is_grade, is_solution
from nbformat.v4 import new_markdown_cell
from traitlets import Bool, Unicode

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
#: Status of a part whose result is withheld until the due date (the grading service's ``visible`` policy).
WITHHELD = "含隐藏测试，结果在截止日期后公布"


def _nbgrader(cell: NotebookNode) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def error_message(cell: NotebookNode) -> str | None:
    """'Type: message' of the first error a cell raised, or None."""
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            text = f"{output.get('ename', 'Error')}: {output.get('evalue', '')}".strip()
            return _ANSI.sub("", text)
    return None


def student_message(cell: NotebookNode) -> str | None:
    """The failure message meant for the student: a failed check's own text, or the error."""
    message = error_message(cell)
    if message is None:
        return None
    return message.removeprefix("CheckFailed: ")


def part_label(cell: NotebookNode) -> str:
    """What a graded cell checks: a test cell's one-line docstring, or a 思考题's title."""
    meta = _nbgrader(cell)
    gid = meta.get("grade_id", "")
    if cell.cell_type == "code":
        try:
            first = ast.parse(cell.source).body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                return str(first.value.value).strip().splitlines()[0]
        except (SyntaxError, IndexError):
            pass
    if gid.startswith("answer_q"):
        return f"思考题 {gid.removeprefix('answer_q')}（人工评分）"
    return gid


def shorten(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def status_line(message: str) -> str:
    """A failure message cut for one table cell: what went wrong, then the hint, without the
    long description of the input in between."""
    head, _, hint = message.partition("提示：")
    head = head.split("（输入")[0]
    return shorten(head, 110) + (f" 提示：{shorten(hint, 90)}" if hint else "")


def _cell_text(value: str) -> str:
    """Text safe inside one markdown table cell."""
    return value.replace("|", "\\|").replace("\n", " ")


class SummarizeGrades(Preprocessor):
    """Insert a summary table of every graded part at the top of the feedback."""

    enabled = Bool(True, help="nbconvert skips preprocessors that are not enabled.").tag(config=True)
    title = Unicode("## 成绩概要", help="Heading of the summary table.").tag(config=True)

    def preprocess(self, nb: NotebookNode, resources: dict[str, Any]) -> tuple[NotebookNode, dict]:
        rows = []
        withheld = False
        pending = awaiting_manual_grade(nb, resources)
        for cell in nb.cells:
            meta = _nbgrader(cell)
            if not meta.get("grade"):
                continue
            score, points = meta.get("score"), meta.get("points", 0)
            if cell.metadata.get("coursekit", {}).get("withheld"):  # coursekit.service.visible, before the due date
                status, earned = "○ " + WITHHELD, "–"
                withheld = True
            elif score is None or meta.get("grade_id") in pending:
                status = "○ 待助教评分"
                earned = "–"
            else:
                earned = f"{score:g}"
                if meta.get("solution"):
                    status = "✓ 已评分" if score > 0 else "✗ 未作答或未得分"
                elif score >= points:
                    status = "✓ 通过"
                else:
                    message = student_message(cell)
                    status = "✗ " + status_line(message) if message else "✗ 未通过"
            score_text = f"{earned}\u00a0/\u00a0{points:g}"  # non-breaking: the column never wraps "6 /" over "6"
            rows.append(f"| {_cell_text(part_label(cell))} | {score_text} | {_cell_text(status)} |")
        info = resources.get("nbgrader", {})
        total = ""
        if "score" in info and "max_score" in info and not withheld:
            total = f"\n\n**总分：{info['score']:g} / {info['max_score']:g}**"
            if info.get("late_penalty"):
                total += f"（迟交扣分 {info['late_penalty']:g}）"
        table = "\n".join(["| 部分 | 得分 | 状态 |", "|---|---|---|", *rows])
        note = ("\n\n每个未通过的测试下面都写明了原因：哪个函数、什么输入、期望值和实际值，以及提示。"
                "评分时运行了更多隐藏测试，它们的代码不在这份反馈里。")
        summary = new_markdown_cell(f"{self.title}\n\n{table}{total}{note}")
        summary.metadata["coursekit"] = {"summary": True}
        nb.cells.insert(0, summary)
        return nb, resources


def awaiting_manual_grade(nb: NotebookNode, resources: dict[str, Any]) -> set[str]:
    """grade_ids of the notebook's cells that nbgrader's gradebook says still need a TA."""
    info = resources.get("nbgrader", {})
    if not all(key in info for key in ("db_url", "notebook", "assignment", "student")):
        return set()
    from nbgrader.api import Gradebook, MissingEntry
    pending = set()
    with Gradebook(info["db_url"]) as gradebook:
        for cell in nb.cells:
            gid = _nbgrader(cell).get("grade_id")
            if not _nbgrader(cell).get("grade"):
                continue
            try:
                grade = gradebook.find_grade(gid, info["notebook"], info["assignment"], info["student"])
            except MissingEntry:
                continue
            if grade.needs_manual_grade:
                pending.add(gid)
    return pending


class HideHiddenTests(Preprocessor):
    """Remove hidden-test code from test cells, and tracebacks that would quote it."""

    enabled = Bool(True, help="nbconvert skips preprocessors that are not enabled.").tag(config=True)

    def preprocess_cell(self, cell: NotebookNode, resources: dict[str, Any], index: int
                        ) -> tuple[NotebookNode, dict]:
        if cell.cell_type != "code" or not is_grade(cell) or is_solution(cell):
            return cell, resources
        cell.source = remove_hidden_region(cell.source)
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                output["traceback"] = [f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"]
        return cell, resources


def remove_hidden_region(source: str) -> str:
    """The source without its hidden-test regions (nbgrader's own ClearHiddenTests parser, which
    raises on a region without its END marker), a note standing where the first region was."""
    from nbgrader.preprocessors import ClearHiddenTests

    clear = ClearHiddenTests()
    cell = NotebookNode(cell_type="code", source=source, metadata={})
    if not clear._remove_hidden_test_region(cell):
        return source
    original = source.split("\n")
    begin = next(i for i, line in enumerate(original) if clear.begin_test_delimeter in line)
    indent = original[begin][: len(original[begin]) - len(original[begin].lstrip())]
    shown = cell.source.split("\n")
    shown.insert(begin, f"{indent}# （隐藏测试：评分时运行，代码不显示）")
    return "\n".join(shown)


def write_failure_feedback(folder: Path, assignment: str, notebook: str, reason: str) -> Path:
    """The feedback page of a submission nbgrader could not grade: why, and what to do.

    Written where nbgrader puts feedback (feedback/<student>/<assignment>/<notebook>.html) so that the
    student finds it in the same place; an existing nbgrader feedback page is never replaced.
    """
    import html
    page = Path(folder) / (Path(notebook).stem + ".html")
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text(f"""<!DOCTYPE html>
<html lang="zh"><head><meta charset="utf-8"><title>{html.escape(assignment)}: 未能评分</title></head>
<body style="font-family: sans-serif; max-width: 48em; margin: 2em auto">
<h1>{html.escape(assignment)}：这份提交未能自动评分</h1>
<p><b>原因 (reason)：</b>{html.escape(reason)}</p>
<p>得分 (score)：0 —— 不是因为答案错误，而是评分程序无法运行这份提交。请按上面的原因修正后重新提交；
如有疑问请联系助教。</p>
<p>This submission could not be graded, so it has no score yet. Fix what the reason says and submit again.</p>
</body></html>
""", encoding="utf-8")
    return page
