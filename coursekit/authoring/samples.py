"""Sample submissions, generated from the instructor notebook (never edited by hand).

A submission is the student version (release/) with some solution cells filled in. The
answers come from source/: the code between ``### BEGIN SOLUTION`` and ``### END SOLUTION``
(markers removed). A *variant* then edits one answer to plant a known bug, so that the
expected loss of points is known in advance.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat

from coursekit.partkit.samples import Sample, chain, replace_once  # noqa: F401 -- a course's samples are made of these

SOLUTION_BEGIN = "### BEGIN SOLUTION"
SOLUTION_END = "### END SOLUTION"
_MARKER_LINE = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n?", re.MULTILINE)


def grade_id(cell: nbformat.NotebookNode) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def is_solution(cell: nbformat.NotebookNode) -> bool:
    return bool(cell.get("metadata", {}).get("nbgrader", {}).get("solution"))


def solution_text(source: str) -> str:
    """The instructor's answer with the solution marker lines removed."""
    return _MARKER_LINE.sub("", source)


def answers(source_nb: nbformat.NotebookNode) -> dict[str, str]:
    """grade_id -> the instructor's answer, for every solution cell of the source notebook."""
    return {grade_id(cell): solution_text(cell.source) for cell in source_nb.cells if is_solution(cell)}


def make_submission(release_nb: nbformat.NotebookNode, source_nb: nbformat.NotebookNode,
                    sample: Sample) -> nbformat.NotebookNode:
    """The release notebook with the sample's answers written into its solution cells."""
    known = answers(source_nb)
    wanted = set(known) if sample.fill is None else set(sample.fill)
    unknown = (wanted | set(sample.edits)) - set(known)
    if unknown:
        raise ValueError(f"sample {sample.student!r} names cells that are not solution cells: {sorted(unknown)}")
    nb = nbformat.from_dict(release_nb)
    for cell in nb.cells:
        gid = grade_id(cell)
        if gid is None or not is_solution(cell) or gid not in wanted | set(sample.edits):
            continue
        text = known[gid]
        if gid in sample.edits:
            text = sample.edits[gid](text)
        cell.source = text
    return nb


def write_samples(release_path: Path, source_path: Path, submitted_dir: Path, assignment: str,
                  timestamp: str, samples: tuple[Sample, ...]) -> list[Path]:
    """Write each sample as submitted/<student>/<assignment>/<notebook> with a timestamp.txt."""
    release_nb = nbformat.read(release_path, as_version=4)
    source_nb = nbformat.read(source_path, as_version=4)
    written = []
    for sample in samples:
        folder = submitted_dir / sample.student / assignment
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / release_path.name
        nbformat.write(make_submission(release_nb, source_nb, sample), target)
        (folder / "timestamp.txt").write_text(timestamp + "\n")
        written.append(target)
    return written
