"""Similarity report for a class: which answers were copied, with the starter code excluded.

What is compared is the code each student wrote in the *code answer cells* of an assignment
(nbgrader solution cells, one part per grade_id); markdown answers (思考题) are not compared.
The detector is copydetect (PyPI): its tokenizer replaces every name by one letter and drops
comments and whitespace, and its k-gram fingerprints ignore order, so renamed variables,
reordered methods and rewritten comments do not hide a copy.

* **Starter code is boilerplate.** The released notebook's code (every code cell, the answer
  cells' skeletons and stubs included) is handed to copydetect as boilerplate: a fingerprint
  that occurs in it never counts as a match. A student who left a part as released has a
  *blank* part, and a submission whose parts are all blank is not compared at all.
* **The instructor's solution is a known source.** The answer cells of source/ (solution markers
  removed) are compared with every submission like one more student, so a student who hands in
  the solution is flagged against it.
* **Per part.** Each answer cell is fingerprinted on its own and compared only with the same
  cell of the other submission, so the report can say which TODO matched. A pair's score is the
  share of both submissions' fingerprinted code that matched, over all parts; a pair is flagged
  when that score reaches ``[similarity] threshold``, or when a single part reaches it with at
  least ``min_match`` characters of normalised code matched on both sides (a copy of one TODO).

The report page goes to ``reports/<assignment>/similarity.html``, the instructor's folder; nothing
here writes to ``feedback/``.
"""

from __future__ import annotations

import difflib
import html
import io
import itertools
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from coursekit.config import Similarity as Settings
from coursekit.config import require_extra

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


# --- detection (copydetect) ------------------------------------------------------------------------

#: What needs copydetect (the extra coursekit[similarity]), in the message when it is missing.
PURPOSE = "the similarity report (`coursekit similarity`)"


def _fingerprint(code: str, settings: Settings, boilerplate):
    CodeFingerprint = require_extra("copydetect", PURPOSE).CodeFingerprint
    # win_size 1 keeps every k-gram: the answers are short, and the result does not depend on
    # Python's per-process string hashing (winnowing would pick a different subset each run).
    return CodeFingerprint("answer.py", settings.noise, 1, boilerplate=boilerplate, language="python",
                           fp=io.StringIO(code))


def boilerplate_hashes(release_nb, settings: Settings):
    """copydetect fingerprints of every code cell of the released notebook."""
    import numpy as np
    hashes = []
    for cell in release_nb.get("cells", []):
        if cell.get("cell_type") == "code":
            hashes.extend(_fingerprint(cell.source, settings, None).hashes)
    return np.unique(np.array(hashes, dtype=np.int64))


@dataclass
class PartMatch:
    """How one answer cell of two submissions matched."""

    grade_id: str
    score: float            # matched share of both sides' fingerprinted code
    matched: tuple[int, int]  # normalised characters matched on each side
    slices: tuple[list[tuple[int, int]], list[tuple[int, int]]]  # matched spans in each cell's text


@dataclass
class Pair:
    a: str
    b: str
    score: float
    parts: dict[str, PartMatch]
    flagged: bool = False

    def would_flag(self, threshold: float, min_match: int) -> bool:
        """Flagged at these settings: the whole pair, or one answer cell with enough code matched."""
        return self.score >= threshold or any(
            part.score >= threshold and min(part.matched) >= min_match for part in self.parts.values())



@dataclass
class Result:
    assignment: str
    settings: Settings
    students: list[str]                       # compared (not blank, readable), sorted
    blank: list[str] = field(default_factory=list)
    unreadable: dict[str, str] = field(default_factory=dict)
    pairs: list[Pair] = field(default_factory=list)   # every compared pair, highest score first
    submissions: dict[str, Submission] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def flagged(self) -> list[Pair]:
        return [pair for pair in self.pairs if pair.flagged]

    def clusters(self) -> list[list[str]]:
        """Groups of three or more linked by flagged pairs (connected components)."""
        links: dict[str, set[str]] = {}
        for pair in self.flagged:
            links.setdefault(pair.a, set()).add(pair.b)
            links.setdefault(pair.b, set()).add(pair.a)
        seen, groups = set(), []
        for start in sorted(links):
            if start in seen:
                continue
            group, todo = set(), [start]
            while todo:
                node = todo.pop()
                if node not in group:
                    group.add(node)
                    todo.extend(links[node] - group)
            seen |= group
            if len(group) >= 3:
                groups.append(sorted(group))
        return groups


