"""coursekit.grading.similarity: what is extracted from a notebook (answer cells only, the released code
removed, one part per answer cell), and how edge cases are reported. Notebooks are built here."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from coursekit.config import ConfigError, Similarity, load_config
from coursekit.grading.similarity import (SOLUTION, Answer, Pair, Result, Submission, Unreadable, analyse, code_answer_cells,
                                  extract, read_submission, text_summary, without_solution_markers, written_lines)

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = Similarity(threshold=0.95, min_match=40, noise=25, common_share=0.15,
                      sources=("dlcourse/lab2/public_code.txt", "dlcourse/lectures/dropout.py",
                               "dlcourse/lectures/stability.py"))
LOOSE = Similarity(threshold=0.95, min_match=10, noise=25)   # no public sources: small examples

SKELETON = '''def relu(x):
    """max(0, x)"""
    # YOUR CODE HERE
    raise NotImplementedError()
'''
DROPOUT = '''def drop(X, p):
    """dropout"""
    # YOUR CODE HERE
    raise NotImplementedError()
'''
RELU_ANSWER = '''def relu(x):
    """max(0, x)"""
    # 负数变 0
    positive = x > 0
    zeros = torch.zeros_like(x)
    result = torch.where(positive, x, zeros)
    return result
'''
DROP_ANSWER = '''def drop(X, p):
    """dropout"""
    if p < 0 or p > 1:
        raise ValueError("p")
    keep = torch.bernoulli(torch.full_like(X, 1 - p))
    scaled = X * keep / (1 - p)
    return scaled
'''


def answer_cell(grade_id: str, source: str, cell_type: str = "code"):
    make = new_code_cell if cell_type == "code" else new_markdown_cell
    cell = make(source)
    cell.metadata["nbgrader"] = {"grade_id": grade_id, "solution": True, "grade": False, "locked": False,
                                 "schema_version": 3}
    return cell


def notebook(relu: str = SKELETON, drop: str = DROPOUT, essay: str = "YOUR ANSWER HERE"):
    test = new_code_cell("assert relu(torch.tensor(1.0)) == 1")
    test.metadata["nbgrader"] = {"grade_id": "test_relu", "grade": True, "solution": False, "locked": True,
                                 "points": 3, "schema_version": 3}
    return new_notebook(cells=[new_code_cell("import torch"), answer_cell("relu", relu), test,
                               answer_cell("essay", essay, "markdown"), answer_cell("drop", drop)])


RELEASE = notebook()
RELEASED = code_answer_cells(RELEASE)


def test_only_code_answer_cells_are_compared():
    cells = code_answer_cells(notebook(RELU_ANSWER, essay="我的回答"))
    assert list(cells) == ["relu", "drop"], "no markdown answer, no test cell, no plain code cell"
    assert cells["relu"] == RELU_ANSWER


def test_written_lines_leave_out_the_released_code_and_comments():
    lines = RELU_ANSWER.splitlines()
    written = written_lines(RELU_ANSWER, SKELETON)
    assert [lines[i].strip() for i in written] == [
        "positive = x > 0", "zeros = torch.zeros_like(x)", "result = torch.where(positive, x, zeros)", "return result"]
    assert written_lines(SKELETON, SKELETON) == ()
    assert written_lines(SKELETON.replace("# YOUR CODE HERE\n", "# 还没写\n"), SKELETON) == (), \
        "a comment alone is not an answer"
    moved = SKELETON + "\n# helper\nvalue = 1\n"
    assert [moved.splitlines()[i] for i in written_lines(moved, SKELETON)] == ["value = 1"]


def test_extract_gives_one_part_per_answer_cell_and_knows_blank_ones():
    submission = extract("ann", notebook(RELU_ANSWER), RELEASED)
    assert list(submission.answers) == ["relu", "drop"]
    assert not submission.answers["relu"].blank and submission.answers["drop"].blank
    assert not submission.blank
    assert extract("eve", RELEASE, RELEASED).blank
    missing = new_notebook(cells=[answer_cell("relu", RELU_ANSWER)])
    assert extract("gus", missing, RELEASED).answers["drop"].blank, "a deleted answer cell counts as blank"


def test_solution_markers_are_removed():
    solution = "def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION\n"
    assert without_solution_markers(solution) == "def f():\n    return 1\n"


def write(tmp_path: Path, student: str, nb=None, text: str | None = None) -> Path:
    path = tmp_path / student / "lab2" / "lab2.ipynb"
    path.parent.mkdir(parents=True)
    if text is not None:
        path.write_text(text, encoding="utf-8")
    elif nb is not None:
        nbformat.write(nb, path)
    return path


@pytest.mark.parametrize("content, reason", [
    (None, "no lab2.ipynb in the submission folder"),
    ('{"cells": [', "is not a readable notebook"),
    (nbformat.writes(new_notebook(cells=[new_code_cell("print(1)")])), "has none of the assignment's answer cells"),
])
def test_unreadable_submissions_say_why(tmp_path, content, reason):
    path = tmp_path / "bob" / "lab2" / "lab2.ipynb"
    path.parent.mkdir(parents=True)
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(Unreadable, match=reason):
        read_submission("bob", path, RELEASED)


def test_renamed_copy_is_flagged_in_its_part_and_blank_pairs_are_not_compared():
    renamed = re.sub(r"\bpositive\b", "mask", re.sub(r"\bzeros\b", "nothing", RELU_ANSWER)).replace("result", "out")
    other = RELU_ANSWER.replace("torch.where(positive, x, zeros)", "x.clamp(min=0) if True else zeros")
    students = [extract("ann", notebook(RELU_ANSWER, DROP_ANSWER), RELEASED),
                extract("bob", notebook(renamed, DROP_ANSWER.replace("keep", "kept")), RELEASED),
                extract("cy", notebook(other), RELEASED),
                extract("eve", RELEASE, RELEASED), extract("fay", RELEASE, RELEASED)]
    result = analyse("lab2", students, RELEASE, None, dataclasses.replace(SETTINGS, min_match=10))
    assert result.blank == ["eve", "fay"] and result.students == ["ann", "bob", "cy"]
    assert {frozenset((p.a, p.b)) for p in result.pairs} == {frozenset(x) for x in
                                                             (("ann", "bob"), ("ann", "cy"), ("bob", "cy"))}
    assert [(p.a, p.b) for p in result.flagged] == [("ann", "bob")]
    pair = result.flagged[0]
    assert set(pair.parts) == {"relu", "drop"} and pair.parts["relu"].score == pytest.approx(1.0)
    ann_relu = students[0].answers["relu"].source
    spans = pair.parts["relu"].slices[0]
    assert any("torch.where" in ann_relu[start:end] for start, end in spans), "the matched text is located"
    with_cy = next(p for p in result.pairs if {p.a, p.b} == {"ann", "cy"})
    assert with_cy.score < 0.95 and not with_cy.flagged


def test_released_code_is_boilerplate_not_evidence():
    """Two different answers inside the same released skeleton share nothing: the skeleton's
    fingerprints (def line, docstring, the other cells) are removed before comparing."""
    skeleton = SKELETON.replace("    # YOUR", "    if not isinstance(x, torch.Tensor):\n"
                                "        raise TypeError(type(x).__name__)\n    # YOUR")
    release = notebook(skeleton)
    released = code_answer_cells(release)
    first = skeleton.replace("# YOUR CODE HERE\n    raise NotImplementedError()", "return x.clamp(min=0)")
    second = skeleton.replace("# YOUR CODE HERE\n    raise NotImplementedError()",
                              "y = x.clone()\n    y[y < 0] = 0\n    return y")
    # both also type the released check again in the other cell: their own lines, but released code
    guard = "    if not isinstance(X, torch.Tensor):\n        raise TypeError(type(X).__name__)\n"
    drop = DROPOUT.replace("    # YOUR CODE HERE\n    raise NotImplementedError()\n", guard)
    students = [extract("ann", notebook(first, drop), released), extract("bob", notebook(second, drop), released)]
    result = analyse("lab2", students, release, None, dataclasses.replace(SETTINGS, min_match=1))
    assert [p.score for p in result.pairs] == [0.0] and not result.flagged
    unfiltered = analyse("lab2", students, RELEASE, None, dataclasses.replace(SETTINGS, min_match=1))
    assert unfiltered.pairs[0].score > 0.3, "were the check not in the release, the re-typed check would match"


def test_one_submission_has_nothing_to_compare():
    result = analyse("lab2", [extract("ann", notebook(RELU_ANSWER), RELEASED)], RELEASE, None, SETTINGS)
    assert result.pairs == []
    assert "nothing to compare" in text_summary(result)


def test_a_solution_copy_is_flagged_against_the_solution():
    solution = Submission(SOLUTION, {gid: Answer(gid, src, written_lines(src, RELEASED[gid]))
                                     for gid, src in code_answer_cells(notebook(RELU_ANSWER, DROP_ANSWER)).items()})
    students = [extract("dee", notebook(RELU_ANSWER, DROP_ANSWER), RELEASED), extract("eve", RELEASE, RELEASED)]
    result = analyse("lab2", students, RELEASE, solution, dataclasses.replace(SETTINGS, min_match=10))
    assert [(p.a, p.b) for p in result.flagged] == [("dee", SOLUTION)]


def test_clusters_are_groups_of_three_or_more():
    pairs = [Pair("a", "b", 1.0, {}, True), Pair("b", "c", 1.0, {}, True), Pair("d", "e", 1.0, {}, True),
             Pair("a", "d", 0.2, {}, False)]
    result = Result("lab2", SETTINGS, ["a", "b", "c", "d", "e"], pairs=pairs)
    assert result.clusters() == [["a", "b", "c"]]


@pytest.mark.parametrize("old, new, message", [
    ("threshold = 0.95", "threshold = 1.5", r"'similarity\.threshold' must be a share of matched code in \(0, 1\]"),
    ("threshold = 0.95", 'threshold = "high"', r"'similarity\.threshold' must be a share .*got a string"),
    ("min_match = 40", "min_match = 0", r"'similarity\.min_match' must be at least 1"),
    ("common_share = 0.15", "common_share = 0", r"'similarity\.common_share' must be a share of the compared submissions"),
    ("noise = 25", "noise = 2", r"'similarity\.noise' must be between 5 and 100"),
])
def test_bad_similarity_settings_are_named(tmp_path, old, new, message):
    text = (ROOT / "course.toml").read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "course.toml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_course_toml_settings_are_read():
    assert load_config(ROOT / "course.toml").similarity == SETTINGS


# --- the normal form: what a copier changes for free -------------------------------------------------------

def normal(code: str, protected=("relu", "MySigmoid", "__call__", "derivative")) -> list[str]:
    from coursekit.grading.similarity import stream_of
    return stream_of({"cell": code}, set(protected), 25, {}).texts


BASE = '''def relu(x):
    y = torch.exp(-x.abs())
    return torch.where(x > 0, x, y * y) + 1
'''


@pytest.mark.parametrize("copy", [
    # prints, asserts, pass and dead code
    '''def relu(x):
    print(x.shape)
    assert x is not None
    y = torch.exp(-x.abs())
    unused = y * 3
    if False:
        y = 0
    pass
    return torch.where(x > 0, x, y * y) + 1
    print("never")
''',
    # torch.f(x) <-> x.f(), commuted operands, x ** 2 <-> x * x, a flipped comparison, a renamed temporary
    '''def relu(x):
    e = x.abs().neg().exp()
    return 1 + torch.where(0 < x, x, e ** 2)
''',
    # a helper pulled out, and one that nothing calls
    '''def _decay(v):
    return torch.exp(-torch.abs(v))


def _never_used(t):
    return t


def relu(x):
    y = _decay(x)
    return torch.where(x > 0, x, y.pow(2)) + 1
''',
])
def test_free_changes_leave_the_same_normal_form(copy):
    assert normal(copy) == normal(BASE)


def test_loops_and_comprehensions_have_one_normal_form():
    loop = "def relu(x):\n    out = []\n    for v in x:\n        out.append(v * 2)\n    return out\n"
    comprehension = "def relu(x):\n    return [v * 2 for v in x]\n"
    accumulate = "def relu(x):\n    total = 0\n    for v in x:\n        total += v * v\n    return total\n"
    generator = "def relu(x):\n    return sum(v ** 2 for v in x)\n"
    counting = "def relu(x):\n    k = 0\n    while k < len(x):\n        x[k] = 0\n        k += 1\n    return x\n"
    ranged = "def relu(x):\n    for k in range(len(x)):\n        x[k] = 0\n    return x\n"
    assert normal(loop) == normal(comprehension)
    assert normal(accumulate) == normal(generator)
    assert normal(counting) == normal(ranged)


def test_different_code_keeps_a_different_normal_form():
    assert normal(BASE) != normal(BASE.replace("x > 0", "x < 0"))
    assert normal(BASE) != normal(BASE.replace("torch.exp", "torch.log"))
    assert normal(BASE) != normal(BASE.replace("y * y", "y * x"))


def test_code_that_does_not_parse_is_still_compared():
    broken = RELU_ANSWER.replace("return result", "return (result")
    students = [extract("ann", notebook(broken, DROP_ANSWER), RELEASED),
                extract("bob", notebook(broken, DROP_ANSWER), RELEASED)]
    result = analyse("lab2", students, RELEASE, None, LOOSE)
    assert result.pairs[0].parts["relu"].score == pytest.approx(1.0)


# --- whole answers, common code, the page ----------------------------------------------------------------

ACTS = '''class MySigmoid:
    """σ"""

    def __call__(self, x):
        """σ(x)"""
        {call}

    def derivative(self, x):
        """σ'(x)"""
        {derivative}
