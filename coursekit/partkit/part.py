"""The interface between the grading engine and a course: an assignment is a set of parts.

A course's package declares each assignment as one :class:`Assignment` object, named in course.toml
(``[assignments.<name>] parts = "package.module:NAME"``). The engine knows an assignment only
through it: which graded cells there are (its :class:`Part` objects), which answer cells each
grading worker runs (:class:`WorkerGroup`), the rules each TODO's code must keep (:class:`Rule`),
what a grading kernel should import before it forks, and which course-folder paths a student's
code must not see while grading.

A part is one autograded cell (one ``grade_id``). Everything about it lives in one place, the
course's module that defines it:

* :meth:`Part.cases` — its inputs. ``visible`` ones are fixed; ``hidden`` ones add more inputs (never
  another criterion), drawn from the grader's secret.
* :meth:`Part.measure` — calls the student's code through a *worker* (anything with
  ``ask(op, **args) -> dict``, :mod:`coursekit.partkit.serve`'s operations) on those cases and
  records what came back; decides nothing. In the notebook the worker runs in the student's kernel
  (:mod:`coursekit.partkit.local`); while grading it is a sandboxed process that ran only the part's
  answer cells, and the inputs come from the grader.
* :meth:`Part.judge` — compares the measurement with references it computes itself and raises
  :class:`~coursekit.partkit.checks.CheckFailed` with the student's message. Any other exception is
  a bug of the judge: the engine reports it as a grading error, never as a lost point.

An :class:`Experiment` is a part that runs the course's own experiment code with the student's
functions as proxies (:meth:`Experiment.run`), then measures and judges the result like any part.
"""

from __future__ import annotations

import hashlib
import hmac
import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol


class Asker(Protocol):
    """What a part measures through: a grading worker, or the notebook's own stand-in for one."""

    def ask(self, op: str, **args: Any) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Rule:
    """What one TODO's answer cell may not use, as the review reads it and as workers record it.

    label: a short name of the forbidden thing; words: matched case-insensitively within attribute
    and imported names; what: the rule in the notebook's words; recorded: ``__name__`` of the PyTorch
    functions a worker records while it runs that TODO's functions (``TorchFunctionMode``)."""

    label: str
    words: tuple[str, ...]
    what: str
    recorded: frozenset[str] = frozenset()


@dataclass(frozen=True)
class WorkerGroup:
    """The cells one grading worker runs after the assignment's setup cell: answer cells by grade id,
    and course code run right before them (``reference``: e.g. stand-ins for another TODO's classes)."""

    answers: tuple[str, ...]
    reference: str = ""


@dataclass(frozen=True)
class Part:
    """One autograded cell. Subclasses implement :meth:`cases`, :meth:`measure` and :meth:`judge`.

    grade_id: the cell's nbgrader id; todo: the answer cell whose code it grades; definition: the name
    it grades; title: what the feedback calls it; group: the worker group whose calls grade it
    (default: its TODO's); hidden: whether it has hidden cases; settings: the thresholds its judge
    decides with, a frozen dataclass course.toml may override (:mod:`coursekit.partkit.settings`)."""

    grade_id: str
    todo: str
    definition: str
    title: str
    group: str = ""
    hidden: bool = True
    settings: Any = None

    @property
    def worker(self) -> str:
        return self.group or self.todo

    @property
    def runs(self) -> tuple[str, ...]:
        return ()

    def cases(self, which: str, secret: bytes | None = None) -> list[Any]:
        return []

    def measure(self, worker: Asker, which: str, secret: bytes | None = None) -> dict[str, Any]:
        raise NotImplementedError

    def judge(self, data: dict[str, Any], which: str, secret: bytes | None = None) -> None:
        raise NotImplementedError

    def hidden_seed(self, secret: bytes | None) -> int:
        """The seed of this part's hidden cases: from the grader's secret, which no student has, else
        (a notebook run, the instructor's own checks) a fixed one."""
        if secret is None:
            return 20261123
        return int.from_bytes(hmac.new(secret, self.grade_id.encode(), hashlib.sha256).digest()[:6], "big")


