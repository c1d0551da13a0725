"""Math that renders without a network in the HTML students receive: feedback pages and lecture notes.

nbconvert leaves the LaTeX of a notebook's markdown in the page and loads MathJax from a CDN to
typeset it, so a student who opens the page offline reads raw ``$\\dfrac{h}{1-p}$``. Here every
formula is converted to MathML when the page is written (latex2mathml, pure Python); browsers
render MathML natively, and the page loads no script at all.

* :func:`find_formulas` -- where the formulas of a markdown text are (``$…$``, ``$$…$$``, ``\\(…\\)``,
  ``\\[…\\]``, ``\\begin{align*}…\\end{align*}``), leaving out code spans, code blocks and every
  ``$`` that is not math (``\\$``, prices).
* :func:`to_mathml` -- one formula as MathML that markdown passes through untouched, or :class:`MathError`.
* :func:`markdown_with_mathml` -- a markdown text with its formulas replaced (a formula that cannot be
  converted stays as it was and is reported).
* :class:`MathMLHTMLExporter` -- nbconvert's HTML exporter doing this for every markdown text it
  renders (markdown cells, TA comments, markdown outputs); the scripts nbconvert's templates load
  from a CDN (MathJax, mermaid, the widget manager, require.js) are left out. nbgrader's
  ``generate_feedback`` uses it (``nbgrader_settings``), and so does
  ``python -m coursekit.authoring.lectures html`` with :data:`OFFLINE_LAB_TEMPLATE`.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field

from jinja2 import DictLoader, pass_context
from nbconvert.exporters import HTMLExporter
from traitlets import default

from coursekit.config import require_extra


class MathError(ValueError):
    """A formula latex2mathml cannot convert into MathML that shows no LaTeX."""

    def __init__(self, tex: str, reason: str) -> None:
        super().__init__(f"cannot convert ${tex}$ to MathML: {reason}")
        self.tex = tex
        self.reason = reason


@dataclass(frozen=True)
class Formula:
    """One formula of a markdown text: its LaTeX, and where it stands (delimiters included)."""

    tex: str
    display: bool
    start: int
    end: int


@dataclass(frozen=True)
class MathText:
    """A markdown text with its formulas as MathML, and the formulas that could not be converted."""

    text: str
    failures: list[MathError] = field(default_factory=list)


# --- where the formulas are ---------------------------------------------------------------

_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})")
_LIST_ITEM = re.compile(r"^ {0,3}(?:[-+*]|\d{1,9}[.)])(?:[ \t]|$)")
_RAW_CODE = re.compile(r"<(code|pre)\b[^>]*>.*?</\1\s*>", re.DOTALL | re.IGNORECASE)
_CODE = "\0"  # stands for every character of code in the masked text
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n")
#: A LaTeX environment standing on its own in the text, as nbconvert and JupyterLab take it.
_ENVIRONMENT = re.compile(r"\\begin\{([a-z]*\*?)\}.*?\\end\{\1\}", re.DOTALL)


def _indent(line: str) -> int:
    return len(line.expandtabs(4)) - len(line.expandtabs(4).lstrip(" "))


def _mask_code_blocks(text: str) -> str:
    """``text`` with every character of a fenced or indented code block replaced by _CODE."""
    out = []
    fence = None          # the opening fence of the block we are in
    indented = False      # inside an indented code block
    previous_blank = True
    in_list = False
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\r\n")
        blank = not body.strip()
        code = False
        if fence is not None:
            code = True
            closing = _FENCE.match(body)
            if (closing and closing.group(1)[0] == fence[0] and len(closing.group(1)) >= len(fence)
                    and not body[closing.end():].strip()):
                fence = None
        elif (opening := _FENCE.match(body)) and not (opening.group(1)[0] == "`" and "`" in body[opening.end():]):
            fence, code = opening.group(1), True
        elif indented and (blank or _indent(body) >= 4):
            code = True
        elif not blank and _indent(body) >= 4 and previous_blank and not in_list:
            indented = code = True
        else:
            indented = False
        if not code and not blank:
            if _LIST_ITEM.match(body):
                in_list = True
            elif previous_blank and _indent(body) == 0:
                in_list = False
        previous_blank = blank
        out.append("".join(c if c in "\r\n" else _CODE for c in line) if code else line)
    return "".join(out)


def _mask_code_spans(text: str) -> str:
    """``text`` with backtick code spans and raw <code>/<pre> elements replaced by _CODE."""
    chars = list(text)

    def blank(start: int, end: int) -> None:
        for k in range(start, end):
            if chars[k] not in "\r\n":
                chars[k] = _CODE

    for match in _RAW_CODE.finditer(text):
        blank(match.start(), match.end())
    i, n = 0, len(text)
    while i < n:
        if chars[i] == "\\":
            i += 2
            continue
        if chars[i] != "`":
            i += 1
            continue
        j = i
        while j < n and chars[j] == "`":
            j += 1
        run = j - i
        paragraph_end = _PARAGRAPH_BREAK.search(text, j)
        limit = paragraph_end.start() if paragraph_end else n
        closing = re.compile(r"(?<!`)`{%d}(?!`)" % run).search(text, j, limit)
        if closing:
            blank(i, closing.end())
            i = closing.end()
        else:
            i = j
    return "".join(chars)


def _closing_dollar(masked: str, start: int) -> int | None:
    """Where the inline formula opened just before ``start`` closes, or None if that ``$`` is no math.

    As pandoc reads it: the formula runs to the next unescaped ``$`` in the same paragraph; that
    ``$`` closes it only if no space stands before it and no digit after it ("$5 and $10" is no math).
    """
    k, n = start, len(masked)
    while k < n:
        c = masked[k]
        if c == "\\":
            k += 2
            continue
        if c == _CODE or (c == "\n" and _PARAGRAPH_BREAK.match(masked, k)):
            return None
        if c == "$":
            if masked[k - 1].isspace() or (k + 1 < n and masked[k + 1].isdigit()):
                return None
            return k
        k += 1
    return None


def find_formulas(markdown: str) -> list[Formula]:
    """Every formula of a markdown text, in order; math in code spans and code blocks is not math."""
    masked = _mask_code_spans(_mask_code_blocks(markdown))
    formulas = []
    i, n = 0, len(masked)
    while i < n:
        c = masked[i]
        if c == "\\" and (env := _ENVIRONMENT.match(masked, i)) and _CODE not in env.group(0):
            formulas.append(Formula(markdown[env.start():env.end()], True, env.start(), env.end()))
            i = env.end()
            continue
        if c == "\\":
            opener = masked[i + 1:i + 2]
            if opener in ("(", "["):
                close = "\\)" if opener == "(" else "\\]"
                j = masked.find(close, i + 2)
                body = masked[i + 2:j] if j >= 0 else ""
                if j >= 0 and body.strip() and _CODE not in body:
                    formulas.append(Formula(markdown[i + 2:j], opener == "[", i, j + 2))
                    i = j + 2
                    continue
            i += 2
            continue
        if c == "$" and masked.startswith("$$", i):
            j = masked.find("$$", i + 2)
            body = masked[i + 2:j] if j >= 0 else ""
            if j >= 0 and body.strip() and _CODE not in body:
                formulas.append(Formula(markdown[i + 2:j], True, i, j + 2))
                i = j + 2
            else:
                i += 2
            continue
        if c == "$" and i + 1 < n and not masked[i + 1].isspace():
            j = _closing_dollar(masked, i + 1)
            if j is not None:
                formulas.append(Formula(markdown[i + 1:j], False, i, j + 1))
                i = j + 1
                continue
        i += 1
    return formulas


# --- one formula as MathML -----------------------------------------------------------------

_TEXT_NODE = re.compile(r">([^<]+)<")
_ENTITY = re.compile(r"&(?:#[0-9]+|#[xX][0-9a-fA-F]+|[A-Za-z][A-Za-z0-9]*);")
#: ASCII punctuation markdown could act on; inside MathML text it is written as a character reference.
_MARKDOWN_ACTIVE = set("!\"#$%'()*+,-./:;=?@[]^_`{|}~")
#: ``\\[2pt]``: a line break with extra space, which latex2mathml would print as "[2pt]"; the space is dropped.
_ROW_GAP = re.compile(r"\\\\\[\s*-?[0-9.]+\s*(?:pt|em|ex|mm|cm|in|mu|bp|pc|dd|sp)\s*\]")
#: Delimiters that latex2mathml takes after ``\bigl`` & co. only as characters, not as commands.
_DELIMITERS = {r"\|": "‖", r"\Vert": "‖", r"\lVert": "‖", r"\rVert": "‖", r"\vert": "|", r"\lvert": "|",
               r"\rvert": "|", r"\{": "{", r"\lbrace": "{", r"\}": "}", r"\rbrace": "}", r"\langle": "⟨",
               r"\rangle": "⟩", r"\lfloor": "⌊", r"\rfloor": "⌋", r"\lceil": "⌈", r"\rceil": "⌉"}
_SIZED_DELIMITER = re.compile(r"(\\[bB]igg?[lrm]?)\s*(\\(?:[|{}]|[A-Za-z]+)|\.)")


def _sized_delimiter(match: re.Match) -> str:
    size, delimiter = match.groups()
    if delimiter == ".":  # the empty delimiter
        return ""
    return size + _DELIMITERS.get(delimiter, delimiter)


#: Spellings latex2mathml does not know, and the ones it does: ``aligned`` (the environment used
#: inside ``$$``) lays out like ``align*``; ``\arg`` is an operator name.
_SYNONYMS = re.compile(r"\\(begin|end)\{aligned\}|\\arg(?![A-Za-z])")


def _synonym(match: re.Match) -> str:
    return f"\\{match.group(1)}{{align*}}" if match.group(1) else r"\operatorname{arg}"


def _prepare(tex: str) -> str:
    """``tex`` in the forms latex2mathml knows: row gaps dropped, sized delimiters as characters,
    ``aligned`` and ``\\arg`` spelled as it knows them."""
    tex = _SYNONYMS.sub(_synonym, _ROW_GAP.sub(r"\\\\", tex))
    return _SIZED_DELIMITER.sub(_sized_delimiter, tex)


def _safe_text(text: str, tex: str) -> str:
    """One MathML text node with markdown's active characters as character references."""
    out, k = [], 0
    for entity in _ENTITY.finditer(text):
        out.append(_escape_run(text[k:entity.start()], tex))
        out.append(entity.group(0))
        k = entity.end()
    out.append(_escape_run(text[k:], tex))
    return "".join(out)


