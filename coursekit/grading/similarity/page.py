"""What the instructor reads: a few lines in the terminal and ``reports/<assignment>/similarity.html``."""

from __future__ import annotations

import html
from pathlib import Path

from coursekit.grading.similarity.compare import MIN_FUNCTIONS, Pair, Result
from coursekit.grading.similarity.extract import SOLUTION, Answer


def report_path(reports: Path, assignment: str) -> Path:
    return reports / assignment / "similarity.html"


def _rule(result: Result) -> str:
    s = result.settings
    return (f"flagged at {s.threshold:g} of the rare answer code, overall or in answer cells on each side, with "
            f">= {s.min_match} characters of evidence and >= {MIN_FUNCTIONS} matching functions on each side")


def text_summary(result: Result) -> str:
    """A few lines for the terminal."""
    s = result.settings
    lines = [f"Similarity of '{result.assignment}' (syntax-tree normal form, k = {s.noise}; {_rule(result)}; "
             f"common: in more than {result.common_floor} submissions"
             + (f" or in {len(result.sources)} public source(s)" if result.sources else "") + "): "
             f"{len(result.students)} compared, {len(result.blank)} blank, {len(result.unreadable)} unreadable, "
             f"{len(result.pairs)} pairs in {result.seconds:.1f} s"]
    for name in result.missing_sources:
        lines.append(f"public source not found, compared without it: {name} ([similarity] sources)")
    if len(result.students) < 2:
        lines.append(f"nothing to compare between students: {len(result.students)} submission(s) with answers"
                     + (" (compared with the instructor's solution only)" if result.pairs else ""))
    flagged = result.flagged
    lines.append(f"{len(flagged)} flagged pair(s)" + (":" if flagged else ""))
    for pair in flagged:
        lines.append(f"  {pair.a} ~ {pair.b}: {pair.score:.0%} overall" + (f" — {pair.reason}" if pair.reason else ""))
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


def highlighted_cell(answer: Answer, spans: list[tuple[int, int]],
                     common: list[tuple[int, int]] | None = None) -> str:
    """The cell as HTML lines: released lines dimmed and never marked; the student's code that matches the
    other answer in <mark class="rare">, what matches common or public code in <mark class="common">."""
    text = answer.source
    state = [""] * len(text)
    for kind, ranges in (("common", common or []), ("rare", spans)):
        for start, end in ranges:
            for i in range(max(0, start), min(len(text), end)):
                state[i] = kind
    written = set(answer.written)
    starts = _line_starts(text)
    rows = []
    for number, line in enumerate(text.splitlines()):
        base = starts[number]
        own = number in written
        pieces, current, buffer = [], "", ""

        def flush():
            if buffer:
                pieces.append(f'<mark class="{current}">{html.escape(buffer)}</mark>' if current
                              else html.escape(buffer))
        for offset, char in enumerate(line):
            kind = state[base + offset] if own else ""
            if kind != current:
                flush()
                buffer = ""
            current = kind
            buffer += char
        flush()
        rows.append(f'<span class="{"written" if own else "released"}">{"".join(pieces) or " "}</span>')
    return "\n".join(rows)


def histogram(result: Result, width: int = 640, height: int = 150, bins: int = 20) -> str:
    """An inline SVG of every pair's score (bars on a square-root scale), with the threshold drawn."""
    counts = [0] * bins
    for pair in result.pairs:
        counts[min(bins - 1, int(pair.score * bins))] += 1
    top = max(counts) if any(counts) else 1
    left, bottom, plot_h = 34, 24, height - 34
    bar_w = (width - left - 8) / bins
    parts = [f'<svg class="histogram" viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="Histogram of the scores of all {len(result.pairs)} pairs">']
    for i, n in enumerate(counts):
        h = plot_h * (n / top) ** 0.5
        x = left + i * bar_w
        parts.append(f'<rect x="{x + 1:.1f}" y="{height - bottom - h:.1f}" width="{bar_w - 2:.1f}" height="{h:.1f}" '
                     f'class="bar"><title>{i / bins:.2f}–{(i + 1) / bins:.2f}: {n} pair(s)</title></rect>')
        if n:
            parts.append(f'<text x="{x + bar_w / 2:.1f}" y="{height - bottom - h - 2:.1f}" class="count">{n}</text>')
    for tick in range(0, 11, 2):
        x = left + tick / 10 * (width - left - 8)
        parts.append(f'<text x="{x:.1f}" y="{height - 8}" class="tick">{tick / 10:.1f}</text>')
    t = result.settings.threshold
    x = left + t * (width - left - 8)
    parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="6" y2="{height - bottom}" class="threshold"/>'
                 f'<text x="{x - 4:.1f}" y="14" class="threshold-label">threshold {t:g}</text>')
    parts.append(f'<line x1="{left}" x2="{width - 8}" y1="{height - bottom}" y2="{height - bottom}" class="axis"/></svg>')
    return "".join(parts)


