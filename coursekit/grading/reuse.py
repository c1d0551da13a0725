"""Experiment results kept by the code that produced them: an experiment runs once per distinct code.

An experiment's run (:meth:`coursekit.partkit.part.Experiment.run`) is a function of what its grading
worker ran (the setup cell, the course's reference code, the student's answer cells of its group) and of
what the grader gives it (the experiment's own code, the grading profile, the grader's secret, the
limits); in the sandbox the worker sees nothing else of the submission (its working folder is empty) nor
of the machine. When a later submission -- a resubmission that changed another
TODO, a second student with byte-identical answers -- comes with exactly the same inputs, its result is
read back instead of computed again: the figure and the measurement the run produced, never a verdict
(the judge judges the measurement afresh, with this submission's settings).

The key is a digest of all of those inputs, including the source files of the engine's grading code and
of the course package the part comes from, so a changed part, profile, secret or limit never meets an old
result. Only finished runs are kept (never an ExperimentFailed or a lost worker); an unreadable entry is
computed again. ``[grading] reuse_experiments = false`` turns it off (e.g. to time grading as if every
submission were different).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

#: The folder, in the grader's cache folder, of kept experiment results.
FOLDER = "experiments"


@functools.lru_cache(maxsize=None)
def _code_digest(package: str) -> str:
    """The source files of the engine's grading code and of the course package ``package``."""
    import coursekit
    import torch
    digest = hashlib.sha256(torch.__version__.encode())
    roots = [Path(coursekit.__file__).parent / "partkit", Path(coursekit.__file__).parent / "grading"]
    module = sys.modules.get(package)
    if module is not None and getattr(module, "__file__", None):
        roots.append(Path(module.__file__).parent)
    for root in roots:
        for path in sorted(root.rglob("*.py")):
            digest.update(str(path.relative_to(root.parent)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def experiment_key(part: Any, cells: list[tuple[str, str]], *, ops: str, secret: bytes, profile: Any,
                   limits: dict[str, Any], sandboxed: bool) -> str | None:
    """The digest of everything an experiment's run depends on (see the module docstring), or None when
    the run is not to be kept: without the sandbox, the worker sees the grader's whole machine (files,
    other processes), which no key can cover."""
    import torch
    if not sandboxed:
        return None
    package = type(part).__module__.split(".")[0]
    inputs = {
        "part": [type(part).__module__, type(part).__qualname__, repr(part)],
        "cells": [list(cell) for cell in cells],
        "ops": ops,
        "secret": hashlib.sha256(secret).hexdigest(),
        "profile": repr(profile),
        "limits": limits,
        "threads": torch.get_num_threads(),
        "code": _code_digest(package),
    }
    return hashlib.sha256(json.dumps(inputs, sort_keys=True, default=str).encode()).hexdigest()[:40]


class ExperimentStore:
    """Kept experiment results of one course (in its grader's cache folder); ``folder`` None keeps nothing."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder

    def _path(self, part: Any, key: str) -> Path:
        return self.folder / f"{part.grade_id}-{key}.json"

    def load(self, part: Any, key: str | None) -> tuple[list[dict[str, Any]], Any] | None:
        """(the notebook outputs, the measurement) of a kept run, or None."""
        if self.folder is None or key is None:
            return None
        try:
            entry = json.loads(self._path(part, key).read_text(encoding="utf-8"))
            return list(entry["outputs"]), entry["measurement"]
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def save(self, part: Any, key: str | None, outputs: list[dict[str, Any]], measurement: Any) -> bool:
        """Keep a finished run; False when it cannot be kept as JSON (then it is simply not kept)."""
        if self.folder is None or key is None:
            return False
        try:
            text = json.dumps({"outputs": outputs, "measurement": measurement}, ensure_ascii=False)
            if json.loads(text)["measurement"] != measurement:
                return False  # e.g. tuples: what is read back must be what the judge would have read
        except (TypeError, ValueError):
            return False
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self._path(part, key)
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(text, encoding="utf-8")
        os.replace(partial, path)  # atomic: two grading processes may keep the same run at once
        return True
