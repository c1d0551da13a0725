"""The stability assignment's sample submissions: the reference, the released stub, and one partial answer."""

from __future__ import annotations

from coursekit.partkit.samples import Sample, replace_once

SAMPLES = (
    Sample("reference", "the instructor's answers everywhere"),
    Sample("blank", "the student version as released, nothing filled in", fill=frozenset()),
    Sample("partial", "xavier_uniform right; layer_variances also returns the input's own variance",
           edits={"variances": replace_once("h, variances = X, []", "h, variances = X, [X.var()]")}),
)
