"""coursekit.handgrade.groups: similar answers together, blank and copied ones apart."""

from __future__ import annotations

import numpy as np

from coursekit.handgrade.answers import is_blank, normalized
from coursekit.handgrade.groups import BLANK, COPIED, SIMILAR, average_linkage, copies_prompt, group_answers, tfidf

PROMPT = "### 思考题 1（4 分）\n\n神经网络为什么需要**非线性**激活函数？如果每一层都用线性激活，会发生什么？"
TEXTS = {
    "a": "线性层的复合还是线性映射，多层网络等价于一层，深度没有意义。",
    "b": "多层线性层的复合仍然是线性映射，整个网络等价于一层，深度没有意义了。",
    "c": "激活函数是为了把输出限制在 0 到 1 的范围内，表示概率。",
    "d": "激活函数的作用是把输出限制在 0 到 1 范围内，可以表示概率。",
    "e": "YOUR ANSWER HERE",
    "f": "  ",
    "g": "神经网络为什么需要非线性激活函数？如果每一层都用线性激活，会发生什么？",
}


def test_normalized_and_blank():
    assert normalized("**A** $x^2$，好！ YOUR ANSWER HERE") == "ax2好"
    assert is_blank("YOUR ANSWER HERE\n\n") and is_blank("。。") and not is_blank("不会")


def test_copied_prompt():
    assert copies_prompt(TEXTS["g"], PROMPT)
    assert not copies_prompt(TEXTS["a"], PROMPT)
    assert not copies_prompt(TEXTS["g"] + "因为线性层的复合还是线性映射，多层网络等价于一层，只能解决线性可分的问题。", PROMPT)


def test_groups_put_alike_answers_together_and_every_answer_once():
    groups = group_answers(TEXTS, prompt=PROMPT)
    members = [sorted(g.members) for g in groups]
    assert ["a", "b"] in members and ["c", "d"] in members
    assert [(g.kind, sorted(g.members)) for g in groups[-2:]] == [(COPIED, ["g"]), (BLANK, ["e", "f"])]
    assert sorted(k for g in groups for k in g.members) == sorted(TEXTS)
    assert all(g.kind == SIMILAR for g in groups[:-2])


def test_threshold_one_keeps_every_answer_alone():
    groups = group_answers({k: TEXTS[k] for k in "abcd"}, threshold=1.01)
    assert len(groups) == 4


def test_tfidf_rows_are_unit_length_and_identical_texts_match():
    vectors = tfidf(["线性映射", "线性映射", "概率范围"])
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1)
    assert np.isclose(vectors[0] @ vectors[1], 1) and vectors[0] @ vectors[2] < 0.01


def test_average_linkage_merges_by_mean_similarity():
    s = np.array([[1, .9, .1, .5], [.9, 1, .1, .1], [.1, .1, 1, .2], [.5, .1, .2, 1]])
    clusters = sorted(sorted(c) for c in average_linkage(s, 0.4))
    assert clusters == [[0, 1], [2], [3]], "3 joins 0 and 1 only on average (0.3 < 0.4)"
    assert sorted(sorted(c) for c in average_linkage(s, 0.25)) == [[0, 1, 3], [2]]
    assert average_linkage(np.zeros((0, 0)), 0.5) == []