def _spans(slices) -> list[tuple[int, int]]:
    if len(slices) == 0 or len(slices[0]) == 0:
        return []
    return [(int(start), int(end)) for start, end in zip(slices[0], slices[1])]


def compare_pair(a: Submission, b: Submission, prints: dict, settings: Settings) -> Pair:
    compare_files = require_extra("copydetect", PURPOSE).compare_files
    parts, matched, total = {}, 0.0, 0.0
    for gid in a.answers:
        fa, fb = prints[a.student].get(gid), prints[b.student].get(gid)
        cover_a = fa.token_coverage if fa is not None else 0
        cover_b = fb.token_coverage if fb is not None else 0
        total += cover_a + cover_b
        if not cover_a or not cover_b:
            continue
        _, (sim_a, sim_b), (slices_a, slices_b) = compare_files(fa, fb)
        got_a, got_b = float(sim_a) * cover_a, float(sim_b) * cover_b
        matched += got_a + got_b
        if got_a or got_b:
            parts[gid] = PartMatch(gid, (got_a + got_b) / (cover_a + cover_b), (round(got_a), round(got_b)),
                                   (_spans(slices_a), _spans(slices_b)))
    score = matched / total if total else 0.0
    pair = Pair(a.student, b.student, score, parts)
    pair.flagged = pair.would_flag(settings.threshold, settings.min_match)
    return pair


def analyse(assignment: str, submissions: Iterable[Submission], release_nb, solution: Submission | None,
            settings: Settings, unreadable: dict[str, str] | None = None) -> Result:
    """Compare every pair of non-blank submissions (and each with the solution, when given)."""
    start = time.perf_counter()
    submissions = sorted(submissions, key=lambda s: s.student)
    result = Result(assignment, settings, [s.student for s in submissions if not s.blank],
                    blank=[s.student for s in submissions if s.blank], unreadable=dict(unreadable or {}))
    compared = [s for s in submissions if not s.blank]
    if solution is not None:
        compared.append(solution)
    result.submissions = {s.student: s for s in compared}
    boiler = boilerplate_hashes(release_nb, settings)
    prints = {s.student: {gid: _fingerprint(ans.source, settings, boiler)
                          for gid, ans in s.answers.items() if not ans.blank} for s in compared}
    for a, b in itertools.combinations(compared, 2):
        result.pairs.append(compare_pair(a, b, prints, settings))
    result.pairs.sort(key=lambda p: (-p.score, p.a, p.b))
    result.seconds = time.perf_counter() - start
    return result


def compare_class(assignment: str, release_path: Path, source_path: Path, submitted: Path, notebook: str,
                  settings: Settings) -> Result:
    """Read every submission of an assignment from ``submitted/<student>/<assignment>/`` and compare."""
    if not release_path.is_file():
        raise SimilarityError(f"{release_path} does not exist: run `python -m coursekit build` first.")
    release_nb = nbformat.read(release_path, as_version=4)
    released = code_answer_cells(release_nb)
    if not released:
        raise SimilarityError(f"{release_path} has no code answer cells (nbgrader solution cells) to compare.")
    solution = None
    if source_path.is_file():
        source = {gid: without_solution_markers(text)
                  for gid, text in code_answer_cells(nbformat.read(source_path, as_version=4)).items()}
        solution = Submission(SOLUTION, {gid: Answer(gid, source.get(gid, stub), written_lines(source.get(gid, stub), stub))
                                         for gid, stub in released.items()})
    submissions, unreadable = [], {}
    folders = sorted(p for p in submitted.iterdir() if (p / assignment).is_dir()) if submitted.is_dir() else []
    for folder in folders:
        try:
            submissions.append(read_submission(folder.name, folder / assignment / notebook, released))
        except Unreadable as err:
            unreadable[folder.name] = str(err)
    return analyse(assignment, submissions, release_nb, solution, settings, unreadable)