@dataclass(frozen=True)
class Experiment(Part):
    """A part that runs one of the course's experiments with the student's functions.

    ``uses``: the parts whose code it runs (the feedback names the failing ones first)."""

    uses: tuple[str, ...] = ()
    hidden: bool = False

    @property
    def runs(self) -> tuple[str, ...]:
        return self.uses

    def run(self, worker: Asker, context: Context) -> Any:
        raise NotImplementedError

    def measurement(self, result: Any) -> dict[str, Any]:
        raise NotImplementedError

    def figure(self, result: Any) -> Any:
        """The figure the notebook draws for this result (a matplotlib Figure), or None."""
        return None

    def measure(self, worker: Asker, which: str, secret: bytes | None = None) -> dict[str, Any]:
        raise TypeError("an experiment is measured from its result: Experiment.measurement")


def call_seed(secret: bytes | None, *words: object) -> int:
    """The seed of torch's generator the grader sets before one call of a student's function, named by
    ``words`` and chosen from the grader's secret (none: the notebook's own checks, a fixed one)."""
    digest = hashlib.sha256((secret or b"") + "/".join(map(str, words)).encode()).digest()
    return int.from_bytes(digest[:6], "big")


class ExperimentFailed(RuntimeError):
    """The student's function gave something an experiment cannot go on with (the message says what)."""