'''
ACT_STUB = ACTS.format(call="# YOUR CODE HERE\n        raise NotImplementedError()",
                       derivative="# YOUR CODE HERE\n        raise NotImplementedError()")


def lab(acts: str = ACT_STUB, relu: str = SKELETON, drop: str = DROPOUT):
    return new_notebook(cells=[new_code_cell("import torch"), answer_cell("acts", acts), answer_cell("relu", relu),
                               answer_cell("drop", drop)])


LAB = lab()
LAB_RELEASED = code_answer_cells(LAB)
OWN_ACTS = ACTS.format(call="neg = torch.exp(-x.abs())\n        return torch.where(x >= 0, 1 / (1 + neg), neg / (1 + neg))",
                       derivative="s = self(x)\n        return s * (1 - s) + 0 * torch.sign(x).abs()")
OWN_DROP = DROP_ANSWER.replace("def drop(X, p):\n", "def drop(X, p):\n").replace("keep = ", "keep = 1.0 * ")


def test_code_moved_to_another_cell_is_found():
    """bob writes ann's drop inside the relu cell and leaves his drop cell as released."""
    mine = RELU_ANSWER.rstrip("\n") + "\n\n\n" + OWN_DROP
    students = [extract("ann", lab(OWN_ACTS, RELU_ANSWER, OWN_DROP), LAB_RELEASED),
                extract("bob", lab(OWN_ACTS, mine), LAB_RELEASED)]
    result = analyse("lab2", students, LAB, None, LOOSE)
    pair = result.pairs[0]
    assert pair.flagged and pair.score == pytest.approx(1.0)
    assert pair.parts["drop"].share[0] == pytest.approx(1.0), "ann's drop is matched in bob's relu cell"
    assert any(e == "b:relu" for e in pair.parts["drop"].elsewhere)
    assert "in bob's relu cell" in pair.reason


def test_code_most_of_the_class_shares_or_a_public_source_has_is_not_evidence():
    """Six students wrote the same relu and drop (common in the class); two of them the same activations,
    which a public source has: no pair is flagged, and the page marks the passages as common."""
    students = [extract(f"s{i}", lab(OWN_ACTS if i < 2 else ACT_STUB, RELU_ANSWER, DROP_ANSWER), LAB_RELEASED)
                for i in range(6)]
    public = {"book.txt": OWN_ACTS}
    settings = dataclasses.replace(LOOSE, common_share=0.5)
    result = analyse("lab2", students, LAB, None, settings, public=public)
    assert result.common_floor == 3
    assert not result.flagged
    assert all(p.score == 0.0 for p in result.pairs), "only common code is shared"
    without = analyse("lab2", students[:2], LAB, None, LOOSE)
    assert [(p.a, p.b) for p in without.flagged] == [("s0", "s1")], "the same two alone, with no source, are flagged"


def test_the_page_marks_rare_and_common_code_apart_and_draws_the_scores(tmp_path):
    from bs4 import BeautifulSoup

    from coursekit.grading.similarity import write_html
    common_drop = DROP_ANSWER
    students = [extract("ann", lab(OWN_ACTS, RELU_ANSWER, common_drop), LAB_RELEASED),
                extract("bob", lab(OWN_ACTS, RELU_ANSWER, common_drop), LAB_RELEASED),
                extract("cy", lab(ACT_STUB, SKELETON, common_drop), LAB_RELEASED),
                extract("dan", lab(ACT_STUB, SKELETON, common_drop), LAB_RELEASED)]
    result = analyse("lab2", students, LAB, None, dataclasses.replace(LOOSE, common_share=0.5))
    assert [(p.a, p.b) for p in result.flagged] == [("ann", "bob")]
    soup = BeautifulSoup(write_html(result, tmp_path / "similarity.html").read_text(encoding="utf-8"), "html.parser")
    svg = soup.find("svg", class_="histogram")
    assert svg is not None and svg.find("line", class_="threshold") is not None
    assert sum(int(t.get_text()) for t in svg.find_all("text", class_="count")) == len(result.pairs) == 6
    details = soup.find("details", id="pair-0")
    rare = " ".join(m.get_text() for m in details.find_all("mark", class_="rare"))
    common = " ".join(m.get_text() for m in details.find_all("mark", class_="common"))
    assert "torch.where(x >= 0" in rare and "torch.bernoulli" in common and "torch.bernoulli" not in rare
    assert not [m for m in details.find_all("mark") if m.find_parent("span", class_="released")], \
        "the released skeleton is never marked"
    assert "characters in common that no other student has" in details.find("p", class_="reason").get_text()
    assert "cdn" not in str(soup).lower() and "<script" not in str(soup)


# --- more of the normal form: output, dead code, squares ---------------------------------------------------

@pytest.mark.parametrize("copy", [
    # logging and output anywhere, also where it leaves a block empty
    '''def relu(x):
    logging.info("relu %s", x.shape)
    logger.debug(x)
    warnings.warn("slow")
    sys.stdout.write("x")
    if x.dim() > 1:
        print(x.shape)
    for v in x:
        assert v is not None
    y = torch.exp(-x.abs())
    return torch.where(x > 0, x, y * y) + 1
