"""Replay the instructor notebook in this process, cell by cell, at the grading scale.

Used by ``benchmarks/experiment_robustness.py`` and the tests to ask "does each hidden check
hold for the reference solution on seed s, and fail for a known wrong answer?" with exactly
the test code the autograder runs (the source notebook's cells, hidden tests included),
without starting nbgrader or a kernel. Solution cells run the instructor's answer, optionally
edited to plant a bug (see :mod:`coursekit.authoring.samples`).
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import nbformat

from coursekit.partkit.profiles import ENV_EXECUTION, ENV_PROFILE, environment
from coursekit.authoring.samples import grade_id, is_solution, solution_text


def experiment_cells(assignment) -> dict[str, str]:
    """experiment check -> the notebook cell that runs its experiment (each experiment runs inside the
    graded cell that judges it, so nothing can come between the two)."""
    from coursekit.partkit.part import Experiment
    return {part.grade_id: part.grade_id for part in assignment.parts if isinstance(part, Experiment)}


@dataclass(frozen=True)
class CellOutcome:
    """What happened when one cell ran: passed, or the exception type and message; what it printed."""

    grade_id: str
    passed: bool
    error: str = ""
    output: str = ""


@contextmanager
def _grading_environment(profile: str) -> Iterator[None]:
    """NBGRADER_EXECUTION=autograde and COURSE_PROFILE=`profile` while replaying, restored afterwards
    (child processes started later must not inherit them); so is torch's thread count, which the
    setup cell sets to the profile's."""
    import torch

    threads = torch.get_num_threads()
    try:
        with environment(**{ENV_EXECUTION: "autograde", ENV_PROFILE: profile}):
            yield
    finally:
        torch.set_num_threads(threads)


def replay(source_path: Path, *, seed: int | None = None,
           edits: Mapping[str, Callable[[str], str]] | None = None,
           stop_after: str | None = None, skip: frozenset[str] = frozenset(),
           profile: str = "grading") -> dict[str, CellOutcome]:
    """Run the code cells of `source_path` in order, as nbgrader would: only the course's cells and the
    answers (never the exploration cells, which carry no nbgrader metadata), at the `profile`'s scale.

    seed: replaces the profile's seed (and reseeds torch's global RNG, as the setup cell does).
    edits: grade_id -> edit of that solution cell's answer.
    stop_after: the grade_id of the last cell to run; skip: grade_ids not to run.
    Returns grade_id -> outcome for every cell that ran (cells without a grade_id are
    named by their position).
    """
    import matplotlib
    import torch

    matplotlib.use("Agg")  # this process only: figures are drawn and discarded, nothing is shown
    import matplotlib.pyplot as plt

    edits = dict(edits or {})
    nb = nbformat.read(source_path, as_version=4)
    namespace: dict = {"__name__": "__replay__"}
    outcomes: dict[str, CellOutcome] = {}
    with _grading_environment(profile):
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code" or not cell.metadata.get("nbgrader"):
                continue
            gid = grade_id(cell) or f"cell{index}"
            if gid in skip:
                continue
            source = solution_text(cell.source) if is_solution(cell) else cell.source
            if gid in edits:
                source = edits[gid](source)
            printed = io.StringIO()
            try:
                with redirect_stdout(printed):
                    exec(compile(source, f"<{source_path.name}:{gid}>", "exec"), namespace)  # noqa: S102
                outcomes[gid] = CellOutcome(gid, True, output=printed.getvalue())
            except Exception as err:  # a failing cell is an outcome, as in nbgrader's run
                outcomes[gid] = CellOutcome(gid, False, f"{type(err).__name__}: {err}", printed.getvalue())
            finally:
                plt.close("all")
            if gid == "setup" and seed is not None:
                session = namespace["session"]
                namespace["session"] = dataclasses.replace(
                    session, profile=dataclasses.replace(session.profile, seed=seed))
                torch.manual_seed(seed)
            if gid == stop_after:
                break
    return outcomes
