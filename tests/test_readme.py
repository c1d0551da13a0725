"""The README's two commands: they parse out of README.md, exist in the Makefile, and CI runs the test one."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def quick_start_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Quick start", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert block, "README's Quick start has a ```sh block"
    return [line.strip() for line in block.group(1).splitlines() if line.strip() and not line.startswith("#")]


def make_targets() -> dict[str, list[str]]:
    """target -> its recipe lines, from the Makefile."""
    targets: dict[str, list[str]] = {}
    current = None
    for line in (ROOT / "Makefile").read_text().splitlines():
        match = re.match(r"^([A-Za-z$()/_.-]+):", line)
        if match:
            current = match.group(1)
            targets[current] = [line]
        elif line.startswith("\t") and current:
            targets[current].append(line.strip())
    return targets


def test_readme_has_exactly_two_commands_demo_then_test():
    assert quick_start_commands() == ["make demo", "make test"]


def test_both_commands_are_make_targets_that_install_first():
    targets = make_targets()
    for name in ("demo", "test"):
        assert name in targets, f"Makefile has no '{name}' target"
        assert "install" in targets[name][0], f"'make {name}' installs first"
    assert any("-m coursekit demo" in line for line in targets["demo"])
    assert any("-m pytest" in line for line in targets["test"])
    assert any("pip install" in line and "-e '.[dev]'" in line for line in targets["$(BIN)/coursekit"])


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    test_command = quick_start_commands()[1]
    commands = [line.strip() for line in ci.splitlines() if line.strip() and not line.strip().startswith("#")]
    assert test_command in commands, f".ci/run must call `{test_command}`"
    assert "set -euo pipefail" in ci, ".ci/run must stop on the first failure"
    assert "COURSE_DATA_MIRROR" in ci and "shared/datasets" in ci


def test_pytest_collects_every_test_folder():
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'testpaths = ["tests", "grader_tests", "browser_tests"]' in pyproject