# --- output ------------------------------------------------------------------------------------------

def report_path(reports: Path, assignment: str) -> Path:
    return reports / assignment / "similarity.html"


def text_summary(result: Result) -> str:
    """A few lines for the terminal."""
    s = result.settings
    lines = [f"Similarity of '{result.assignment}' (copydetect, k = {s.noise}; flagged at {s.threshold:g} of the "
             f"answer code, or of one answer cell with >= {s.min_match} characters matched): "
             f"{len(result.students)} compared, {len(result.blank)} blank, {len(result.unreadable)} unreadable, "
             f"{len(result.pairs)} pairs in {result.seconds:.1f} s"]
    if len(result.students) < 2:
        lines.append(f"nothing to compare between students: {len(result.students)} submission(s) with answers"
                     + (" (compared with the instructor's solution only)" if result.pairs else ""))
    flagged = result.flagged
    lines.append(f"{len(flagged)} flagged pair(s)" + (":" if flagged else ""))
    for pair in flagged:
        parts = ", ".join(f"{gid} {part.score:.0%}" for gid, part in pair.parts.items()
                          if part.score >= s.threshold)
        lines.append(f"  {pair.a} ~ {pair.b}: {pair.score:.0%} overall" + (f" ({parts})" if parts else ""))
    for group in result.clusters():
        lines.append(f"cluster of {len(group)}: {', '.join(group)}")
    for student in result.blank:
        lines.append(f"blank (answer cells as released, not compared): {student}")
    for student, reason in result.unreadable.items():
        lines.append(f"unreadable, skipped: {student}: {reason}")
    return "\n".join(lines)


def _line_starts(text: str) -> list[int]:
    starts = [0]
    for line in text.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    return starts


def highlighted_cell(answer: Answer, spans: list[tuple[int, int]]) -> str:
    """The cell as HTML lines: released lines dimmed, matched characters in <mark>."""
    text = answer.source
    marked = [False] * len(text)
    for start, end in spans:
        for i in range(max(0, start), min(len(text), end)):
            marked[i] = True
    written = set(answer.written)
    starts = _line_starts(text)
    rows = []
    for number, line in enumerate(text.splitlines()):
        base = starts[number]
        pieces, current, buffer = [], None, ""
        for offset, char in enumerate(line):
            state = marked[base + offset]
            if state != current and buffer:
                pieces.append(f"<mark>{html.escape(buffer)}</mark>" if current else html.escape(buffer))
                buffer = ""
            current = state
            buffer += char
        if buffer:
            pieces.append(f"<mark>{html.escape(buffer)}</mark>" if current else html.escape(buffer))
        kind = "written" if number in written else "released"
        rows.append(f'<span class="{kind}">{"".join(pieces) or " "}</span>')
    return "\n".join(rows)


_STYLE = """body{font-family:sans-serif;max-width:90em;margin:2em auto;padding:0 1em}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}
.side{display:grid;grid-template-columns:1fr 1fr;gap:1em}pre{background:#f8f8f8;padding:.5em;overflow-x:auto;font-size:90%}
pre .released{color:#999}mark{background:#ffd54f}details{margin:.5em 0 1.5em}summary{cursor:pointer}
.note{color:#555}"""


