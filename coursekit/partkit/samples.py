"""What a sample submission is: the instructor's answers with some cells left out or edited to plant a
known bug. A course declares its samples with these (``Assignment.samples``); ``coursekit samples`` and
the tests write them as submissions (:mod:`coursekit.authoring.samples`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Sample:
    """One generated submission.

    fill: which solution cells get the instructor's answer (None = all of them).
    edits: grade_id -> function applied to that cell's answer (plants a bug).
    """

    student: str
    description: str
    fill: frozenset[str] | None = None
    edits: dict[str, Callable[[str], str]] = field(default_factory=dict)


def replace_once(old: str, new: str) -> Callable[[str], str]:
    """An edit that replaces `old` by `new`, failing loudly when `old` is not in the answer."""
    def edit(text: str) -> str:
        if text.count(old) != 1:
            raise ValueError(f"sample edit expected exactly one {old!r} in the answer, found {text.count(old)}")
        return text.replace(old, new)
    return edit


def chain(*edits: Callable[[str], str]) -> Callable[[str], str]:
    """Several edits of one answer, applied in order."""
    def edit(text: str) -> str:
        for step in edits:
            text = step(text)
        return text
    return edit
