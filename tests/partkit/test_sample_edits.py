"""coursekit.partkit.samples: edits that plant a known bug, loudly when they do not apply."""

from __future__ import annotations

import pytest

from coursekit.partkit.samples import chain, replace_once


def test_an_edit_applies_exactly_once_or_says_why():
    assert replace_once("a", "b")("xay") == "xby"
    with pytest.raises(ValueError, match="exactly one 'a'"):
        replace_once("a", "b")("aa")
    assert chain(replace_once("a", "b"), replace_once("b", "c"))("a") == "c"
