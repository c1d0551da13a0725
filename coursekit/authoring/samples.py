"""Sample submissions, generated from the instructor notebook (never edited by hand).

A submission is the student version (release/) with some solution cells filled in. The
answers come from source/: the code between ``### BEGIN SOLUTION`` and ``### END SOLUTION``
(markers removed). A *variant* then edits one answer to plant a known bug, so that the
expected loss of points is known in advance.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

SOLUTION_BEGIN = "### BEGIN SOLUTION"
SOLUTION_END = "### END SOLUTION"
_MARKER_LINE = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n?", re.MULTILINE)


def grade_id(cell: nbformat.NotebookNode) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def is_solution(cell: nbformat.NotebookNode) -> bool:
    return bool(cell.get("metadata", {}).get("nbgrader", {}).get("solution"))


def solution_text(source: str) -> str:
    """The instructor's answer with the solution marker lines removed."""
    return _MARKER_LINE.sub("", source)


def answers(source_nb: nbformat.NotebookNode) -> dict[str, str]:
    """grade_id -> the instructor's answer, for every solution cell of the source notebook."""
    return {grade_id(cell): solution_text(cell.source) for cell in source_nb.cells if is_solution(cell)}


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


#: The samples the demo grades.
DEMO_SAMPLES = (
    Sample("reference", "the instructor's answers everywhere"),
    Sample("blank", "the student version as released, nothing filled in", fill=frozenset()),
    Sample("partial", "correct activations, network and L2; dropout_layer forgets the 1/(1-p) scaling",
           edits={"dropout_layer": replace_once("return mask * X / (1.0 - dropout)", "return mask * X")}),
)


def make_submission(release_nb: nbformat.NotebookNode, source_nb: nbformat.NotebookNode,
                    sample: Sample) -> nbformat.NotebookNode:
    """The release notebook with the sample's answers written into its solution cells."""
    known = answers(source_nb)
    wanted = set(known) if sample.fill is None else set(sample.fill)
    unknown = (wanted | set(sample.edits)) - set(known)
    if unknown:
        raise ValueError(f"sample {sample.student!r} names cells that are not solution cells: {sorted(unknown)}")
    nb = nbformat.from_dict(release_nb)
    for cell in nb.cells:
        gid = grade_id(cell)
        if gid is None or not is_solution(cell) or gid not in wanted | set(sample.edits):
            continue
        text = known[gid]
        if gid in sample.edits:
            text = sample.edits[gid](text)
        cell.source = text
    return nb


def write_samples(release_path: Path, source_path: Path, submitted_dir: Path, assignment: str,
                  timestamp: str, samples: tuple[Sample, ...] = DEMO_SAMPLES) -> list[Path]:
    """Write each sample as submitted/<student>/<assignment>/<notebook> with a timestamp.txt."""
    release_nb = nbformat.read(release_path, as_version=4)
    source_nb = nbformat.read(source_path, as_version=4)
    written = []
    for sample in samples:
        folder = submitted_dir / sample.student / assignment
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / release_path.name
        nbformat.write(make_submission(release_nb, source_nb, sample), target)
        (folder / "timestamp.txt").write_text(timestamp + "\n")
        written.append(target)
    return written


#: experiment check -> (the typical mistake it must catch, the edits that plant it in the reference)
EXPERIMENT_MISTAKES = {
    "test_gradient_vanishing": ("forward without any activation", {
        "network": chain(replace_once("h = self.activation(self.input_layer(X))", "h = self.input_layer(X)"),
                         replace_once("h = self.activation(layer(h))", "h = layer(h)"))}),
    "test_relu_death": ("'ReLU' that never outputs 0 (absolute value)", {
        "activations": replace_once("return torch.where(x > 0, x, torch.zeros_like(x))", "return x.abs()")}),
    "test_weight_decay": ("l2_penalty that always returns 0", {
        "l2_penalty": replace_once("return torch.sum(w.pow(2)) / 2", "return torch.zeros((), dtype=w.dtype)")}),
    "test_dropout_experiment": ("dropout_layer that never drops (returns X)", {
        "dropout_layer": replace_once("return mask * X / (1.0 - dropout)", "return X")}),
}


