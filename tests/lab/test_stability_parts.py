"""dlcourse.stability: the second assignment's parts pass equivalent right answers, fail the usual
mistakes with words, and the notebook quotes the thresholds the judges use."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from coursekit.partkit.local import LocalWorker, judged
from dlcourse.stability import ASSIGNMENT, depth

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "source" / "stability" / "stability.ipynb"


def verdict(gid, subject, cases="visible"):
    """The part's message for ``subject`` (None: it passes), measured and judged as the visible checks do
    (without the review of this file, which is not an answer cell)."""
    part = ASSIGNMENT.part(gid)
    if gid == "test_depth_experiment":
        return judged(part, part.measurement(subject), cases)
    return judged(part, part.measure(LocalWorker({part.definition: subject}), cases), cases)


def xavier_uniform(fan_out, fan_in):
    a = math.sqrt(6 / (fan_in + fan_out))
    return torch.empty(fan_out, fan_in).uniform_(-a, a)


def layer_variances(weights, X):
    h, out = X, []
    for W in weights:
        h = h @ W.T
        out.append(h.var(unbiased=False))  # the biased estimate is right too
    return torch.tensor([v.item() for v in out])  # a float32 tensor even for float64 inputs: right too


@pytest.mark.parametrize("cases", ["visible", "hidden"])
def test_equivalent_right_answers_pass_every_part(cases):
    for gid in ("test_xavier_range", "test_xavier_variance"):
        assert verdict(gid, xavier_uniform, cases) is None
    assert verdict("test_layer_variances", layer_variances, cases) is None
    assert verdict("test_depth_experiment", depth.run_depth(xavier_uniform, layer_variances)) is None


@pytest.mark.parametrize("gid, wrong, words", [
    ("test_xavier_range", lambda o, i: torch.randn(o, i) * math.sqrt(2 / (o + i)), "[−a, a] 内"),  # normal, not uniform
    ("test_xavier_range", lambda o, i: xavier_uniform(i, o), "形状"),
    ("test_xavier_range", lambda o, i: torch.ones(o, i) * 0.01, "铺满"),
    ("test_xavier_variance", lambda o, i: (torch.rand(o, i) * 2 - 1) * math.sqrt(2 / (o + i)), "方差"),
    ("test_xavier_variance", lambda o, i: torch.rand(o, i) * math.sqrt(6 / (o + i)), "均值"),
    ("test_layer_variances", lambda ws, X: torch.stack([(X @ W.T).var() for W in ws]), "下一层的输入"),
    ("test_layer_variances", lambda ws, X: torch.stack([X.var()] + [(X @ W.T).var() for W in ws]), "不要把输入"),
    ("test_layer_variances", lambda ws, X: [float(X.var())], "一维张量"),
])
def test_a_usual_mistake_fails_with_words(gid, wrong, words):
    message = verdict(gid, wrong, "hidden")
    assert message is not None and words in message, message


def test_the_experiment_fails_when_the_initialisation_is_not_xaviers():
    narrow = lambda o, i: (torch.rand(o, i) * 2 - 1) * math.sqrt(2 / (o + i))  # noqa: E731 -- variance a third
    message = verdict("test_depth_experiment", depth.run_depth(narrow, layer_variances))
    assert message is not None and "√(6/(fan_in+fan_out))" in message


def test_a_forbidden_initialiser_is_found_by_the_review():
    from coursekit.partkit.review import review
    source = ("import torch\n\n\ndef xavier_uniform(fan_out, fan_in):\n"
              "    return torch.nn.init.xavier_uniform_(torch.empty(fan_out, fan_in))\n")
    assert [f.kind for f in review(source, rule=ASSIGNMENT.rules["xavier"])] == ["forbidden"]


def test_the_notebook_quotes_the_judges_thresholds():
    """The numbers the notebook's text states are the settings the grader judges with (course.toml's
    overrides included): changing one without the other fails here."""
    from coursekit.config import load_config
    from coursekit.partkit.settings import from_config
    parts = from_config(ASSIGNMENT, load_config(ROOT / "course.toml")).by_id
    text = "".join("".join(cell["source"]) for cell in json.loads(NOTEBOOK.read_text(encoding="utf-8"))["cells"])
    limits = parts["test_depth_experiment"].settings
    assert f"{depth.DEPTH} 层、每层 {depth.WIDTH} 个单元" in text
    assert f"10^{{{math.log10(limits.exploded):.0f}}}" in text and f"10^{{{math.log10(limits.vanished):.0f}}}" in text
    assert f"1/4 到 {limits.steady_factor:g} 倍" in text and limits.steady_factor == 4
    assert f"相对容差 {parts['test_xavier_variance'].settings.variance_tolerance:.0%}" in text
    assert f"相对容差 {parts['test_layer_variances'].settings.relative_tolerance:.1%}" in text


def test_the_reference_stays_steady_on_every_seed_the_comment_quotes():
    worst = 1.0
    for seed in range(20):
        torch.manual_seed(seed)
        steady = depth.run_depth(xavier_uniform, layer_variances, seed=seed)["Xavier"]
        worst = max(worst, *(max(v / steady[0], steady[0] / v) for v in steady[1:]))
    assert worst < 1.15 < ASSIGNMENT.part("test_depth_experiment").settings.steady_factor
