"""coursekit.grading.nbgrader_settings: whether the assignment is built, read from a SQLite gradebook without
nbgrader, agrees with nbgrader."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from coursekit.authoring.release import copy_course
from coursekit.config import load_config
from coursekit.grading import nbgrader_settings
from coursekit.grading.nbgrader_settings import assignment_built, open_gradebook

sqlite_knows_assignment = nbgrader_settings._sqlite_knows_assignment
nbgrader_knows_assignment = nbgrader_settings._nbgrader_knows_assignment

ROOT = Path(__file__).resolve().parents[2]


def test_the_direct_read_agrees_with_nbgrader_as_build_registers_the_assignment(tmp_path, alembic_on_path):
    config = load_config(copy_course(ROOT, tmp_path, with_release=False))
    assert sqlite_knows_assignment(config, "lab2") is False, "no gradebook yet: no build"
    with open_gradebook(config) as gradebook:
        gradebook.add_assignment("lab2")
    assert sqlite_knows_assignment(config, "lab2") is False
    assert nbgrader_knows_assignment(config, "lab2") is False, "an assignment without notebooks is not built"
    with open_gradebook(config) as gradebook:
        gradebook.add_notebook("lab2", "lab2")
    assert sqlite_knows_assignment(config, "lab2") is True
    assert nbgrader_knows_assignment(config, "lab2") is True
    assert sqlite_knows_assignment(config, "lab3") is False


def test_it_cannot_tell_for_other_databases_or_a_file_that_is_not_a_gradebook(tmp_path):
    config = load_config(copy_course(ROOT, tmp_path, with_release=False))
    assert sqlite_knows_assignment(dataclasses.replace(config, db_url="postgresql://grader@localhost/lab"), "lab2") is None
    (tmp_path / "gradebook.db").write_bytes(b"not a database")
    assert sqlite_knows_assignment(config, "lab2") is None



def test_the_one_question_asks_sqlite_then_the_given_process_then_nbgrader_here(tmp_path, monkeypatch):
    config = load_config(copy_course(ROOT, tmp_path, with_release=False))
    postgres = dataclasses.replace(config, db_url="postgresql://grader@localhost/lab")
    asked = []
    monkeypatch.setattr(nbgrader_settings, "_nbgrader_knows_assignment", lambda *_: asked.append("here") or True)
    assert assignment_built(config, "lab2", lambda: asked.append("server")) is False, "no gradebook yet: no build"
    assert assignment_built(postgres, "lab2", nbgrader=False) is None, "only nbgrader can tell"
    assert not asked, "SQLite answers by itself; nbgrader=False asks nobody"
    assert assignment_built(postgres, "lab2", lambda: asked.append("server") or True) is True
    assert assignment_built(postgres, "lab2", lambda: asked.append("server") or None) is True
    assert asked == ["server", "server", "here"], "the given process first; when it cannot tell, nbgrader here"
