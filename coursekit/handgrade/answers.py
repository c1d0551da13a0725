"""The students' answers to one hand-graded question, read from nbgrader's autograded notebooks.

formgrader shows ``autograded/<student>/<assignment>/<notebook>``; so does this page. A notebook is
read again only when its file changed (size and modification time), so a page of 300 students
reads each notebook once. :func:`normalized` is the text the grouping compares; :func:`is_blank`
says whether an answer is empty or nbgrader's placeholder.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from coursekit.config import CourseConfig

PLACEHOLDER = "YOUR ANSWER HERE"


@dataclass(frozen=True)
class Answer:
    """One student's answer to one question."""

    student: str
    text: str          # the cell's markdown as submitted
    digest: str        # changes whenever the text does (part of a grade's version)


_cache: dict[Path, tuple[tuple[int, int], dict[str, str]]] = {}
_cache_lock = threading.Lock()


def _markdown_answers(path: Path) -> dict[str, str]:
    """grade_id -> source of every markdown cell with an nbgrader grade id, of one notebook file."""
    stat = path.stat()
    key = (stat.st_size, stat.st_mtime_ns)
    with _cache_lock:
        cached = _cache.get(path)
        if cached and cached[0] == key:
            return cached[1]
    nb = json.loads(path.read_text(encoding="utf-8"))
    found = {}
    for cell in nb.get("cells", []):
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if gid and cell.get("cell_type") == "markdown":
            source = cell.get("source", "")
            found[gid] = "".join(source) if isinstance(source, list) else source
    with _cache_lock:
        _cache[path] = (key, found)
    return found


def notebook_path(config: CourseConfig, assignment: str, student: str) -> Path:
    return config.directory("autograded") / student / assignment / config.assignment(assignment).notebook


def digest(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:12]


def read_answer(config: CourseConfig, assignment: str, question: str, student: str) -> Answer | None:
    """The student's answer, or None when the autograded notebook (or its cell) is not there."""
    path = notebook_path(config, assignment, student)
    try:
        text = _markdown_answers(path).get(question)
    except (OSError, ValueError):
        return None
    if text is None:
        return None
    return Answer(student, text, digest(text))


def read_answers(config: CourseConfig, assignment: str, question: str, students: list[str]) -> dict[str, Answer]:
    """Every listed student's answer that can be read, by student id."""
    found = {}
    for student in students:
        answer = read_answer(config, assignment, question, student)
        if answer is not None:
            found[student] = answer
    return found


_NOISE = re.compile(r"[\s\W_]+", re.UNICODE)


def normalized(text: str) -> str:
    """The answer's characters that carry meaning: NFKC, lower case, no placeholder, spaces,
    punctuation or markdown marks (Chinese and Latin letters, digits and math letters stay)."""
    text = unicodedata.normalize("NFKC", text).replace(PLACEHOLDER, "").lower()
    return _NOISE.sub("", text)


def is_blank(text: str) -> bool:
    """Nothing written: empty, or only nbgrader's placeholder and punctuation."""
    return not normalized(text)
