"""The package's two sides: what the student's kernel imports (coursekit.lab, coursekit.lectures) never
imports the grader (coursekit.grading), the author's tools (coursekit.authoring) or nbgrader."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "coursekit"
#: Imports the student's side may never make (module names and their submodules).
GRADER_SIDE = ("coursekit.grading", "coursekit.authoring", "coursekit.service", "coursekit.cli", "coursekit.labserver",
               "coursekit.hub", "nbgrader",
               "nbclient", "nbconvert", "jupyter_client")
STUDENT_SIDE = ("lab", "lectures")


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at the top or inside a function (relative imports resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
    return found


def crosses(module: str) -> bool:
    return any(module == side or module.startswith(side + ".") for side in GRADER_SIDE)


@pytest.mark.parametrize("path", sorted(p for side in STUDENT_SIDE for p in (PACKAGE / side).rglob("*.py")),
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_the_student_side_never_imports_the_grader(path):
    assert not sorted(m for m in imported_modules(path) if crosses(m)), path


def test_importing_the_student_side_loads_nothing_of_the_grader():
    """In a fresh interpreter: the lab's modules and the lectures load, and no grader module comes along."""
    modules = sorted(".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
                     for side in STUDENT_SIDE for p in (PACKAGE / side).rglob("*.py") if p.name != "__main__.py")
    code = (f"import importlib, json, sys\nfor name in {modules!r}:\n    importlib.import_module(name)\n"
            f"print(json.dumps(sorted(sys.modules)))")
    loaded = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                                       cwd=ROOT).stdout)
    assert "coursekit.lab.parts" in loaded and "coursekit.lectures" in loaded
    assert not [m for m in loaded if crosses(m)]


def test_the_notebooks_import_only_the_student_side():
    """The lab's and the lectures' notebooks (what runs in a student's kernel) name no grader module."""
    notebooks = [ROOT / "source" / "lab2" / "lab2.ipynb", *sorted((ROOT / "notebooks").glob("*.ipynb"))]
    for notebook in notebooks:
        for cell in json.loads(notebook.read_text(encoding="utf-8"))["cells"]:
            if cell["cell_type"] != "code":
                continue
            source = "".join(cell["source"])
            source = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!")))
            for node in ast.walk(ast.parse(source)):
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                    assert not [n for n in names if crosses(n)], (notebook.name, names)


def test_every_module_sits_in_a_side():
    """coursekit's top level holds only the shared configuration, the command line and the lab server."""
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert top == ["__init__.py", "__main__.py", "cli.py", "config.py", "labserver.py"]
    assert sorted(p.name for p in PACKAGE.iterdir() if p.is_dir() and not p.name.startswith("__")) == \
        ["authoring", "grading", "hub", "lab", "lectures", "service"]
