"""The ``visible`` feedback policy's step: parts with hidden tests say nothing before the due date.

Runs in nbgrader's ``generate_feedback`` after ``GetGrades`` and before
:class:`coursekit.grading.feedback.SummarizeGrades`. A test cell with a hidden-test region is
marked withheld (the summary shows "–" and no total) and loses the verdict the grader wrote into
it (the pass line or the failure message, which may describe a hidden input), so the page tells
the student only what running the notebook themselves would: the parts whose checks are all
visible (the experiments) keep their points, messages and figures.
"""

from __future__ import annotations

from typing import Any

from nbconvert.preprocessors import Preprocessor
from nbformat import NotebookNode
from traitlets import Bool

from coursekit.grading.cells import NOTE_PREFIX, is_graded_test
from coursekit.grading.feedback import WITHHELD


def has_hidden_tests(cell: NotebookNode) -> bool:
    """Whether a test cell holds a hidden-test region (nbgrader's own delimiter)."""
    from nbgrader.preprocessors import ClearHiddenTests
    return ClearHiddenTests().begin_test_delimeter in cell.source


class WithholdHiddenResults(Preprocessor):
    """Withhold every result of the test cells that have hidden tests."""

    enabled = Bool(True, help="nbconvert skips preprocessors that are not enabled.").tag(config=True)

    def preprocess_cell(self, cell: NotebookNode, resources: dict[str, Any], index: int
                        ) -> tuple[NotebookNode, dict]:
        if not is_graded_test(cell) or not has_hidden_tests(cell):
            return cell, resources
        cell.metadata.setdefault("coursekit", {})["withheld"] = True
        cell.outputs = [o for o in cell.get("outputs", []) if not _verdict(o)]
        cell.outputs.append(NotebookNode(output_type="stream", name="stdout", text=f"{NOTE_PREFIX} {WITHHELD}。\n"))
        return cell, resources


def _verdict(output: NotebookNode) -> bool:
    """An output that tells the part's result: an error, or the grader's pass line."""
    if output.get("output_type") == "error":
        return True
    return output.get("output_type") == "stream" and str(output.get("text", "")).startswith(NOTE_PREFIX)
