"""Similarity report for a class: which answers were copied, with the starter code and common code excluded.

What is compared is the code each student wrote in the *code answer cells* of an assignment
(nbgrader solution cells, one part per grade_id); markdown answers (思考题) are not compared.

* **Normal form** (``normalise.py``, ``tokens.py``). Each submission's cells are parsed and rewritten
  on the syntax tree so that what a copier changes for free leaves no trace: prints, asserts and dead
  code go, small helpers are inlined, equivalent spellings (``torch.f(x)`` / ``x.f()``, ``x ** 2`` /
  ``x * x``, operand order of commutative operators, loops / comprehensions, temporaries) are written
  one way, and local names become ``V``. The tokens of that normal form are fingerprinted as k-grams
  of ``[similarity] noise`` characters.
* **Whole answers.** All answer cells of a submission are compared with all cells of the other, so
  code moved from one cell to another is found; the matches are then counted per cell, so the report
  can say which TODO matched and where its copy is.
* **What is not evidence.** Every code cell of the released notebook is boilerplate, and only the
  lines a student added or changed count. A k-gram found in more than ``common_share`` of the
  compared submissions (and in more than three), or in a known public source (``[similarity]
  sources``: the textbook's and the lectures' code), is *common*: shown, never counted. A student who
  left every part as released is *blank* and not compared.
* **The instructor's solution is a known source**, compared with every submission like one more student.
* **Flags.** A pair's score is the share of both submissions' rare code that matched. A pair is
  flagged when that score reaches ``threshold``, or when one answer cell on each side does (of its own
  rare code), with at least ``min_match`` characters of evidence on each side (matched code weighted
  by how few others have it: each k-gram, or for whole answers alike, all of it together).

The report page goes to ``reports/<assignment>/similarity.html``, the instructor's folder; nothing
here writes to ``feedback/``.
"""

from coursekit.grading.similarity.compare import (COMMON_FLOOR, Comparison, Pair, PartMatch, Result, _fingerprint,
                                                  analyse, compare_class, defined_names, read_sources, stream_of)
from coursekit.grading.similarity.extract import (SOLUTION, Answer, SimilarityError, Submission, Unreadable,
                                                  code_answer_cells, extract, read_submission,
                                                  without_solution_markers, written_lines)
from coursekit.grading.similarity.page import highlighted_cell, histogram, render_html, report_path, text_summary, write_html
from coursekit.grading.similarity.tokens import PURPOSE

__all__ = ["COMMON_FLOOR", "PURPOSE", "SOLUTION", "Answer", "Comparison", "Pair", "PartMatch", "Result",
           "SimilarityError", "Submission", "Unreadable", "analyse", "code_answer_cells", "compare_class",
           "defined_names", "extract", "highlighted_cell", "histogram", "read_sources", "read_submission",
           "render_html", "report_path", "stream_of", "text_summary", "without_solution_markers", "write_html",
           "written_lines"]
