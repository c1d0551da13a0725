"""A student's markdown answer as HTML for the grading page: math as MathML, no script, no raw HTML.

Formulas are found and converted by :mod:`coursekit.grading.htmlmath` (the feedback pages' offline
math); the rest is markdown rendered by mistune with every HTML tag of the answer escaped, so an
answer cannot run code in the TA's page. A formula that cannot be converted is shown as its LaTeX.
"""

from __future__ import annotations

import html
import secrets

import mistune

from coursekit.grading.htmlmath import MathError, find_formulas, to_mathml

_markdown = mistune.create_markdown(escape=True, plugins=["strikethrough", "table"])


def answer_html(markdown: str) -> str:
    """The answer as safe HTML (formulas as MathML)."""
    marker = "mathslot" + secrets.token_hex(4)
    pieces, slots, k = [], [], 0
    for formula in find_formulas(markdown):
        try:
            mathml = to_mathml(formula.tex, formula.display)
        except MathError:
            continue
        pieces += [markdown[k:formula.start], f"{marker}x{len(slots)}x"]
        slots.append(mathml)
        k = formula.end
    pieces.append(markdown[k:])
    rendered = _markdown("".join(pieces))
    for index, mathml in enumerate(slots):
        rendered = rendered.replace(f"{marker}x{index}x", mathml)
    return rendered


def text_html(text: str) -> str:
    """Plain text for the page (a TA comment shown as written)."""
    return html.escape(text).replace("\n", "<br>")