''',
    # expression statements without effect, unused tuple stores, an unused inner function, an emptied try
    '''def relu(x):
    x.shape
    x + 1
    a, b = x, 2

    def never(t):
        return t * 3
    try:
        pass
    except ValueError:
        y = 0
    y = torch.exp(-x.abs())
    return torch.where(x > 0, x, y * y) + 1
''',
    # the square written four more ways
    '''def relu(x):
    y = torch.exp(-x.abs())
    return torch.where(x > 0, x, pow(y, 2)) + 1
''',
    '''def relu(x):
    y = torch.exp(-x.abs())
    return torch.where(x > 0, x, torch.square(y)) + 1
''',
    '''def relu(x):
    y = torch.exp(-x.abs())
    return torch.where(x > 0, x, torch.pow(y, 2)) + 1
''',
    '''def relu(x):
    y = torch.exp(-x.abs())
    return torch.where(x > 0, x, math.pow(y, 2)) + 1
''',
])
def test_reporting_and_dead_code_and_squares_leave_the_same_normal_form(copy):
    assert normal(copy) == normal(BASE)


def test_code_after_an_if_whose_branches_all_leave_is_dropped():
    branches = "def relu(x):\n    if x.numel() == 0:\n        return x\n    else:\n        raise ValueError()\n"
    assert normal(branches + "    x = x * 2\n    print(x)\n") == normal(branches)


def test_an_emptied_if_keeps_its_else_as_the_negated_branch():
    emptied = "def relu(x):\n    if x.sum() < 0:\n        print(x)\n    else:\n        x = x * 2\n    return x\n"
    negated = "def relu(x):\n    if not x.sum() < 0:\n        x = x * 2\n    return x\n"
    assert normal(emptied) == normal(negated)


def test_code_with_an_effect_or_a_different_meaning_still_differs():
    # a call statement may change something: kept
    assert normal(BASE.replace("    return", "    x.add_(1)\n    return")) != normal(BASE)
    # a method called log on a tensor is not a logger
    assert normal(BASE.replace("    return", "    y = x.log()\n    return").replace("y * y", "y * y * y")) \
        != normal(BASE.replace("y * y", "y * y * y"))
    # two random draws are not one squared; a cube is not a square; pow with a modulus is not **
    twice = "def relu(x):\n    return torch.rand_like(x) * torch.rand_like(x)\n"
    squared = "def relu(x):\n    return torch.rand_like(x) ** 2\n"
    assert normal(twice) != normal(squared)
    assert normal(BASE.replace("y * y", "pow(y, 3)")) != normal(BASE)
    assert normal("def relu(x):\n    return pow(x, 2, 7)\n") != normal("def relu(x):\n    return x ** 2\n")
    # a branch that only one side has
    assert normal(BASE.replace("    return", "    if x.numel() > 0:\n        y = y + 1\n    return")) != normal(BASE)
    # code after an if that returns on one branch only is reachable
    one_branch = BASE.replace("    return", "    if x.numel() == 0:\n        return x\n    y = y + 1\n    return")
    assert normal(one_branch) != normal(BASE.replace("    return", "    if x.numel() == 0:\n        return x\n    return"))


# --- a whole answer alike: every TODO's choice together -----------------------------------------------------

CLASS_ACTS = [ACTS.format(call=f"return torch.exp(x * {k}) / (1 + torch.exp(x * {k}))",
                          derivative=f"s = self(x)\n        return s * ({k} - s)") for k in range(1, 5)]
CLASS_DROPS = [DROP_ANSWER.replace("1 - p))", f"1 - p) * {k})") for k in range(1, 4)]


def test_a_whole_answer_alike_is_evidence_though_each_part_is_common_in_the_class():
    """Eight students: the activations come in four kinds and drop in three, each kind written by two or
    three (so each k-gram is in several answers and weighs little), but only ann and bob made the same
    choice for both TODOs. The whole answer alike is flagged; the pairs alike in one TODO are not."""
    choices = [(0, 0), (0, 0), (0, 1), (1, 0), (1, 1), (2, 2), (2, 1), (3, 2)]
    students = [extract(name, lab(CLASS_ACTS[a], RELU_ANSWER, CLASS_DROPS[d]), LAB_RELEASED)
                for name, (a, d) in zip(["ann", "bob", "cy", "dee", "eve", "fay", "gus", "hal"], choices)]
    settings = dataclasses.replace(LOOSE, min_match=120, common_share=0.5)
    result = analyse("lab2", students, LAB, None, settings)
    pair = next(p for p in result.pairs if (p.a, p.b) == ("ann", "bob"))
    assert pair.score == pytest.approx(1.0) and min(pair.evidence) < settings.min_match, \
        "by each k-gram's rarity alone the pair is below min_match"
    assert pair.twins == 0 and min(pair.whole) >= settings.min_match
    assert [(p.a, p.b) for p in result.flagged] == [("ann", "bob")]
    assert "whole answers alike" in pair.reason
    alone = pair.whole[0]
    # a third student with the same choices for both: the whole answer is in three, and weighs 2/3
    third = extract("ida", lab(CLASS_ACTS[0], RELU_ANSWER, CLASS_DROPS[0]), LAB_RELEASED)
    again = analyse("lab2", students + [third], LAB, None, settings)
    pair = next(p for p in again.pairs if (p.a, p.b) == ("ann", "bob"))
    assert pair.twins == 1 and pair.whole[0] == pytest.approx(alone * 2 / 3, abs=1)


def test_public_sources_are_read_from_the_course_folder_else_from_the_installed_package(tmp_path):
    """A hub's course folder holds course.toml and source/, not dlcourse/: the sources are found in the
    installed course package; one that is nowhere is named as missing."""
    from coursekit.grading.similarity import read_sources
    settings = dataclasses.replace(SETTINGS, sources=(*SETTINGS.sources, "dlcourse/no_such_file.txt", "nowhere.txt"))
    texts, missing = read_sources(settings, tmp_path)  # a course folder without the package
    assert set(texts) == set(SETTINGS.sources) and missing == ["dlcourse/no_such_file.txt", "nowhere.txt"]
    assert texts["dlcourse/lectures/dropout.py"] == (ROOT / "dlcourse" / "lectures" / "dropout.py").read_text(encoding="utf-8")
    (tmp_path / "dlcourse" / "lectures").mkdir(parents=True)
    (tmp_path / "dlcourse" / "lectures" / "dropout.py").write_text("# the course folder's own copy\n", encoding="utf-8")
    texts, _ = read_sources(settings, tmp_path)
    assert texts["dlcourse/lectures/dropout.py"] == "# the course folder's own copy\n"