_STYLE = """*{box-sizing:border-box}body{font-family:sans-serif;max-width:80em;margin:2em auto;padding:0 1em;overflow-wrap:anywhere}
table{border-collapse:collapse;margin:1em 0;max-width:100%}td.score{white-space:nowrap}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}
.side{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1fr);gap:1em}
pre{background:#f8f8f8;padding:.5em;font-size:85%;white-space:pre-wrap;overflow-wrap:anywhere;max-width:100%}
pre .released{color:#999}mark.rare{background:#ffd54f}mark.common{background:#cfe3f7;color:#234}
details{margin:.5em 0 1.5em}summary{cursor:pointer}.note{color:#555}.reason{font-size:95%}
svg.histogram{width:100%;max-width:44em;height:auto;display:block}svg .bar{fill:#7a9cc6}
svg .threshold{stroke:#c62828;stroke-width:2;stroke-dasharray:4 3}svg .threshold-label{fill:#c62828;font-size:11px;text-anchor:end}
svg .tick,svg .count{font-size:10px;fill:#333;text-anchor:middle}svg .axis{stroke:#333}"""


def _pair_block(result: Result, i: int, pair: Pair) -> str:
    esc = html.escape
    s = result.settings
    a, b = result.submissions[pair.a], result.submissions[pair.b]
    blocks = []
    for gid in a.answers:
        part = pair.parts.get(gid)
        if part is None:
            label = "no match"
        else:
            label = (f"{part.score:.0%} of the rare code matched, {part.matched[0]} / {part.matched[1]} characters")
        strong = part is not None and part.share[0] >= s.threshold and part.matched[0] >= s.min_match
        moved = ""
        if part is not None and part.elsewhere:
            moved = " — " + "; ".join(
                f"{esc(pair.a if e.startswith('a:') else pair.b)}'s side of it is in the {esc(e[2:])} cell"
                for e in part.elsewhere)
        spans = part.slices if part else ([], [])
        common = part.common if part else ([], [])
        blocks.append(
            f"<h4>{esc(gid)}: {label}{' — flagged part' if strong else ''}{moved}</h4><div class=\"side\">"
            f"<div><b>{esc(pair.a)}</b><pre>{highlighted_cell(a.answers[gid], spans[0], common[0])}</pre></div>"
            f"<div><b>{esc(pair.b)}</b><pre>{highlighted_cell(b.answers[gid], spans[1], common[1])}</pre></div></div>")
    return (f'<details id="pair-{i}" open><summary><b>{esc(pair.a)} ~ {esc(pair.b)}</b>: '
            f"{pair.score:.0%} of their rare answer code matches</summary>"
            f'<p class="reason">{esc(pair.reason)}</p>{"".join(blocks)}</details>')