@dataclass
class Context:
    """What an experiment gets from the engine while grading: the grading profile, the course's
    configuration, the grader's secret and its cache folder for runs that are the course's alone."""

    profile: Any
    config: Any
    secret: bytes
    cache: Path | None = None

    def seed(self, *words: object) -> int:
        """A seed only the grader can know, named by ``words``."""
        return call_seed(self.secret, *words)

    def cached(self, name: str, key: Any, compute: Callable[[], Any], dump: Callable[[Any], Any],
               load: Callable[[Any], Any], code: tuple[Any, ...] = ()) -> Any:
        """A run of the course's own code that depends only on ``key`` and on the source files of the
        modules ``code`` (and torch), computed once and kept as JSON in the cache folder; any unreadable
        or mismatched entry is computed again."""
        import json
        import os

        import torch
        if self.cache is None:
            return compute()
        sources = b"".join(Path(module.__file__).read_bytes() for module in code)
        digest = hashlib.sha256(json.dumps([key, torch.__version__, torch.get_num_threads()], sort_keys=True,
                                           default=str).encode() + sources).hexdigest()[:32]
        path = self.cache / f"{name}-{digest}.json"
        try:
            return load(json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            pass
        value = compute()
        self.cache.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(json.dumps(dump(value)))
        os.replace(partial, path)  # atomic: two grading processes may write it at once
        return value


@dataclass(frozen=True)
class Assignment:
    """One graded assignment as the engine sees it.

    parts: its autograded cells, in notebook order; groups: worker group name -> the cells it runs;
    rules: TODO (answer cell grade id) -> its rule; package: the course's top-level package (an answer
    that imports it reaches past its own objects); preload: modules a grading kernel imports (the
    engine imports them once, before it forks kernels and workers); worker_ops: ``module:NAME`` of a
    dict of extra worker operations (name -> function(worker, **args) -> answer); warm:
    ``module:function`` called once before forking (e.g. the course's data read into memory);
    hidden_paths: modules whose folders a student's code must not see while grading (a literal tuple:
    :func:`declared_paths` reads it without importing); provision: ``module:function(config) -> str``
    that provides the assignment's data (``coursekit setup-data`` and the hub's setup call it); samples:
    ``module:NAME`` of its sample submissions (a tuple of :class:`coursekit.partkit.samples.Sample`,
    what ``coursekit samples`` writes)."""

    name: str
    parts: tuple[Part, ...]
    groups: dict[str, WorkerGroup]
    rules: dict[str, Rule] = field(default_factory=dict)
    package: str = ""
    preload: tuple[str, ...] = ()
    worker_ops: str = ""
    warm: str = ""
    hidden_paths: tuple[str, ...] = ()
    provision: str = ""
    samples: str = ""

    def __post_init__(self) -> None:
        ids = [p.grade_id for p in self.parts]
        if len(set(ids)) != len(ids):
            raise ValueError(f"assignment {self.name}: a grade id is declared twice")
        for part in self.parts:
            if part.worker not in self.groups:
                raise ValueError(f"assignment {self.name}: {part.grade_id} names the unknown worker group {part.worker!r}")
            for other in part.runs:
                if other not in ids:
                    raise ValueError(f"assignment {self.name}: {part.grade_id} runs the unknown part {other!r}")

    @property
    def by_id(self) -> dict[str, Part]:
        return {p.grade_id: p for p in self.parts}

    def part(self, grade_id: str) -> Part:
        return self.by_id[grade_id]

    def definitions(self, todo: str) -> frozenset[str]:
        """The names the TODO's answer cell must define (the graded definitions)."""
        return frozenset(p.definition for p in self.parts if p.todo == todo)

    def recorded(self, todo: str) -> frozenset[str]:
        rule = self.rules.get(todo)
        return rule.recorded if rule else frozenset()


def resolve(reference: str) -> Any:
    """The object a ``module:NAME`` reference names (the only way the engine reaches a course's code)."""
    module, _, name = reference.partition(":")
    if not module or not name:
        raise ValueError(f"{reference!r} is not of the form 'package.module:NAME'")
    return getattr(importlib.import_module(module), name)


def load_assignment(reference: str) -> Assignment:
    assignment = resolve(reference)
    if not isinstance(assignment, Assignment):
        raise TypeError(f"{reference} is a {type(assignment).__name__}, not a coursekit.partkit.Assignment")
    return assignment


def declared(reference: str, field_name: str, default: Any = None) -> Any:
    """A field of an assignment read from its module's source, without running the module: the literal
    value of that keyword in the ``Assignment(...)`` call (fields the engine needs where importing the
    course, and torch with it, would cost a class run's coordinator seconds: ``hidden_paths``,
    ``provision``, ``samples``). Such fields must be written there as literals."""
    import ast
    import importlib.util
    spec = importlib.util.find_spec(reference.partition(":")[0])
    if spec is None or not spec.origin:
        return default
    tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Assignment":
            for keyword in node.keywords:
                if keyword.arg == field_name:
                    return ast.literal_eval(keyword.value)
    return default


def declared_paths(reference: str) -> tuple[list[str], list[str]]:
    """(folders, hidden) of an assignment, found without running its code: the folder of the package
    its parts module belongs to (a grading sandbox must let the kernel read it), and the folders of
    the modules its ``hidden_paths`` names (the sandbox shows them empty)."""
    import importlib.util
    spec = importlib.util.find_spec(reference.partition(":")[0].split(".")[0])
    folders = [str(Path(p)) for p in (spec.submodule_search_locations or [])] if spec else []
    hidden: list[str] = []
    for name in declared(reference, "hidden_paths", ()):
        found = importlib.util.find_spec(name)
        if found is not None:
            hidden += list(found.submodule_search_locations or [found.origin])
    return folders, hidden


def provision_data(config: Any, names: list[str] | None = None) -> list[str]:
    """Provide the assignments' data (each ``provision`` hook once; ``names``: these assignments, else
    all); what each hook says it did."""
    done: list[str] = []
    said = []
    for name in names if names is not None else list(config.assignments):
        reference = getattr(config.assignment(name), "parts", "")
        hook = declared(reference, "provision", "") if reference else ""
        if hook and hook not in done:
            done.append(hook)
            said.append(resolve(hook)(config))
    return said
