"""The engine (coursekit/) knows a course only through the part interface and course.toml: no module of
it imports a course's package, and the course's package reaches the engine only through that interface."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ENGINE = ROOT / "coursekit"


def course_packages() -> set[str]:
    """The top-level packages course.toml names as assignments' parts (``package.module:NAME``)."""
    config = tomllib.loads((ROOT / "course.toml").read_text(encoding="utf-8"))
    return {table["parts"].split(":")[0].split(".")[0] for table in config["assignments"].values() if table.get("parts")}


def imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level:
            found.add(node.module or "")
    return found


def test_every_assignment_names_a_course_package_apart_from_the_engine():
    packages = course_packages()
    assert packages and "coursekit" not in packages, packages
    assert all((ROOT / name / "__init__.py").is_file() for name in packages)


@pytest.mark.parametrize("path", sorted(ENGINE.rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT)))
def test_the_engine_imports_no_course_package(path):
    packages = course_packages()
    crossing = sorted(m for m in imports(path) if m.split(".")[0] in packages)
    assert not crossing, f"{path.relative_to(ROOT)} imports the course's {crossing}"


def test_the_engine_names_no_course_module_even_in_a_string():
    """No module path of the course in the engine's code (a string handed to importlib would hide an import)."""
    packages = course_packages()
    for path in sorted(ENGINE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                named = [p for p in packages if f"{p}." in node.value or node.value == p]
                assert not named, f"{path.relative_to(ROOT)}:{node.lineno} names {named} in {node.value[:80]!r}"


def test_the_course_uses_the_engine_only_through_its_interface():
    """The course's code imports the engine's part interface (coursekit.partkit), configuration and environment names, never the
    grading, service, hub or authoring machinery."""
    allowed = ("coursekit.partkit", "coursekit.config", "coursekit.environment")
    for package in course_packages():
        for path in sorted((ROOT / package).rglob("*.py")):
            engine = sorted(m for m in imports(path) if m.split(".")[0] == "coursekit" and not m.startswith(allowed))
            assert not engine, f"{path.relative_to(ROOT)} imports {engine}"
