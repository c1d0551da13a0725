"""A scratch course for the hand-grading tests: lab2 in a fresh gradebook, students' autograded notebooks."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from coursekit.authoring.release import copy_course
from coursekit.config import load_config
from tests.support.gradebook import register_submissions

ROOT = Path(__file__).resolve().parents[2]


def write_answer(config, student: str, answers: dict[str, str]) -> Path:
    """The student's autograded lab2 notebook: the release notebook with these answer cells filled."""
    nb = nbformat.read(config.directory("release") / "lab2" / "lab2.ipynb", as_version=4)
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in answers:
            cell.source = answers[gid]
    folder = config.directory("autograded") / student / "lab2"
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, folder / "lab2.ipynb")
    return folder / "lab2.ipynb"


def make_course(folder: Path, answers: dict[str, dict[str, str]]):
    """A scratch course whose gradebook has lab2 and a submission of each student in `answers`
    (student -> {grade id: markdown}), with their autograded notebooks."""
    config = load_config(copy_course(ROOT, folder))
    register_submissions(config, "lab2", nbformat.read(config.directory("release") / "lab2" / "lab2.ipynb",
                                                       as_version=4), answers)
    for student, cells in answers.items():
        write_answer(config, student, cells)
    return config


ANSWERS = {
    "alice": {"answer_q1": "线性层的复合还是线性映射，多层等价于一层；只能给出线性决策边界，XOR 都解决不了。"},
    "bob": {"answer_q1": "线性层的复合还是线性映射，多层等价于一层，只能给出线性决策边界，XOR 也解决不了。"},
    "carol": {"answer_q1": "激活函数是为了把输出限制在 0 到 1 之间。"},
    "dave": {"answer_q1": "YOUR ANSWER HERE"},
}


@pytest.fixture
def course(tmp_path, alembic_on_path):
    return make_course(tmp_path / "course", json.loads(json.dumps(ANSWERS)))