def _escape_run(run: str, tex: str) -> str:
    if "\\" in run:
        raise MathError(tex, f"unknown command {run.strip()!r}")
    if "&" in run:
        raise MathError(tex, "'&' outside an environment that aligns columns")
    return "".join(f"&#{ord(c)};" if c in _MARKDOWN_ACTIVE else c for c in run)


def to_mathml(tex: str, display: bool = False) -> str:
    """``tex`` as one line of MathML (``<math display="block">`` for display math).

    Text inside the MathML is written so that markdown leaves it alone (``*``, ``_``, ``|`` ... as
    character references). Raises MathError when latex2mathml fails or would leave LaTeX visible
    (an unknown command, a stray ``&``).
    """
    convert = require_extra("latex2mathml.converter", "math in the feedback (MathML)").convert

    try:
        mathml = convert(_prepare(tex), display="block" if display else "inline")
    # latex2mathml reports malformed LaTeX with its own exceptions, and with IndexError, KeyError
    # ... from deep inside its parser; any of them means this one formula cannot be shown as MathML.
    except Exception as err:  # noqa: BLE001
        raise MathError(tex, f"{type(err).__name__}: {err}".rstrip(": ")) from err
    mathml = mathml.replace(' xmlns="http://www.w3.org/1998/Math/MathML"', "").replace("\n", " ")
    return _TEXT_NODE.sub(lambda m: ">" + _safe_text(m.group(1), tex) + "<", mathml)


