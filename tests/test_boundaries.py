"""The package's two sides: what the student's kernel imports (the course's package dlcourse and the
engine's part interface coursekit.partkit) never imports the grader (coursekit.grading), the author's
tools (coursekit.authoring) or nbgrader."""

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
               "coursekit.hub", "coursekit.handgrade", "nbgrader",
               "nbclient", "nbconvert", "jupyter_client")
#: What the student's kernel imports: the course's package and the engine's student-safe part interface.
STUDENT_SIDE = (ROOT / "dlcourse", PACKAGE / "partkit")


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


@pytest.mark.parametrize("path", sorted(p for side in STUDENT_SIDE for p in side.rglob("*.py")),
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_the_student_side_never_imports_the_grader(path):
    assert not sorted(m for m in imported_modules(path) if crosses(m)), path


def test_importing_the_student_side_loads_nothing_of_the_grader():
    """In a fresh interpreter: the lab's modules and the lectures load, and no grader module comes along."""
    modules = sorted(".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
                     for side in STUDENT_SIDE for p in side.rglob("*.py") if p.name != "__main__.py")
    code = (f"import importlib, json, sys\nfor name in {modules!r}:\n    importlib.import_module(name)\n"
            f"print(json.dumps(sorted(sys.modules)))")
    loaded = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                                       cwd=ROOT).stdout)
    assert "dlcourse.lab2" in loaded and "dlcourse.lectures" in loaded
    assert not [m for m in loaded if crosses(m)]


def test_the_notebooks_import_only_the_student_side():
    """The lab's and the lectures' notebooks (what runs in a student's kernel) name no grader module."""
    notebooks = [*sorted((ROOT / "source").glob("*/*.ipynb")), *sorted((ROOT / "notebooks").glob("*.ipynb"))]
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
    """coursekit's top level holds only the shared configuration (course.toml, the environment), the command line
    and the lab server."""
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert top == ["__init__.py", "__main__.py", "cli.py", "config.py", "environment.py", "labserver.py"]
    assert sorted(p.name for p in PACKAGE.iterdir() if p.is_dir() and not p.name.startswith("__")) == \
        ["authoring", "grading", "handgrade", "hub", "partkit", "service"]


def module_name(path: Path) -> str:
    """coursekit/grading/zygote.py -> coursekit.grading.zygote (a package's __init__.py: the package)."""
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def import_graph() -> dict[str, set[str]]:
    """Every module of the package -> the package's modules it imports (at any level, inside functions too)."""
    files = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py")) if "__pycache__" not in p.parts}
    return {name: {m for m in imported_modules(path) if m in files and m != name} for name, path in files.items()}


def import_circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One circle of imports (its modules in order, the first again at the end) for every group of modules
    that import each other (Tarjan's strongly connected components), shortest circles first."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[set[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for other in sorted(graph[module]):
            if other not in index:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in stack:
                low[module] = min(low[module], index[other])
        if low[module] == index[module]:
            group = {stack.pop()}
            while module not in group:
                group.add(stack.pop())
            if len(group) > 1:
                groups.append(group)

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return sorted((circle_through(graph, group) for group in groups), key=lambda c: (len(c), c))


def circle_through(graph: dict[str, set[str]], group: set[str]) -> list[str]:
    """The shortest way, inside the group, from its first module back to itself."""
    start = min(group)
    paths = {other: [start, other] for other in sorted(graph[start] & group)}
    frontier = list(paths)
    while start not in paths:
        following = []
        for module in frontier:
            for other in sorted(graph[module] & group):
                if other not in paths:
                    paths[other] = [*paths[module], other]
                    following.append(other)
        frontier = following
    return paths[start]


def test_the_circle_finder_names_each_circle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"f"}, "f": {"e"}, "g": {"a"}}
    assert import_circles(graph) == [["e", "f", "e"], ["a", "b", "c", "a"]]
    assert import_circles({"a": {"b"}, "b": set()}) == []


def test_no_import_circle_in_the_package():
    """No two modules of coursekit import each other, however far round (imports inside functions count:
    a circle hidden in a function still ties the modules together)."""
    circles = import_circles(import_graph())
    assert not circles, "import circles: " + "; ".join(" -> ".join(circle) for circle in circles)
