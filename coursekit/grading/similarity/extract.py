"""What is compared: the code a student wrote, per code answer cell of an assignment."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

import nbformat

SOLUTION = "instructor's solution"
_MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")


class SimilarityError(Exception):
    """The comparison cannot run (no release, no source); the message says what to do."""


# --- extraction: the code a student wrote, per answer cell ------------------------------------------

def _nbgrader(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def code_answer_cells(nb) -> dict[str, str]:
    """grade_id -> source of every *code* answer cell (nbgrader solution cell) of a notebook."""
    cells = {}
    for cell in nb.get("cells", []):
        meta = _nbgrader(cell)
        if cell.get("cell_type") == "code" and meta.get("solution") and meta.get("grade_id"):
            source = cell.get("source", "")
            cells[meta["grade_id"]] = "".join(source) if isinstance(source, list) else str(source)
    return cells


def without_solution_markers(source: str) -> str:
    """The instructor's cell as a student would hand it in: the marker lines removed."""
    return "".join(line for line in source.splitlines(keepends=True) if line.strip() not in _MARKERS)


def _is_code(line: str) -> bool:
    text = line.strip()
    return bool(text) and not text.startswith("#")


def written_lines(answer: str, released: str) -> tuple[int, ...]:
    """0-based numbers of the answer's lines that the student added or changed, relative to the
    released cell (a line-by-line diff); blank and comment-only lines are left out."""
    ours, theirs = answer.splitlines(), released.splitlines()
    matcher = difflib.SequenceMatcher(None, theirs, ours, autojunk=False)
    written = []
    for tag, _, _, start, end in matcher.get_opcodes():
        if tag in ("insert", "replace"):
            written.extend(i for i in range(start, end) if _is_code(ours[i]))
    return tuple(written)


@dataclass(frozen=True)
class Answer:
    """One answer cell as handed in, and which of its lines the student wrote."""

    grade_id: str
    source: str
    written: tuple[int, ...]

    @property
    def blank(self) -> bool:
        return not self.written


@dataclass(frozen=True)
class Submission:
    student: str
    answers: dict[str, Answer]

    @property
    def blank(self) -> bool:
        return all(answer.blank for answer in self.answers.values())


def extract(student: str, nb, released: dict[str, str]) -> Submission:
    """The student's answer cells, one per released code answer cell (a missing cell is blank)."""
    handed_in = code_answer_cells(nb)
    answers = {}
    for gid, stub in released.items():
        source = handed_in.get(gid, stub)
        answers[gid] = Answer(gid, source, written_lines(source, stub))
    return Submission(student, answers)


class Unreadable(Exception):
    """A submission that cannot be compared; the message says why."""


def read_submission(student: str, path: Path, released: dict[str, str]) -> Submission:
    if not path.is_file():
        raise Unreadable(f"no {path.name} in the submission folder")
    try:
        nb = nbformat.read(path, as_version=4)
    except (OSError, UnicodeDecodeError, ValueError, nbformat.reader.NotJSONError) as err:
        raise Unreadable(f"{path.name} is not a readable notebook ({type(err).__name__}: {str(err)[:120]})") from None
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise Unreadable(f"{path.name} has no list of cells")
    if not set(code_answer_cells(nb)) & set(released):
        raise Unreadable(f"{path.name} has none of the assignment's answer cells ({', '.join(released)})")
    return extract(student, nb, released)
