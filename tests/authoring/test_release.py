"""release/ is exactly what nbgrader generates from source/, and gives nothing away."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from coursekit.config import load_config
from coursekit.authoring.release import copy_course

ROOT = Path(__file__).resolve().parents[2]
CONFIG = load_config(ROOT / "course.toml")
ASSIGNMENTS = list(CONFIG.assignments)


def notebook_paths(kind: str) -> list[Path]:
    return [CONFIG.directory(kind) / name / CONFIG.assignment(name).notebook for name in ASSIGNMENTS]


def marked_regions(source: str, begin: str, end: str) -> list[str]:
    """The lines strictly between `begin` and `end` marker lines."""
    lines, inside = [], False
    for line in source.splitlines():
        if line.strip() == begin:
            inside = True
        elif line.strip() == end:
            inside = False
        elif inside:
            lines.append(line)
    return lines


def unmarked_lines(source: str) -> list[str]:
    """The lines outside every solution and hidden-test region."""
    lines, inside = [], False
    for line in source.splitlines():
        if line.strip() in ("### BEGIN SOLUTION", "### BEGIN HIDDEN TESTS"):
            inside = True
        elif line.strip() in ("### END SOLUTION", "### END HIDDEN TESTS"):
            inside = False
        elif not inside:
            lines.append(line)
    return lines


def significant(lines: list[str]) -> set[str]:
    """Lines worth searching for: no blanks, comments or very short lines."""
    return {line.strip() for line in lines
            if len(line.strip()) >= 12 and not line.strip().startswith("#")}


@pytest.fixture(scope="module")
def fresh_release(tmp_path_factory) -> Path:
    """release/ regenerated from source/ by the project's own command, in a scratch copy of the course."""
    course = tmp_path_factory.mktemp("course")
    copy_course(ROOT, course, with_release=False)
    subprocess.run([sys.executable, "-m", "coursekit", "--config", str(course / "course.toml"), "build"],
                   cwd=course, check=True, capture_output=True, text=True)
    return course / "release"


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_committed_release_matches_a_fresh_build(fresh_release, name):
    notebook = CONFIG.assignment(name).notebook
    committed = nbformat.read(CONFIG.directory("release") / name / notebook, as_version=4)
    fresh = nbformat.read(fresh_release / name / notebook, as_version=4)
    assert len(committed.cells) == len(fresh.cells)
    for index, (a, b) in enumerate(zip(committed.cells, fresh.cells)):
        assert (a.cell_type, a.source, a.metadata) == (b.cell_type, b.source, b.metadata), (
            f"release/{name}/{notebook} cell {index} differs from a fresh build: "
            f"run `python -m coursekit build` and commit release/")
    assert committed.metadata == fresh.metadata


@pytest.mark.parametrize("source_path, release_path", list(zip(notebook_paths("source"), notebook_paths("release"))))
def test_release_has_no_solution_or_hidden_test(source_path, release_path):
    source = nbformat.read(source_path, as_version=4)
    release_text = "\n".join(cell.source for cell in nbformat.read(release_path, as_version=4).cells)
    secret, public = set(), set()
    for cell in source.cells:
        secret |= significant(marked_regions(cell.source, "### BEGIN SOLUTION", "### END SOLUTION"))
        secret |= significant(marked_regions(cell.source, "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"))
        public |= significant(unmarked_lines(cell.source))
    secret -= public  # a line the student is shown anyway (e.g. an import) is no secret
    assert len(secret) > 10, "the source notebook should have solutions and hidden tests to protect"
    release_lines = {line.strip() for line in release_text.splitlines()}
    leaked = sorted(secret & release_lines)
    assert not leaked, f"release/ contains solution or hidden-test lines: {leaked[:5]}"
    assert not re.search(r"### (BEGIN|END) (SOLUTION|HIDDEN TESTS)", release_text)


@pytest.mark.parametrize("path", notebook_paths("source") + notebook_paths("release"))
def test_notebooks_are_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{path} cell {index} has outputs"