def markdown_with_mathml(markdown: str) -> MathText:
    """``markdown`` with each formula replaced by its MathML; a formula that cannot be converted stays."""
    parts, failures, k = [], [], 0
    for formula in find_formulas(markdown):
        try:
            mathml = to_mathml(formula.tex, formula.display)
        except MathError as err:
            failures.append(err)
            continue
        parts += [markdown[k:formula.start], mathml]
        k = formula.end
    parts.append(markdown[k:])
    return MathText("".join(parts), failures)


# --- nbconvert --------------------------------------------------------------------------------

#: Stands where nbconvert's templates load MathJax: how MathML is laid out, and no script.
_MATH_CSS = """{%- macro mathjax(url=None) -%}
<style type="text/css">
math { font-family: "Latin Modern Math", "STIX Two Math", "Cambria Math", "DejaVu Math TeX Gyre", math; font-size: 1.1em; }
math[display="block"] { margin: 0.6em 0; overflow-x: auto; overflow-y: hidden; }
mtd[columnalign="left"] { text-align: left; }
mtd[columnalign="right"] { text-align: right; }
</style>
{%- endmacro %}"""

#: The lab template without require.js, which it would fetch from a CDN.
OFFLINE_LAB_TEMPLATE = "coursekit-offline-lab.html.j2"

_TEMPLATES = {
    "mathjax.html.j2": _MATH_CSS,
    "mermaidjs.html.j2": "{%- macro mermaid_js(url=None, elk_url=None) -%}{%- endmacro %}",
    OFFLINE_LAB_TEMPLATE: ("{%- extends 'index.html.j2' -%}\n"
                           "{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}"),
}


class MathMLHTMLExporter(HTMLExporter):
    """nbconvert's HTMLExporter with every formula as MathML and no script from a CDN.

    Its templates are nbconvert's (or nbgrader's feedback template): only the ``mathjax`` and
    ``mermaid_js`` macros they import are replaced. Widget outputs (tqdm's progress bars) are shown
    by their text, without the widget manager nbconvert would load from a CDN. With the lab
    template, pass ``template_file=OFFLINE_LAB_TEMPLATE`` to leave out require.js as well.
    """

    @default("extra_loaders")
    def _offline_templates(self) -> list:
        return [DictLoader(_TEMPLATES)]

    def from_notebook_node(self, nb, resources=None, **kw):
        """The page. The widgets' saved state is left out: nothing could render it offline, and without
        it nbconvert shows each widget output by its text."""
        if "widgets" in nb.metadata:
            nb = copy.deepcopy(nb)
            del nb.metadata["widgets"]
        return super().from_notebook_node(nb, resources, **kw)

    @pass_context
    def markdown2html(self, context, source):
        converted = markdown_with_mathml(source)
        for failure in converted.failures:
            self.log.warning("%s; it is shown as LaTeX", failure)
        return super().markdown2html(context, converted.text)