#: Golden submissions for grader_tests: one planted bug per graded part. Their expected scores
#: are written by hand in grader_tests/files/expected_scores.json, never taken from the grader.
GOLDEN_SAMPLES = (
    Sample("relu_derivative_wrong", "MyReLU.derivative returns 1 for negative inputs too",
           edits={"activations": replace_once("return (x > 0).to(x.dtype)", "return torch.ones_like(x)")}),
    Sample("sigmoid_unstable", "MySigmoid computed as e^x / (1 + e^x): nan for large positive x",
           edits={"activations": replace_once("return torch.where(x >= 0, 1 / (1 + z), z / (1 + z))",
                                              "return torch.exp(x) / (1 + torch.exp(x))")}),
    Sample("tanh_builtin", "MyTanh calls torch.tanh",
           edits={"activations": replace_once("return torch.sign(x) * (-torch.expm1(-2 * x.abs())) / (1 + z)",
                                              "return torch.tanh(x)")}),
    Sample("forward_skips_first_activation", "Network.forward applies no activation after the input layer",
           edits={"network": replace_once("h = self.activation(self.input_layer(X))", "h = self.input_layer(X)")}),
    Sample("dead_units_any", "dead_unit_fraction counts a unit as dead when it outputs 0 on any image",
           edits={"dead_units": replace_once(".all(dim=0)", ".any(dim=0)")}),
    Sample("l2_without_half", "l2_penalty returns the sum of squares without the 1/2",
           edits={"l2_penalty": replace_once("return torch.sum(w.pow(2)) / 2", "return torch.sum(w.pow(2))")}),
    Sample("dropout_no_scaling", "dropout_layer forgets the 1/(1-p) scaling",
           edits={"dropout_layer": replace_once("return mask * X / (1.0 - dropout)", "return mask * X")}),
    Sample("dropout_mutates_input", "dropout_layer multiplies X by the mask in place",
           edits={"dropout_layer": replace_once("return mask * X / (1.0 - dropout)",
                                                "X.mul_(mask)\n    return X / (1.0 - dropout)")}),
    Sample("dropout_fixed_mask", "dropout_layer draws the same mask on every call (fixed seed)",
           edits={"dropout_layer": replace_once(
               "mask = (torch.rand(X.shape, device=X.device) > dropout).to(X.dtype)",
               "mask = (torch.rand(X.shape, generator=torch.Generator().manual_seed(0)) > dropout).to(X.dtype)"
               ".to(X.device)")}),
    # One unfinished TODO each, everything else correct: only that part and the experiments that run it are lost.
    Sample("unfinished_relu", "MyReLU left unfinished (both methods raise NotImplementedError)",
           edits={"activations": chain(replace_once("return torch.where(x > 0, x, torch.zeros_like(x))",
                                                    "raise NotImplementedError()"),
                                       replace_once("return (x > 0).to(x.dtype)", "raise NotImplementedError()"))}),
    Sample("unfinished_sigmoid", "MySigmoid left unfinished",
           edits={"activations": chain(replace_once("z = torch.exp(-x.abs())  # 只对非正数求指数，不会溢出\n"
                                                    "        return torch.where(x >= 0, 1 / (1 + z), z / (1 + z))",
                                                    "raise NotImplementedError()"),
                                       replace_once("s = self(x)\n        return s * (1 - s)",
                                                    "raise NotImplementedError()"))}),
    Sample("unfinished_tanh", "MyTanh left unfinished",
           edits={"activations": chain(replace_once("z = torch.exp(-2 * x.abs())\n"
                                                    "        return torch.sign(x) * (-torch.expm1(-2 * x.abs())) / (1 + z)",
                                                    "raise NotImplementedError()"),
                                       replace_once("t = self(x)\n        return 1 - t * t",
                                                    "raise NotImplementedError()"))}),
    Sample("unfinished_forward", "Network.forward left unfinished",
           edits={"network": replace_once("h = self.activation(self.input_layer(X))\n"
                                          "        for layer in self.layers:\n"
                                          "            h = self.activation(layer(h))\n"
                                          "        return self.output_layer(h)", "raise NotImplementedError()")}),
    Sample("unfinished_dead_units", "dead_unit_fraction left unfinished",
           edits={"dead_units": replace_once("return (H == 0).all(dim=0).float().mean()", "raise NotImplementedError()")}),
    Sample("unfinished_l2", "l2_penalty left unfinished",
           edits={"l2_penalty": replace_once("return torch.sum(w.pow(2)) / 2", "raise NotImplementedError()")}),
    Sample("unfinished_dropout", "dropout_layer left unfinished (the released stub)",
           fill=frozenset({"activations", "network", "dead_units", "l2_penalty", "answer_q1", "answer_q2", "answer_q3", "answer_q4",
                           "answer_q5"})),
)
