"""coursekit.grading.reuse: an experiment's run is kept by exactly the inputs that produced it."""

from __future__ import annotations

from dataclasses import dataclass

import nbformat
import torch

from coursekit.grading.judge import Judge
from coursekit.grading.reuse import ExperimentStore, experiment_key
from coursekit.partkit.checks import fail
from coursekit.partkit.part import Assignment, Experiment, ExperimentFailed, WorkerGroup
from coursekit.partkit.remote import remote_function

RUNS: list[str] = []  # the experiments that really ran, in order


@dataclass(frozen=True)
class _Sum(Experiment):
    """Sums the student's l2_penalty over a few fixed vectors (fails on a non-positive sum)."""

    def run(self, worker, context):
        RUNS.append(self.grade_id)
        total = 0.0
        for k in range(1, 4):
            out = remote_function(worker, "l2_penalty", torch.full((3,), float(k)))
            total += float(out)
        if total == 0:
            raise ExperimentFailed("l2_penalty 总是 0")
        return total

    def measurement(self, result):
        return {"total": result}

    def judge(self, data, which, secret=None):
        if not data["total"] > 10:
            fail(f"总和 {data['total']} 太小")


ASSIGNMENT = Assignment("reuse", (_Sum("test_sum", "l2_penalty", "l2_penalty", "求和实验", uses=()),),
                        {"l2_penalty": WorkerGroup(("l2_penalty",))})
KEY = dict(ops="", secret=b"secret", profile="grading", limits={"cell_timeout": 30}, sandboxed=True)
CELLS = [("setup", "import torch"), ("l2_penalty", "def l2_penalty(w):\n    return (w * w).sum() / 2\n")]


def test_the_key_is_the_same_only_for_the_same_inputs():
    part = ASSIGNMENT.parts[0]
    key = experiment_key(part, CELLS, **KEY)
    assert key == experiment_key(part, [tuple(c) for c in CELLS], **KEY)
    changed = [
        experiment_key(part, [CELLS[0], ("l2_penalty", CELLS[1][1] + "# a comment\n")], **KEY),
        experiment_key(part, CELLS, **{**KEY, "secret": b"another"}),
        experiment_key(part, CELLS, **{**KEY, "profile": "cpu"}),
        experiment_key(part, CELLS, **{**KEY, "limits": {"cell_timeout": 60}}),
        experiment_key(part, CELLS, **{**KEY, "ops": "module:OPS"}),
        experiment_key(_Sum("test_sum", "l2_penalty", "l2_penalty", "another title"), CELLS, **KEY),
    ]
    assert None not in changed and len({key, *changed}) == 1 + len(changed)
    assert experiment_key(part, CELLS, **{**KEY, "sandboxed": False}) is None, "no sandbox: nothing is kept"


def test_the_store_gives_back_exactly_what_it_kept_and_nothing_it_cannot(tmp_path):
    part, store = ASSIGNMENT.parts[0], ExperimentStore(tmp_path)
    outputs = [{"output_type": "display_data", "metadata": {}, "data": {"text/plain": "图"}}]
    assert store.load(part, "k1") is None
    assert store.save(part, "k1", outputs, {"gaps": [0.1 + 0.2, 1 / 3], "rates": [[0.2, 0.5]]})
    assert store.load(part, "k1") == (outputs, {"gaps": [0.1 + 0.2, 1 / 3], "rates": [[0.2, 0.5]]})
    assert not store.save(part, "k2", outputs, {"pair": (0.2, 0.5)}), "a tuple would come back as a list"
    assert not store.save(part, "k3", outputs, {"tensor": torch.ones(2)})
    assert store.load(part, "k2") is None and store.load(part, "k3") is None
    next(tmp_path.glob("test_sum-k1.json")).write_text("{not json")
    assert store.load(part, "k1") is None, "an unreadable entry is computed again"
    assert not ExperimentStore(None).save(part, "k1", outputs, {}) and ExperimentStore(None).load(part, "k1") is None


def _grade(tmp_path, l2_source: str, config=None) -> str:
    cells = [nbformat.v4.new_code_cell("import torch", metadata={"nbgrader": {"grade_id": "setup", "locked": True}}),
             nbformat.v4.new_code_cell(l2_source, metadata={"nbgrader": {"grade_id": "l2_penalty", "solution": True}})]
    judge = Judge(ASSIGNMENT, config)
    judge.review(cells)
    judge.start(cells, None, tmp_path, cell_timeout=30)
    judge._sandboxed = True  # what a sandboxed grading is: the unit test's worker runs unconfined
    test = nbformat.v4.new_code_cell('check("test_sum", None)', metadata={"nbgrader": {"grade_id": "test_sum",
                                                                                       "grade": True, "points": 1}})
    try:
        judge.grade(test)
    finally:
        judge.close()
    last = test.outputs[-1]
    return "pass" if last.output_type == "stream" else last.evalue


def test_the_same_code_is_run_once_and_judged_every_time(tmp_path):
    RUNS.clear()
    right = "def l2_penalty(w):\n    return (w * w).sum() / 2\n"
    assert _grade(tmp_path, right) == "pass" and RUNS == ["test_sum"]
    assert _grade(tmp_path, right) == "pass" and RUNS == ["test_sum"], "read back, not run again"
    small = "def l2_penalty(w):\n    return (w * w).sum() / 20\n"
    verdict = _grade(tmp_path, small)
    assert "太小" in verdict and len(RUNS) == 2, "other code: run, and judged on its own result"
    assert "太小" in _grade(tmp_path, small) and len(RUNS) == 2
    zero = "def l2_penalty(w):\n    return (w * 0).sum()\n"
    assert "总是 0" in _grade(tmp_path, zero) and "总是 0" in _grade(tmp_path, zero)
    assert len(RUNS) == 4, "a run that failed is never kept"


def _settings(store, reuse: bool = True):
    """The course's settings with [grading] experiment_store and reuse_experiments set."""
    import dataclasses

    from coursekit.config import load_config
    return dataclasses.replace(load_config(), experiment_store=store, reuse_experiments=reuse)


def test_copies_of_a_course_with_one_secret_share_a_store_given_in_course_toml(tmp_path):
    import shutil

    from coursekit.grading.secret import FILE_NAME
    RUNS.clear()
    right = "def l2_penalty(w):\n    return (w * w).sum() / 2\n"
    shared = _settings(tmp_path / "shared")
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    assert _grade(tmp_path / "one", right, shared) == "pass" and RUNS == ["test_sum"]
    assert [p.name.split("-")[0] for p in (tmp_path / "shared").iterdir()] == ["test_sum"]
    assert not (tmp_path / "one" / ".grading-cache" / "experiments").exists()
    shutil.copy(tmp_path / "one" / FILE_NAME, tmp_path / "two" / FILE_NAME)
    assert _grade(tmp_path / "two", right, shared) == "pass" and RUNS == ["test_sum"], "the other copy's result"
    (tmp_path / "three").mkdir()  # its own secret: its own hidden inputs, never another course's result
    assert _grade(tmp_path / "three", right, shared) == "pass" and RUNS == ["test_sum"] * 2
    assert _grade(tmp_path / "one", right, _settings(tmp_path / "shared", reuse=False)) == "pass"
    assert len(RUNS) == 3, "reuse off: run again"
