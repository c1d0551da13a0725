"""Answer groups: answers that say the same thing, so a TA grades them with one decision.

Chinese has no spaces between words; each answer is compared by its character n-grams (2 and 3
characters of :func:`coursekit.handgrade.answers.normalized` text), weighted by TF-IDF over the
class's answers, by cosine similarity. Groups are formed by average-linkage agglomerative
clustering: the two groups whose answers are most similar on average are merged until no pair is
similar enough (`threshold`). Blank answers and answers that only copy the question form their own
groups first. numpy only; no segmenter or model is needed.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import numpy as np

from coursekit.handgrade.answers import is_blank, normalized

#: Average cosine similarity (TF-IDF of character 2- and 3-grams) above which groups merge;
#: benchmarks/handgrade.py measures purity and decisions for other values.
DEFAULT_THRESHOLD = 0.25
#: An answer whose character bigrams are at least this share in the question's text copies the question.
COPY_SHARE = 0.8

BLANK, COPIED, SIMILAR = "blank", "copied", "similar"


@dataclass(frozen=True)
class Group:
    """Answers graded together: `members` (keys of the answers), the most typical one first."""

    kind: str  # BLANK, COPIED or SIMILAR
    members: tuple[str, ...]


def ngrams(text: str, sizes: tuple[int, ...] = (2, 3)) -> Counter:
    grams = Counter()
    for n in sizes:
        grams.update(text[k:k + n] for k in range(len(text) - n + 1))
    if not grams and text:
        grams[text] = 1  # a one-character answer
    return grams


def tfidf(texts: list[str]) -> np.ndarray:
    """One L2-normalized row per text: sublinear term frequency times smoothed IDF of its n-grams."""
    counts = [ngrams(t) for t in texts]
    vocabulary: dict[str, int] = {}
    for grams in counts:
        for gram in grams:
            vocabulary.setdefault(gram, len(vocabulary))
    matrix = np.zeros((len(texts), max(len(vocabulary), 1)))
    for row, grams in enumerate(counts):
        for gram, count in grams.items():
            matrix[row, vocabulary[gram]] = 1.0 + math.log(count)
    document_frequency = (matrix > 0).sum(axis=0)
    matrix *= np.log((1 + len(texts)) / (1 + document_frequency)) + 1.0
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms == 0, 1.0, norms)


def copies_prompt(text: str, prompt: str) -> bool:
    """The answer is (almost) only the question's own words."""
    answer, question = normalized(text), normalized(prompt)
    grams = ngrams(answer, (2,))
    if not grams or not question:
        return False
    inside = sum(count for gram, count in grams.items() if gram in question)
    return inside / sum(grams.values()) >= COPY_SHARE


def average_linkage(similarity: np.ndarray, threshold: float) -> list[list[int]]:
    """Clusters of indices: merge the most similar pair of clusters (mean pairwise similarity) while
    it is at least `threshold`."""
    n = len(similarity)
    if n == 0:
        return []
    link = similarity.astype(float).copy()
    np.fill_diagonal(link, -np.inf)
    sizes = np.ones(n)
    members = {k: [k] for k in range(n)}
    alive = np.ones(n, dtype=bool)
    while len(members) > 1:
        flat = int(np.argmax(link))
        i, j = divmod(flat, n)
        if link[i, j] < threshold:
            break
        merged = (sizes[i] * link[i] + sizes[j] * link[j]) / (sizes[i] + sizes[j])
        merged[~alive] = -np.inf
        link[i], link[:, i] = merged, merged
        link[i, i] = -np.inf
        link[j], link[:, j] = -np.inf, -np.inf
        alive[j] = False
        sizes[i] += sizes[j]
        members[i] += members.pop(j)
    return list(members.values())


def group_answers(texts: dict[str, str], prompt: str = "", threshold: float = DEFAULT_THRESHOLD) -> list[Group]:
    """Groups of the answers (key -> markdown): similar answers, largest group first, then the
    answers that copy the question, then the blank ones. Every key is in exactly one group."""
    blank = sorted(k for k, t in texts.items() if is_blank(t))
    copied = sorted(k for k, t in texts.items() if k not in blank and prompt and copies_prompt(t, prompt))
    rest = sorted(k for k in texts if k not in set(blank) | set(copied))
    groups = []
    if rest:
        vectors = tfidf([normalized(texts[k]) for k in rest])
        similarity = vectors @ vectors.T
        for cluster in average_linkage(similarity, threshold):
            typical = sorted(cluster, key=lambda k: (-similarity[k, cluster].mean(), rest[k]))
            groups.append(Group(SIMILAR, tuple(rest[k] for k in typical)))
        groups.sort(key=lambda g: (-len(g.members), g.members[0]))
    if copied:
        groups.append(Group(COPIED, tuple(copied)))
    if blank:
        groups.append(Group(BLANK, tuple(blank)))
    return groups
