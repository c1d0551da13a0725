"""coursekit.grading.nbgrader_settings: the SQLite gradebook read without nbgrader agrees with nbgrader."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from coursekit.authoring.release import assignment_in_gradebook, copy_course
from coursekit.config import load_config
from coursekit.grading.nbgrader_settings import open_gradebook, sqlite_knows_assignment

ROOT = Path(__file__).resolve().parents[2]


def test_the_direct_read_agrees_with_nbgrader_as_build_registers_the_assignment(tmp_path, alembic_on_path):
    config = load_config(copy_course(ROOT, tmp_path, with_release=False))
    assert sqlite_knows_assignment(config, "lab2") is False, "no gradebook yet: no build"
    with open_gradebook(config) as gradebook:
        gradebook.add_assignment("lab2")
    assert sqlite_knows_assignment(config, "lab2") is False
    assert assignment_in_gradebook(config, "lab2") is False, "an assignment without notebooks is not built"
    with open_gradebook(config) as gradebook:
        gradebook.add_notebook("lab2", "lab2")
    assert sqlite_knows_assignment(config, "lab2") is True
    assert assignment_in_gradebook(config, "lab2") is True
    assert sqlite_knows_assignment(config, "lab3") is False


def test_it_cannot_tell_for_other_databases_or_a_file_that_is_not_a_gradebook(tmp_path):
    config = load_config(copy_course(ROOT, tmp_path, with_release=False))
    assert sqlite_knows_assignment(dataclasses.replace(config, db_url="postgresql://grader@localhost/lab"), "lab2") is None
    (tmp_path / "gradebook.db").write_bytes(b"not a database")
    assert sqlite_knows_assignment(config, "lab2") is None
