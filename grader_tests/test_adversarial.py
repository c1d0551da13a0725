"""Broken and malicious submissions: each is graded (or reported) without stopping the class run,
never scores more than its honest code earns, and gets a reason the student can read."""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest

from coursekit.config import load_config
from coursekit.grading.gradetable import grade_rows
from coursekit.grading.report import read_grading_failures
from grader_tests.adversarial import ACTIVATIONS, CASES, DROPOUT, TESTS, case
from grader_tests.conftest import feedback_text

EXPECTED = json.loads((Path(__file__).parent / "files" / "expected_scores.json").read_text(encoding="utf-8"))
FULL = EXPECTED["full"]  # hand-written points of every autograded part
GRADED = [c for c in CASES if c.status == "graded"]
FAILED = [c for c in CASES if c.status == "failed"]
ESCAPES = ("read-source", "read-release-answers", "read-gradebook", "write-gradebook", "read-other-student",
           "list-submissions", "read-home", "write-course-toml", "network-dns", "network-connect", "write-1GB")


@pytest.fixture(scope="module")
def config(adversarial_course):
    return load_config(adversarial_course)


@pytest.fixture(scope="module")
def rows(config):
    _, table = grade_rows(config, "lab2")
    return {row["student"]: row for row in table}


def autograded_text(config, student: str) -> str:
    """Everything the graded notebook printed or raised, in order."""
    nb = nbformat.read(config.directory("autograded") / student / "lab2" / "lab2.ipynb", as_version=4)
    parts = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            parts.append(output.get("text", "") if output.get("output_type") == "stream"
                         else f"{output.get('ename', '')}: {output.get('evalue', '')}")
    return "\n".join(parts)


def test_points_table_matches_course_toml(config):
    assert FULL == {gid: config.assignment("lab2").points[gid] for gid in TESTS}


def test_the_class_run_grades_everyone_else(config, rows):
    """Every graded case and the honest reference are in the gradebook; only the unreadable ones failed."""
    assert {c.student for c in GRADED} | {"reference"} <= set(rows)
    failures = read_grading_failures(config, "lab2")
    assert set(failures) == {c.student for c in FAILED}
    assert rows["reference"]["auto"] == 80


@pytest.mark.parametrize("one", GRADED, ids=lambda c: c.student)
def test_graded_case_scores_what_its_honest_code_earns(config, rows, one):
    """Exactly the parts named in the case are lost; no case scores above its honest code."""
    expected = {gid: (0.0 if gid in one.lost else float(points)) for gid, points in FULL.items()}
    got = {gid: rows[one.student]["cells"][gid] for gid in TESTS}
    assert got == expected, f"{one.student}: {one.attack}"
    assert rows[one.student]["max_auto"] == 80, "points come from the gradebook, not from the submission"


@pytest.mark.parametrize("one", [c for c in GRADED if c.reason], ids=lambda c: c.student)
def test_graded_case_has_its_reason_in_the_feedback(config, one):
    assert one.reason in feedback_text(config, one.student), f"{one.student}: {one.attack}"


@pytest.mark.parametrize("one", FAILED, ids=lambda c: c.student)
def test_unreadable_case_is_reported_with_its_reason(config, one):
    """The failure record (class report, summary table) and the student's feedback page say why."""
    reason = read_grading_failures(config, "lab2")[one.student]
    assert one.reason in reason, reason
    page = feedback_text(config, one.student)
    assert one.reason in page and "未能自动评分" in page


@pytest.mark.parametrize("attempt", ESCAPES)
def test_sandbox_blocks(config, attempt):
    """The escape submission tried it from inside the grading kernel, and was stopped."""
    if attempt == "read-home" and not Path("~root/.bashrc").expanduser().is_file():
        pytest.skip("this machine's root has no ~/.bashrc for the submission to try to read")
    lines = [line for line in autograded_text(config, "escape").splitlines() if line.startswith(f"ESCAPE {attempt}:")]
    assert len(lines) == 1 and "blocked" in lines[0], lines


def test_escape_attempts_left_the_course_untouched(config, adversarial_course):
    assert not adversarial_course.read_text(encoding="utf-8").endswith("#")
    assert rows_ok(config)


def rows_ok(config) -> bool:
    _, table = grade_rows(config, "lab2")
    return len(table) >= len(GRADED)


def test_each_edited_test_cell_is_restored_and_graded(config, rows):
    """Deleted, emptied, renamed, re-pointed and unlocked test cells are all graded from the gradebook:
    each guards a planted bug and scores 0; the one with changed points keeps its real points."""
    cells = rows["edited_test_cells"]["cells"]
    assert (cells["test_relu_derivative"], cells["test_sigmoid"], cells["test_tanh"], cells["test_l2_penalty"]) == (0,) * 4
    assert cells["test_network_forward"] == config.assignment("lab2").points["test_network_forward"]  # not the 100 it claims
    nb = nbformat.read(config.directory("autograded") / "edited_test_cells" / "lab2" / "lab2.ipynb", as_version=4)
    ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells]
    assert ids.count("test_relu_derivative") == 1 and ids.count("test_tanh") == 1 and "test_tanh_mine" not in ids
    assert ids.index("test_relu_derivative") < ids.index("test_sigmoid"), "the deleted cell is back in its place"


