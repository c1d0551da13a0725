"""coursekit.partkit.part: an assignment declares its parts, groups and hooks; the engine reads them."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from coursekit.partkit.part import (Assignment, Context, Experiment, Part, WorkerGroup, declared, declared_paths,
                                    load_assignment, resolve)


@dataclass(frozen=True)
class Echo(Part):
    def measure(self, worker, which, secret=None):
        return {"answer": worker.ask("call", target=[self.definition], args=[1])}

    def judge(self, data, which, secret=None):
        return None


def test_an_assignment_refuses_what_cannot_be_graded():
    groups = {"a": WorkerGroup(("a",))}
    with pytest.raises(ValueError, match="twice"):
        Assignment("x", (Echo("t1", "a", "f", "f"), Echo("t1", "a", "f", "f")), groups)
    with pytest.raises(ValueError, match="unknown worker group 'b'"):
        Assignment("x", (Echo("t1", "b", "f", "f"),), groups)
    with pytest.raises(ValueError, match="unknown part 't9'"):
        Assignment("x", (Experiment("e", "a", "f", "e", uses=("t9",)),), groups)
    ok = Assignment("x", (Echo("t1", "a", "f", "f"), Echo("t2", "a", "g", "g")), groups)
    assert ok.part("t2").definition == "g" and ok.definitions("a") == {"f", "g"} and ok.recorded("a") == frozenset()


def test_hidden_seeds_come_from_the_secret_and_differ_per_part():
    part, other = Echo("t1", "a", "f", "f"), Echo("t2", "a", "f", "f")
    assert part.hidden_seed(None) == other.hidden_seed(None), "without a secret: the instructor's fixed seed"
    assert part.hidden_seed(b"s") == part.hidden_seed(b"s") != part.hidden_seed(b"t")
    assert part.hidden_seed(b"s") != other.hidden_seed(b"s")


def test_references_name_a_module_and_an_object():
    assert resolve("math:pi") == pytest.approx(3.14159, abs=1e-5)
    with pytest.raises(ValueError, match="package.module:NAME"):
        resolve("math.pi")
    with pytest.raises(TypeError, match="not a coursekit.partkit.Assignment"):
        load_assignment("math:pi")
    assert load_assignment("dlcourse.lab2:ASSIGNMENT").name == "lab2"


def test_fields_the_coordinator_needs_are_read_without_importing_the_course(tmp_path, monkeypatch):
    package = tmp_path / "somecourse"
    (package / "hidden").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "hidden" / "__init__.py").write_text("")
    (package / "parts.py").write_text('raise ImportError("never run")\n'
                                      'ASSIGNMENT = Assignment("x", (), {}, hidden_paths=("somecourse.hidden",),\n'
                                      '                        provision="somecourse.data:provide")\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    assert declared("somecourse.parts:ASSIGNMENT", "provision") == "somecourse.data:provide"
    assert declared("somecourse.parts:ASSIGNMENT", "samples", "none") == "none"
    folders, hidden = declared_paths("somecourse.parts:ASSIGNMENT")
    assert folders == [str(package)] and hidden == [str(package / "hidden")]


def test_a_run_of_the_course_alone_is_cached_by_its_key(tmp_path):
    made = []
    context = Context(None, None, b"secret", tmp_path)

    def compute():
        made.append(1)
        return {"loss": 1 / 3}

    args = dict(dump=lambda v: v, load=lambda d: d)
    assert context.cached("run", [1], compute, **args) == {"loss": 1 / 3}
    assert context.cached("run", [1], compute, **args) == {"loss": 1 / 3} and len(made) == 1
    assert context.cached("run", [2], compute, **args) and len(made) == 2
    assert context.seed("a", 1) == Context(None, None, b"secret").seed("a", 1) != Context(None, None, b"x").seed("a", 1)
