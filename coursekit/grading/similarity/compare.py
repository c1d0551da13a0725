"""Comparing a class: fingerprints of every submission, what is common, and every pair's matches."""

from __future__ import annotations

import ast
import itertools
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import numpy as np

from coursekit.config import Similarity as Settings
from coursekit.config import require_extra
from coursekit.grading.similarity.extract import (SOLUTION, Answer, SimilarityError, Submission, Unreadable,
                                                  code_answer_cells, read_submission, without_solution_markers,
                                                  written_lines)
from coursekit.grading.similarity.normalise import normalise, tag
from coursekit.grading.similarity.tokens import PURPOSE, KEEP, Stream, Writer, grams, lexer_tokens

#: A k-gram is common only when more than this many submissions have it, whatever the class's size
#: (a cluster of three copies in a small class stays evidence).
COMMON_FLOOR = 3
#: A function (or other block) counts as matched when it has at least this many characters of rare code.
MIN_FUNCTION = 8
#: A pair is flagged only when at least this many functions of each side match (two, where a side has
#: fewer with rare code): one or two short functions are what independent students also write alike.
MIN_FUNCTIONS = 3
_MAGIC = re.compile(r"(?m)^([ \t]*)[%!].*$")


# --- fingerprints of one piece of code -----------------------------------------------------------------

def parse(code: str) -> ast.Module | None:
    """The cell's syntax tree (IPython ``%magic`` and ``!shell`` lines blanked), None when it does not parse."""
    try:
        return ast.parse(_MAGIC.sub(lambda m: m.group(1) + "pass", code))
    except (SyntaxError, ValueError):
        return None


def defined_names(codes: Iterable[str]) -> set[str]:
    """Names the released code defines or imports (functions, classes, methods, modules): kept as they are."""
    names: set[str] = set()
    for code in codes:
        tree = parse(code)
        if tree is None:
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                names |= {(a.asname or a.name).split(".")[0] for a in node.names}
    return names


def stream_of(cells: dict[str, str], protected: set[str], noise: int, vocabulary: dict[str, int],
              written: dict[str, tuple[int, ...]] | None = None) -> Stream:
    """The normalised tokens and k-grams of one submission's cells; ``written`` (0-based line numbers per
    cell) says which lines are the student's, None: all of them."""
    trees = {gid: parse(code) for gid, code in cells.items()}
    parsed = [tag(tree, gid) for gid, tree in trees.items() if tree is not None]
    normalise(parsed, protected)
    functions = set()
    keep = set(KEEP) | protected
    for tree in parsed:
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name not in protected:
                functions.add(node.name)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                keep |= {(a.asname or a.name).split(".")[0] for a in node.names}
    stream = Stream(list(cells))
    for gid, code in cells.items():
        tree = trees[gid]
        if tree is None:
            tokens, origins = lexer_tokens(code, gid)
            stream.add(gid, tokens, list(range(len(tokens))), origins)
            continue
        writer = Writer(frozenset(keep), frozenset(functions - keep))
        for stmt in tree.body:
            writer.stmt(stmt)
        stream.add(gid, writer.tokens, writer.origin, writer.origins, tuple(writer.breaks))
    grams(stream, noise, vocabulary)
    if written is None:
        stream.written = np.ones(len(stream.texts), dtype=bool)
    else:
        lines = {gid: {n + 1 for n in numbers} for gid, numbers in written.items()}
        own = [any(any(n in lines.get(c, ()) for n in range(first, last + 1)) for c, first, last in spans)
               for spans in stream.origins]
        stream.written = np.array([own[o] for o in stream.origin], dtype=bool)
    return stream


def _fingerprint(code: str, settings: Settings, boilerplate) -> np.ndarray:
    """The k-gram hashes of a piece of code (all of it counted), less those in ``boilerplate`` (or None).

    Code that does not parse is read with copydetect's lexer, so the extra is asked for up front: a
    class never fails halfway for want of it."""
    require_extra("copydetect", PURPOSE)
    stream = stream_of({"code": code}, set(), settings.noise, {})
    hashes = np.unique(stream.hashes)
    return hashes if boilerplate is None else np.setdiff1d(hashes, boilerplate)


# --- one submission, ready to be compared -------------------------------------------------------------