def render_html(result: Result) -> str:
    esc = html.escape
    s = result.settings
    flagged = result.flagged
    pair_rows = "".join(
        f'<tr><td><a href="#pair-{i}">{esc(p.a)} ~ {esc(p.b)}</a></td><td>{p.score:.0%}</td><td>'
        + ", ".join(f"{esc(gid)} {part.score:.0%}" for gid, part in p.parts.items()) + "</td></tr>"
        for i, p in enumerate(flagged)) or '<tr><td colspan="3">none</td></tr>'
    clusters = "".join(f"<li>{esc(', '.join(group))}</li>" for group in result.clusters()) or "<li>none</li>"
    blank = esc(", ".join(result.blank)) or "none"
    unreadable = "".join(f"<tr><td>{esc(st)}</td><td>{esc(reason)}</td></tr>"
                         for st, reason in result.unreadable.items()) or '<tr><td colspan="2">none</td></tr>'
    nothing = ""
    if len(result.students) < 2:
        nothing = ("<p><strong>Nothing to compare between students:</strong> fewer than two submissions with "
                   "answers" + (" (compared with the instructor's solution only)" if result.pairs else "") + ".</p>")
    details = []
    for i, pair in enumerate(flagged):
        a, b = result.submissions[pair.a], result.submissions[pair.b]
        blocks = []
        for gid in a.answers:
            part = pair.parts.get(gid)
            spans = part.slices if part else ([], [])
            label = f"{part.score:.0%} matched, {part.matched[0]} / {part.matched[1]} characters" if part else "no match"
            strong = part is not None and part.score >= s.threshold
            blocks.append(
                f"<h4>{esc(gid)}: {label}{' — flagged part' if strong else ''}</h4><div class=\"side\">"
                f"<div><b>{esc(pair.a)}</b><pre>{highlighted_cell(a.answers[gid], spans[0])}</pre></div>"
                f"<div><b>{esc(pair.b)}</b><pre>{highlighted_cell(b.answers[gid], spans[1])}</pre></div></div>")
        details.append(f'<details id="pair-{i}" open><summary><b>{esc(pair.a)} ~ {esc(pair.b)}</b>: '
                       f"{pair.score:.0%} of their answer code matches</summary>{''.join(blocks)}</details>")
    below = [p for p in result.pairs if not p.flagged][:10]
    top = "".join(f"<tr><td>{esc(p.a)} ~ {esc(p.b)}</td><td>{p.score:.0%}</td></tr>" for p in below) \
        or '<tr><td colspan="2">none</td></tr>'
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Similarity: {esc(result.assignment)}</title>
<style>{_STYLE}</style></head><body>
<h1>Similarity of the answers: {esc(result.assignment)}</h1>
<p class="note">For instructors only: this page is never part of a student's feedback. Compared: the code written in
the answer cells ({esc(', '.join(next(iter(result.submissions.values())).answers) if result.submissions else '')}),
with the released notebook's code removed as boilerplate, by copydetect (k = {s.noise} characters of normalised code:
names become one letter, comments and spaces are dropped). The instructor's solution is compared as
“{esc(SOLUTION)}”. A pair is flagged when {s.threshold:.0%} of both answers' code matches, or {s.threshold:.0%} of one
answer cell with at least {s.min_match} characters matched on each side. A flag is a reason to look, not a verdict:
read the two answers below.</p>
<p>{len(result.students)} submissions compared · {len(flagged)} flagged pair(s) · {len(result.blank)} blank ·
{len(result.unreadable)} unreadable · {len(result.pairs)} pairs in {result.seconds:.1f} s</p>
{nothing}
<h2>Flagged pairs</h2>
<table><tr><th>pair</th><th>overall</th><th>per answer cell</th></tr>{pair_rows}</table>
<h2>Clusters (three or more linked submissions)</h2><ul>{clusters}</ul>
<h2>Not compared</h2>
<p>Blank (every answer cell as released): {blank}</p>
<table><tr><th>unreadable submission</th><th>why</th></tr>{unreadable}</table>
<h2>Highest scores below the threshold</h2>
<table><tr><th>pair</th><th>overall</th></tr>{top}</table>
<h2>Flagged pairs side by side</h2>
<p class="note">Grey: the released skeleton. Yellow: code that matches the other answer.</p>
{''.join(details) or '<p>none</p>'}
</body></html>
"""


def write_html(result: Result, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(result), encoding="utf-8")
    return path