def render_html(result: Result) -> str:
    esc = html.escape
    s = result.settings
    flagged = result.flagged
    pair_rows = "".join(
        f'<tr><td><a href="#pair-{i}">{esc(p.a)} ~ {esc(p.b)}</a></td><td class="score">{p.score:.0%}</td>'
        f'<td class="reason">{esc(p.reason)}</td></tr>'
        for i, p in enumerate(flagged)) or '<tr><td colspan="3">none</td></tr>'
    clusters = "".join(f"<li>{esc(', '.join(group))}</li>" for group in result.clusters()) or "<li>none</li>"
    blank = esc(", ".join(result.blank)) or "none"
    unreadable = "".join(f"<tr><td>{esc(st)}</td><td>{esc(reason)}</td></tr>"
                         for st, reason in result.unreadable.items()) or '<tr><td colspan="2">none</td></tr>'
    nothing = ""
    if len(result.students) < 2:
        nothing = ("<p><strong>Nothing to compare between students:</strong> fewer than two submissions with "
                   "answers" + (" (compared with the instructor's solution only)" if result.pairs else "") + ".</p>")
    details = [_pair_block(result, i, pair) for i, pair in enumerate(flagged)]
    below = [p for p in result.pairs if not p.flagged][:10]
    top = "".join(f"<tr><td>{esc(p.a)} ~ {esc(p.b)}</td><td>{p.score:.0%}</td></tr>" for p in below) \
        or '<tr><td colspan="2">none</td></tr>'
    cells = esc(", ".join(next(iter(result.submissions.values())).answers)) if result.submissions else ""
    sources = esc(", ".join(result.sources)) or "none"
    if result.missing_sources:
        sources += f"; not found, so not used: {esc(', '.join(result.missing_sources))}"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Similarity: {esc(result.assignment)}</title>
<style>{_STYLE}</style></head><body>
<h1>Similarity of the answers: {esc(result.assignment)}</h1>
<p class="note">For instructors only: this page is never part of a student's feedback. Compared: the code each student
wrote in the answer cells ({cells}), all cells together, so code moved from one cell to another is found. Before
comparing, the code is put in a normal form on its syntax tree: names become one letter; prints, asserts and dead
code are dropped; small helpers are inlined; <code>torch.f(x)</code> and <code>x.f()</code>, <code>x ** 2</code> and
<code>x * x</code>, the order of commutative operands, loops and comprehensions are written one way. The released
notebook's code is never evidence, and neither is <em>common</em> code: a k-gram ({s.noise} characters of normal form)
found in more than {result.common_floor} submissions, or in a known public source ({sources}). The instructor's solution
is compared as “{esc(SOLUTION)}”. A pair is flagged when {s.threshold:.0%} of both answers' rare code matches, or
{s.threshold:.0%} of some answer cells on each side, with at least {s.min_match} characters of evidence on each side
(matched rare code, each k-gram weighted by 2 / the number of submissions that have it; for whole answers alike, all
their code that no public source has, weighted by 2 / the number of submissions that have all of it) and at least {MIN_FUNCTIONS}
functions of each side matching (two where a side has fewer). A flag is a reason to look, not a verdict: read the
two answers below.</p>
<p>{len(result.students)} submissions compared · {len(flagged)} flagged pair(s) · {len(result.blank)} blank ·
{len(result.unreadable)} unreadable · {len(result.pairs)} pairs in {result.seconds:.1f} s</p>
{nothing}
<h2>Scores of all pairs</h2>
{histogram(result)}
<p class="note">Each bar counts the pairs whose share of matched rare code falls in it (heights on a square-root
scale); the dashed line is the threshold.</p>
<h2>Flagged pairs</h2>
<table><tr><th>pair</th><th>overall</th><th>why</th></tr>{pair_rows}</table>
<h2>Clusters (three or more linked submissions)</h2><ul>{clusters}</ul>
<h2>Not compared</h2>
<p>Blank (every answer cell as released): {blank}</p>
<table><tr><th>unreadable submission</th><th>why</th></tr>{unreadable}</table>
<h2>Highest scores below the threshold</h2>
<table><tr><th>pair</th><th>overall</th></tr>{top}</table>
<h2>Flagged pairs side by side</h2>
<p class="note">Grey: the released skeleton, never marked. <mark class="rare">Yellow</mark>: the student's code that
matches the other answer and few others. <mark class="common">Blue</mark>: code that matches the other answer but is
common in the class or in a public source (not evidence).</p>
{''.join(details) or '<p>none</p>'}
</body></html>
"""


def write_html(result: Result, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(result), encoding="utf-8")
    return path