def _cover(stream: Stream, chosen: np.ndarray) -> np.ndarray:
    """Tokens covered by the chosen k-grams (indices into the stream's grams)."""
    n = len(stream.texts)
    if len(chosen) == 0:
        return np.zeros(n, dtype=bool)
    depth = np.bincount(stream.start[chosen], minlength=n + 1) - np.bincount(stream.end[chosen], minlength=n + 1)
    return np.cumsum(depth)[:n] > 0


@dataclass
class Profile:
    """One submission's k-grams sorted into rare and common, and its rare code per cell."""

    stream: Stream
    rare: np.ndarray           # indices of grams that are evidence (neither released, common nor public)
    common: np.ndarray         # indices of grams that are common in the class or in a public source
    rare_set: frozenset
    total: np.ndarray          # rare characters per cell
    cell: np.ndarray
    chars: np.ndarray

    def per_cell(self, mask: np.ndarray) -> np.ndarray:
        mask = mask & self.stream.written
        return np.bincount(self.cell[mask], weights=self.chars[mask], minlength=len(self.stream.cells))

    run: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))   # per token: its run
    run_total: np.ndarray = field(default_factory=lambda: np.zeros(0))  # rare characters per run
    last_runs: np.ndarray = field(default_factory=lambda: np.zeros(0))  # matched per run, of the last comparison
    weight: np.ndarray = field(default_factory=lambda: np.zeros(0))     # per rare gram: 2 / submissions that have it
    gram_cell: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # per rare gram
    own: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))   # grams no public source has
    own_set: frozenset = frozenset()
    own_total: float = 0.0     # characters of the student's code those grams cover

    def matched(self, hashes: np.ndarray, which: str = "rare") -> np.ndarray:
        """Token mask of this submission's code covered by its grams (rare or common) whose hash is in ``hashes``."""
        chosen = self.rare if which == "rare" else self.common
        hit = chosen[np.isin(self.stream.hashes[chosen], hashes)]
        return _cover(self.stream, hit) & self.stream.written

    def matched_weighted(self, hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rare characters matched per cell, and the same weighted by how rare the matching grams are
        (a gram only the two have weighs 1, one that k submissions have 2/k; averaged per cell)."""
        hit = np.isin(self.stream.hashes[self.rare], hashes)
        covered = _cover(self.stream, self.rare[hit]) & self.stream.written
        chars = self.per_cell(covered)
        self.last_runs = np.bincount(self.run[covered], weights=self.chars[covered], minlength=len(self.run_total))
        n = len(self.stream.cells)
        grams = np.bincount(self.gram_cell[hit], minlength=n)
        weights = np.bincount(self.gram_cell[hit], weights=self.weight[hit], minlength=n)
        return chars, chars * np.divide(weights, grams, out=np.zeros(n), where=grams > 0)


# --- matches of a pair ---------------------------------------------------------------------------------

@dataclass
class PartMatch:
    """How one answer cell of each side matched the other submission (anywhere in it)."""

    grade_id: str
    score: float              # matched share of both sides' rare code in this cell
    matched: tuple[int, int]  # rare characters of this cell matched, on each side
    slices: tuple[list[tuple[int, int]], list[tuple[int, int]]] = ([], [])  # matched spans (flagged pairs)
    share: tuple[float, float] = (0.0, 0.0)   # each side's matched share of its own rare code in the cell
    common: tuple[list[tuple[int, int]], list[tuple[int, int]]] = ([], [])  # spans that match common code
    elsewhere: tuple[str, ...] = ()           # the other side's cells this cell's matches are in, when not its own
    evidence: tuple[int, int] = (0, 0)        # matched characters weighted by rarity, on each side


@dataclass
class Pair:
    a: str
    b: str
    score: float
    parts: dict[str, PartMatch]
    flagged: bool = False
    matched: tuple[int, int] = (0, 0)   # rare characters matched on each side, all cells
    reason: str = ""
    evidence: tuple[int, int] = (0, 0)  # the same, each gram weighted by how rare it is (2 / submissions with it)
    functions: tuple[int, int] = (0, 0)  # functions (and other blocks) of each side whose rare code matched
    of_functions: tuple[int, int] = (0, 0)  # functions of each side with rare code at all
    # a whole-answer match: all the code of each side that no public source has (rare, or common in the
    # class) matches the other's; looked for in pairs whose rare code matches at the threshold
    twins: int = -1                          # other submissions that have all of that code too (-1: no whole match)
    whole: tuple[int, int] = (0, 0)          # its evidence on each side: the characters matched, times 2 / (2 + twins)

    def would_flag(self, threshold: float, min_match: int) -> bool:
        """Flagged at these settings: at least ``MIN_FUNCTIONS`` functions of each side match (each at
        ``threshold`` of its rare code; two when a side has fewer functions with rare code), with at least
        ``min_match`` characters of evidence on each side, where either

        * the whole rare code matches at ``threshold``, or some answer cells of it on each side do; the
          evidence is the matched rare code (in those cells), each k-gram weighted by 2 / the number of
          submissions that have it; or
        * the whole answer matches (see ``twins``); the evidence is the matched code weighted by 2 / the
          number of submissions that have all of it. Each k-gram of it may be in a few other answers, or
          in many, while the same choices for every TODO together are in none."""
        if min(self.functions) < min(MIN_FUNCTIONS, max(2, min(self.of_functions))):
            return False
        if self.score >= threshold and max(min(self.evidence), min(self.whole)) >= min_match:
            return True
        strong_a = sum(p.evidence[0] for p in self.parts.values() if p.share[0] >= threshold)
        strong_b = sum(p.evidence[1] for p in self.parts.values() if p.share[1] >= threshold)
        return strong_a >= min_match and strong_b >= min_match


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
    sources: list[str] = field(default_factory=list)  # the public sources read
    common_floor: int = 0                     # a k-gram in more submissions than this is common
    missing_sources: list[str] = field(default_factory=list)  # public sources named but not readable

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


def _line_spans(answer: Answer, stream: Stream, mask: np.ndarray, gid: str) -> list[tuple[int, int]]:
    """Character spans of the student's own lines of cell ``gid`` that hold a masked token."""
    lines = set()
    for i in np.nonzero(mask)[0]:
        for cell, first, last in stream.origins[stream.origin[i]]:
            if cell == gid:
                lines.update(range(first - 1, last))
    own = set(answer.written)
    text = answer.source
    starts = [0]
    for line in text.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    spans = []
    for number in sorted(lines & own):
        if number + 1 < len(starts):
            line = text[starts[number]:starts[number + 1]].rstrip("\r\n")
            indent = len(line) - len(line.lstrip())
            spans.append((starts[number] + indent, starts[number] + len(line)))
    return spans


class Comparison:
    """Every submission's profile and the class-wide counts of each k-gram."""

    def __init__(self, submissions: list[Submission], release_cells: list[str], public: dict[str, str],
                 settings: Settings):
        self.settings = settings
        vocabulary: dict[str, int] = {}
        protected = defined_names(release_cells)
        released = [stream_of({"released": code}, protected, settings.noise, vocabulary) for code in release_cells]
        skeleton = np.unique(np.concatenate([s.hashes for s in released] or [np.array([], dtype=np.int64)]))
        public_streams = [stream_of({"public": code}, protected, settings.noise, vocabulary) for code in public.values()]
        self.public = np.unique(np.concatenate([s.hashes for s in public_streams] or [np.array([], dtype=np.int64)]))
        streams = {}
        for sub in submissions:
            streams[sub.student] = stream_of({gid: a.source for gid, a in sub.answers.items()}, protected,
                                             settings.noise, vocabulary,
                                             {gid: a.written for gid, a in sub.answers.items()})
        valid = {}
        for name, stream in streams.items():
            # released code typed again (in another cell, say) is not the student's either
            stream.written &= ~_cover(stream, np.nonzero(np.isin(stream.hashes, skeleton))[0])
            own = np.concatenate([[0], np.cumsum(stream.written)])
            keep = (own[stream.end] - own[stream.start] > 0) & ~np.isin(stream.hashes, skeleton)
            valid[name] = np.nonzero(keep)[0]
        everyone = np.concatenate([np.unique(streams[n].hashes[v]) for n, v in valid.items()]
                                  or [np.array([], dtype=np.int64)])
        self.keys, self.counts = np.unique(everyone, return_counts=True)
        self.floor = max(COMMON_FLOOR, int(settings.common_share * len(submissions)))
        common = np.union1d(self.keys[self.counts > self.floor], self.public)
        self.profiles = {}
        for name, stream in streams.items():
            is_common = np.isin(stream.hashes[valid[name]], common)
            rare, shared = valid[name][~is_common], valid[name][is_common]
            cell = np.array(stream.cell, dtype=np.int64)
            profile = Profile(stream, rare, shared, frozenset(stream.hashes[rare].tolist()),
                              np.zeros(len(stream.cells)), cell, stream.chars)
            profile.total = profile.per_cell(_cover(stream, rare))
            profile.run = np.zeros(len(stream.texts), dtype=np.int64)
            for k, (first, last) in enumerate(stream.runs):
                profile.run[first:last] = k
            counted = _cover(stream, rare) & stream.written
            profile.run_total = np.bincount(profile.run[counted], weights=stream.chars[counted],
                                            minlength=len(stream.runs))
            profile.weight = np.minimum(1.0, 2.0 / np.maximum(self.count(stream.hashes[rare]), 1))
            profile.gram_cell = cell[stream.start[rare]] if len(rare) else np.zeros(0, dtype=np.int64)
            profile.own = valid[name][~np.isin(stream.hashes[valid[name]], self.public)]
            profile.own_set = frozenset(stream.hashes[profile.own].tolist())
            profile.own_total = float(stream.chars[_cover(stream, profile.own) & stream.written].sum())
            self.profiles[name] = profile

    def count(self, hashes: np.ndarray) -> np.ndarray:
        where = np.searchsorted(self.keys, hashes)
        where = np.clip(where, 0, max(len(self.keys) - 1, 0))
        return np.where(self.keys[where] == hashes, self.counts[where], 0) if len(self.keys) else np.zeros_like(hashes)

    def whole_match(self, pair: Pair, pa: Profile, pb: Profile) -> None:
        """Fill in ``pair``'s whole-answer match when all the code of each side that no public source has
        matches the other's at the threshold: how many other submissions have ``threshold`` of the k-grams the
        two share (their twins), and the evidence."""
        t = self.settings.threshold
        shared = pa.own_set & pb.own_set
        if not shared:
            return
        hashes = np.fromiter(shared, dtype=np.int64, count=len(shared))
        matched = []
        for p in (pa, pb):
            covered = _cover(p.stream, p.own[np.isin(p.stream.hashes[p.own], hashes)]) & p.stream.written
            matched.append(float(p.stream.chars[covered].sum()))
            if matched[-1] < t * p.own_total:
                return
        need = t * len(shared)
        pair.twins = sum(1 for name, p in self.profiles.items()
                         if name not in (pair.a, pair.b) and len(shared & p.own_set) >= need)
        weight = 2.0 / (2 + pair.twins)
        pair.whole = (int(round(matched[0] * weight)), int(round(matched[1] * weight)))

    def pair(self, a: Submission, b: Submission) -> Pair:
        pa, pb = self.profiles[a.student], self.profiles[b.student]
        gids = pa.stream.cells
        shared = pa.rare_set & pb.rare_set
        if not shared:
            parts: dict[str, PartMatch] = {}
            return Pair(a.student, b.student, 0.0, parts)
        hashes = np.fromiter(shared, dtype=np.int64, count=len(shared))
        (ma, ea), (mb, eb) = pa.matched_weighted(hashes), pb.matched_weighted(hashes)
        t = self.settings.threshold
        functions = tuple(int(np.sum((p.run_total >= MIN_FUNCTION) & (p.last_runs >= t * p.run_total)))
                          for p in (pa, pb))
        of_functions = tuple(int(np.sum(p.run_total >= MIN_FUNCTION)) for p in (pa, pb))
        parts = {}
        for i, gid in enumerate(gids):
            if ma[i] or mb[i]:
                ta, tb = pa.total[i], pb.total[i]
                parts[gid] = PartMatch(gid, float((ma[i] + mb[i]) / (ta + tb)) if ta + tb else 0.0,
                                       (int(round(ma[i])), int(round(mb[i]))),
                                       share=(float(ma[i] / ta) if ta else 0.0, float(mb[i] / tb) if tb else 0.0),
                                       evidence=(int(round(ea[i])), int(round(eb[i]))))
        total = pa.total.sum() + pb.total.sum()
        pair = Pair(a.student, b.student, float((ma.sum() + mb.sum()) / total) if total else 0.0, parts,
                    matched=(int(round(ma.sum())), int(round(mb.sum()))),
                    evidence=(int(round(ea.sum())), int(round(eb.sum()))), functions=functions,
                    of_functions=of_functions)
        if pair.score >= t:
            self.whole_match(pair, pa, pb)
        pair.flagged = pair.would_flag(self.settings.threshold, self.settings.min_match)
        return pair

    def evidence(self, pair: Pair, a: Submission, b: Submission) -> None:
        """The page's details of a pair: matched and common spans per cell, where each cell's matches are in
        the other submission, and the reason in one line."""
        pa, pb = self.profiles[a.student], self.profiles[b.student]
        shared = np.fromiter(pa.rare_set & pb.rare_set, dtype=np.int64)
        common = np.intersect1d(pa.stream.hashes[pa.common], pb.stream.hashes[pb.common])
        masks = {}
        for side, profile, sub in ((0, pa, a), (1, pb, b)):
            rare, usual = profile.matched(shared), profile.matched(common, "common")
            masks[side] = rare
            for gid in profile.stream.cells:
                index = profile.stream.cells.index(gid)
                in_cell = profile.cell == index
                rare_spans = _line_spans(sub.answers[gid], profile.stream, rare & in_cell, gid)
                common_spans = _line_spans(sub.answers[gid], profile.stream, usual & ~rare & in_cell, gid)
                if not rare_spans and not common_spans:
                    continue
                part = pair.parts.setdefault(gid, PartMatch(gid, 0.0, (0, 0)))
                slices, commons = list(part.slices), list(part.common)
                slices[side], commons[side] = rare_spans, common_spans
                part.slices, part.common = (slices[0], slices[1]), (commons[0], commons[1])
        # where the matches of each cell of one side are in the other
        for side, (mine, other) in enumerate(((pa, pb), (pb, pa))):
            for gid, part in pair.parts.items():
                index = mine.stream.cells.index(gid)
                grams_here = mine.rare[(mine.cell[mine.stream.start[mine.rare]] == index)]
                hashes = np.intersect1d(mine.stream.hashes[grams_here], shared)
                if len(hashes) == 0:
                    continue
                there = other.per_cell(other.matched(hashes))
                cells = [other.stream.cells[i] for i in np.argsort(-there) if there[i] > 0]
                if cells and cells[0] != gid:
                    part.elsewhere = part.elsewhere + (f"{'ab'[1 - side]}:{cells[0]}",)
        pair.reason = self._reason(pair, pa, shared)

    def _reason(self, pair: Pair, pa: Profile, shared: np.ndarray) -> str:
        t, m = self.settings.threshold, self.settings.min_match
        strong = [p for p in pair.parts.values() if p.share[0] >= t and p.matched[0] >= m] \
            or sorted(pair.parts.values(), key=lambda p: -p.matched[0])[:1]
        if not strong:
            return ""
        part = max(strong, key=lambda p: p.matched[0])
        index = pa.stream.cells.index(part.grade_id)
        mine = pa.rare[np.isin(pa.stream.hashes[pa.rare], shared) & (pa.cell[pa.stream.start[pa.rare]] == index)]
        counts = self.count(pa.stream.hashes[mine])
        unique = int(round(pa.per_cell(_cover(pa.stream, mine[counts <= 2]))[index]))
        where = next((e.split(":", 1)[1] for e in part.elsewhere if e.startswith("b:")), None)
        if unique * 2 >= part.matched[0]:
            text = f"{part.grade_id}: {unique} characters in common that no other student has"
            if part.matched[0] > unique:
                text += f", {part.matched[0] - unique} more that a few others have"
        else:
            others = int(counts.max()) - 2 if len(counts) else 0
            text = (f"{part.grade_id}: {part.matched[0]} characters in common that at most {others} other "
                    f"student{'s' if others != 1 else ''} also have")
        if where:
            text += f" (in {pair.b}'s {where} cell)"
        moved = [f"{p.grade_id} in {pair.b}'s {e.split(':', 1)[1]} cell" for p in pair.parts.values()
                 if p is not part for e in p.elsewhere if e.startswith("b:")]
        if moved:
            text += "; moved: " + ", ".join(moved)
        if pair.twins >= 0 and min(pair.whole) >= m:
            others = "no other submission has" if pair.twins == 0 else \
                f"{pair.twins} other submission{'s' if pair.twins != 1 else ''} also have"
            text = f"the whole answers alike (all code no public source has), which {others}; " + text
        elif pair.score >= t and min(pair.matched) >= m:
            text = f"all answer cells {pair.score:.0%} alike; " + text
        return text


def analyse(assignment: str, submissions: Iterable[Submission], release_nb, solution: Submission | None,
            settings: Settings, unreadable: dict[str, str] | None = None,
            public: dict[str, str] | None = None) -> Result:
    """Compare every pair of non-blank submissions (and each with the solution, when given); ``public``:
    known public code by name, whose k-grams count as common."""
    require_extra("copydetect", PURPOSE)
    start = time.perf_counter()
    submissions = sorted(submissions, key=lambda s: s.student)
    result = Result(assignment, settings, [s.student for s in submissions if not s.blank],
                    blank=[s.student for s in submissions if s.blank], unreadable=dict(unreadable or {}),
                    sources=list(public or {}))
    compared = [s for s in submissions if not s.blank]
    if solution is not None:
        compared.append(solution)
    result.submissions = {s.student: s for s in compared}
    release_cells = [cell.source for cell in release_nb.get("cells", []) if cell.get("cell_type") == "code"]
    comparison = Comparison(compared, release_cells, dict(public or {}), settings)
    result.common_floor = comparison.floor
    for a, b in itertools.combinations(compared, 2):
        result.pairs.append(comparison.pair(a, b))
    result.pairs.sort(key=lambda p: (-p.score, p.a, p.b))
    for pair in result.flagged:
        comparison.evidence(pair, result.submissions[pair.a], result.submissions[pair.b])
    result.seconds = time.perf_counter() - start
    return result


def read_sources(settings: Settings, root: Path) -> tuple[dict[str, str], list[str]]:
    """The public sources of ``[similarity] sources`` that can be read, and the names of those that cannot
    (the report says so and compares without them). A path is relative to the course folder; one that is
    not there and begins with the name of an installed package (``dlcourse/lab2/public_code.txt``) is read
    from that package's folder: a course folder on a hub holds the course's files, not its package."""
    texts, missing = {}, []
    for name in settings.sources:
        text = None
        for path in filter(None, (root / name, _in_package(name))):
            try:
                text = path.read_text(encoding="utf-8")
                break
            except (OSError, UnicodeDecodeError):
                continue
        if text is None:
            missing.append(name)
        else:
            texts[name] = text
    return texts, missing


def _in_package(name: str) -> Path | None:
    """``package/rest`` in the folder of the installed package ``package``; None when there is none."""
    import importlib.util
    first, _, rest = Path(name).as_posix().partition("/")
    if not rest or not first.isidentifier():
        return None
    try:
        spec = importlib.util.find_spec(first)
    except (ImportError, ValueError):
        return None
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    return Path(folders[0]) / rest if folders else None


def compare_class(assignment: str, release_path: Path, source_path: Path, submitted: Path, notebook: str,
                  settings: Settings, root: Path | None = None) -> Result:
    """Read every submission of an assignment from ``submitted/<student>/<assignment>/`` and compare.

    ``root`` is the course folder, which ``[similarity] sources`` are relative to; by default the
    submitted folder's parent (nbgrader's folders are folder names in the course folder)."""
    if not release_path.is_file():
        raise SimilarityError(f"{release_path} does not exist: run `python -m coursekit build` first.")
    release_nb = nbformat.read(release_path, as_version=4)
    released = code_answer_cells(release_nb)
    if not released:
        raise SimilarityError(f"{release_path} has no code answer cells (nbgrader solution cells) to compare.")
    public, missing = read_sources(settings, root if root is not None else submitted.parent)
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
    result = analyse(assignment, submissions, release_nb, solution, settings, unreadable, public)
    result.missing_sources = missing
    return result
