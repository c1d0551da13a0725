"""The README's two commands: they parse out of README.md, exist in the Makefile, and CI runs the test one.

The README is the front page: short, with the two commands, the other make targets it names, and links
into docs/ (tests/test_docs.py checks those links and the site itself)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def quick_start_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Quick start", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert block, "README's Quick start has a ```sh block"
    return [line.strip() for line in block.group(1).splitlines() if line.strip() and not line.startswith("#")]


def test_readme_has_exactly_two_commands_demo_then_test():
    assert quick_start_commands() == ["make demo", "make test"]


def planned(target: str) -> list[str]:
    """What `make TARGET` would run from scratch (make's dry run, every prerequisite remade)."""
    result = subprocess.run(["make", "-n", "-B", "--no-print-directory", target], cwd=ROOT, capture_output=True,
                            text=True, check=True)  # (inside `make test`, make would name the folder it enters)
    return [line.strip() for line in result.stdout.splitlines() if line.strip() and not line.startswith("echo")]


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
@pytest.mark.parametrize("target, last", [("demo", "-m coursekit demo"), ("test", "-m pytest"),
                                          ("docs", "-m mkdocs build --strict --site-dir build/docs")])
def test_both_commands_install_the_course_first_then_run(target, last):
    steps = planned(target)
    install = next(i for i, step in enumerate(steps) if "pip install" in step and "-e '.[dev]'" in step)
    assert steps[-1].endswith(last) and install < len(steps) - 1, steps


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    test_command = quick_start_commands()[1]
    commands = [line.strip() for line in ci.splitlines() if line.strip() and not line.strip().startswith("#")]
    assert test_command in commands, f".ci/run must call `{test_command}`"
    assert "set -euo pipefail" in ci, ".ci/run must stop on the first failure"
    assert "COURSE_DATA_MIRROR" in ci and "shared/datasets" in ci


def test_pytest_collects_every_test_folder(request):
    """The test command runs all three folders (pytest's own reading of pyproject.toml), each holding tests."""
    folders = request.config.getini("testpaths")
    assert sorted(folders) == ["browser_tests", "grader_tests", "tests"]
    assert all(list((ROOT / folder).rglob("test_*.py")) for folder in folders)


def test_readme_is_a_short_front_page():
    """The guides live in docs/; the README says what the course is, how to run it and where to read on."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 150
    for section in ("## Quick start", "## Documentation", "## Layout"):
        assert section in readme, section


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_every_make_target_the_readme_names_exists():
    """`make install`, `make docs` … as the README quotes them: each one is a target make knows."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    targets = set(re.findall(r"`make ([a-z-]+)`", readme)) | set(re.findall(r"^make ([a-z-]+)", readme, re.MULTILINE))
    assert {"install", "demo", "test", "docs"} <= targets, targets
    for target in sorted(targets):
        result = subprocess.run(["make", "-n", "--no-print-directory", target], cwd=ROOT, capture_output=True, text=True)
        assert result.returncode == 0, f"`make {target}`: {result.stderr}"
