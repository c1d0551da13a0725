"""coursekit.authoring.samples: submissions generated from source/ and release/, never by hand."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from coursekit.config import load_config
from coursekit.authoring.samples import Sample, grade_id, make_submission, replace_once, solution_text
from dlcourse.lab2.samples import DEMO_SAMPLES

ROOT = Path(__file__).resolve().parents[2]
CONFIG = load_config(ROOT / "course.toml")
NOTEBOOK = CONFIG.assignment("lab2").notebook
SOURCE = nbformat.read(ROOT / "source" / "lab2" / NOTEBOOK, as_version=4)
RELEASE = nbformat.read(ROOT / "release" / "lab2" / NOTEBOOK, as_version=4)
SAMPLES = {sample.student: sample for sample in DEMO_SAMPLES}


def cells_by_id(nb) -> dict[str, str]:
    return {grade_id(c): c.source for c in nb.cells if grade_id(c)}


def test_solution_text_drops_only_the_marker_lines():
    text = "def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION\n"
    assert solution_text(text) == "def f():\n    return 1\n"


def test_reference_fills_every_solution_cell_and_keeps_the_rest():
    reference = cells_by_id(make_submission(RELEASE, SOURCE, SAMPLES["reference"]))
    release = cells_by_id(RELEASE)
    assert set(reference) == set(release)
    changed = {gid for gid in release if reference[gid] != release[gid]}
    assert changed == {"activations", "network", "dead_units", "l2_penalty", "dropout_layer",
                       "answer_q1", "answer_q2", "answer_q3", "answer_q4", "answer_q5"}
    assert all("NotImplementedError" not in reference[gid] for gid in changed)
    assert all("BEGIN SOLUTION" not in source for source in reference.values())


def test_blank_is_the_release_itself():
    blank = make_submission(RELEASE, SOURCE, SAMPLES["blank"])
    assert [c.source for c in blank.cells] == [c.source for c in RELEASE.cells]
    assert [c.metadata for c in blank.cells] == [c.metadata for c in RELEASE.cells]


def test_partial_differs_from_reference_only_in_dropout_scaling():
    reference = cells_by_id(make_submission(RELEASE, SOURCE, SAMPLES["reference"]))
    partial = cells_by_id(make_submission(RELEASE, SOURCE, SAMPLES["partial"]))
    assert {gid for gid in reference if reference[gid] != partial[gid]} == {"dropout_layer"}
    assert "return mask * X\n" in partial["dropout_layer"] + "\n"


def test_edits_fail_loudly_when_they_do_not_apply():
    with pytest.raises(ValueError, match="exactly one"):
        replace_once("not in the answer", "x")("some answer")
    with pytest.raises(ValueError, match="not solution cells"):
        make_submission(RELEASE, SOURCE, Sample("x", "bad", fill=frozenset({"test_relu"})))


def test_generated_submission_is_a_valid_notebook():
    nbformat.validate(make_submission(RELEASE, SOURCE, SAMPLES["partial"]))


def test_autograde_before_build_says_what_to_do(tmp_path):
    """A fresh course whose gradebook does not know the assignment yet gets one clear instruction."""
    import subprocess
    import sys

    from coursekit.authoring.release import copy_course

    config_path = copy_course(ROOT, tmp_path)
    (tmp_path / "submitted" / "someone" / "lab2").mkdir(parents=True)
    result = subprocess.run([sys.executable, "-m", "coursekit", "--config", str(config_path), "autograde"],
                            cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 2
    assert "run `python -m coursekit build lab2` first" in result.stderr
    assert "Traceback" not in result.stderr