def test_fork_bomb_hits_the_process_limit(config):
    match = re.search(r"FORK: limited after (\d+) processes", autograded_text(config, "fork_bomb"))
    assert match and int(match.group(1)) <= config.sandbox.max_processes


def kernel_death(config, student: str) -> tuple[str, str]:
    """(grade_id of the cell the kernel died in, the reason it gives) from the graded notebook."""
    nb = nbformat.read(config.directory("autograded") / student / "lab2" / "lab2.ipynb", as_version=4)
    deaths = [(cell.metadata.get("nbgrader", {}).get("grade_id"), output["evalue"])
              for cell in nb.cells for output in cell.get("outputs", []) if output.get("ename") == "KernelDied"]
    assert len(deaths) == 1, deaths
    gid, message = deaths[0]
    found = re.fullmatch(r"内核在第 \d+ 个单元格中停止了（(.+)）。", message)
    assert found, message
    return gid, found.group(1)


def test_memory_bomb_is_stopped_at_the_limit_not_the_machine(config, rows):
    """The cell that allocates 6 GiB is stopped by the sandbox's memory limit (the kernel's cgroup says so, and
    the grading worker running the same answer cell says the same), not by the machine running out: the
    submission is graded, the parts of that TODO score 0 with that reason, every other part scores in full."""
    assert config.memory_limit_mb * 2**20 < 6 * 2**30, "the bomb must ask for more than the course's limit"
    gid, why = kernel_death(config, "memory_bomb")
    assert gid == "dropout_layer", "the kernel stopped in the answer cell that allocated"
    _, exit_why = kernel_death(config, "os_exit")
    assert why != exit_why and "内存上限" in why and "内存上限" not in exit_why, \
        "the memory limit is told apart from a kernel that exited"

    assert "memory_bomb" not in read_grading_failures(config, "lab2"), "graded, not a failed submission"
    cells = rows["memory_bomb"]["cells"]
    assert {g for g in TESTS if cells[g] == 0} == DROPOUT, cells
    assert all(cells[g] == FULL[g] for g in TESTS if g not in DROPOUT), cells
    assert rows["memory_bomb"]["auto"] == sum(FULL[g] for g in TESTS if g not in DROPOUT)

    nb = nbformat.read(config.directory("autograded") / "memory_bomb" / "lab2" / "lab2.ipynb", as_version=4)
    verdicts = {cell.metadata["nbgrader"]["grade_id"]: cell.outputs[-1] for cell in nb.cells
                if cell.metadata.get("nbgrader", {}).get("grade_id") in DROPOUT}
    assert verdicts.keys() == DROPOUT
    for grade_id, verdict in verdicts.items():
        assert verdict.get("ename") == "CheckFailed" and verdict["evalue"].endswith(f"（{why}）。"), (grade_id, verdict)


def test_huge_output_is_cut(config):
    """The escape submission also prints 100 MB; the graded notebook keeps output_limit_kb of it."""
    path = config.directory("autograded") / "escape" / "lab2" / "lab2.ipynb"
    assert path.stat().st_size < 5 * 2**20, "100 MB of printing must not reach the graded notebook"
    assert f"输出超过 {config.output_limit_kb} KB" in autograded_text(config, "escape")
    assert f"输出超过 {config.output_limit_kb} KB" in feedback_text(config, "escape")


def test_tampering_costs_only_its_own_todo(config):
    """Code that reaches past its own objects fails the parts of its TODO (and the experiments that run
    them) with the lines it wrote; every other part is graded as usual."""
    text = autograded_text(config, "patch_allclose")
    assert text.count("伸手去改评分进程或 Python 运行环境") == len(ACTIVATIONS), text[-1500:]
    assert "torch.allclose = lambda" in text


def test_case_list_covers_the_issue():
    """Each kind of broken or malicious submission named in the grader_tests issue has a case."""
    kinds = {"infinite_loop", "exits", "os_exit", "memory_bomb", "edited_test_cells",
             "renamed_notebook", "missing_notebook", "invalid_json", "empty_file", "other_assignment",
             "hardcoded_visible", "patch_allclose", "patch_assert_close", "patch_numpy", "patch_assertionerror",
             "patch_import", "patch_rand", "patch_manual_seed", "custom_exc", "post_run_cell", "input_transformer",
             "escape", "fork_bomb", "planted_results", "planted_in_answer", "guard_switched_off", "code_swapped",
             "reach_gc", "reach_ctypes", "reach_frames", "reach_import_system", "forged_measurement",
             "dropout_functional", "dropout_alias", "dropout_module", "dropout_aten", "dropout_dynamic",
             "dropout_lecture"}
    assert kinds <= {c.student for c in CASES}
    assert case("escape").attack
