"""Dependencies by role: a student's install (the base dependencies) has none of the instructor's heavy modules, the
student's side never imports them, and a missing extra is one sentence naming the extra to install."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from coursekit.config import EXTRAS, ConfigError, MissingExtra, missing_extra_message, require_extra

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
#: The modules only the instructor's machines need (each comes with an extra), and their distributions on PyPI.
HEAVY_MODULES = ("dask", "distributed", "psycopg2", "copydetect", "jupyterhub")
HEAVY_DISTRIBUTIONS = ("dask", "distributed", "psycopg2", "psycopg2-binary", "copydetect", "jupyterhub")
#: What a student's kernel imports: the course's package, and the engine's part interface and configuration.
STUDENT_SIDE = sorted([*(ROOT / "dlcourse").rglob("*.py"), *(ROOT / "coursekit" / "partkit").rglob("*.py"),
                       ROOT / "coursekit" / "config.py"])


def heavy(module: str) -> bool:
    return module.split(".")[0] in HEAVY_MODULES


def modules_named(path: Path) -> set[str]:
    """Every module a file imports (at the top or in a function), or names to importlib, __import__ or
    require_extra as a string."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level:
            found.add(node.module or "")
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str) \
                and ast.unparse(node.func).split(".")[-1] in ("import_module", "__import__", "require_extra"):
            found.add(node.args[0].value)
    return found


def distribution(requirement: str) -> str:
    return re.match(r"[A-Za-z0-9._-]+", requirement).group(0).lower().replace("_", "-")


@pytest.mark.parametrize("path", STUDENT_SIDE, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_student_side_never_imports_an_instructors_module(path):
    assert not sorted(m for m in modules_named(path) if heavy(m)), path


def test_importing_the_student_side_loads_none_of_them():
    """In a fresh interpreter: every module of the student's side loads, and none of the heavy modules comes along."""
    modules = sorted(".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
                     for p in STUDENT_SIDE if p.name != "__main__.py")
    code = (f"import importlib, json, sys\nfor name in {modules!r}:\n    importlib.import_module(name)\n"
            f"print(json.dumps(sorted(sys.modules)))")
    loaded = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                                       cwd=ROOT).stdout)
    assert "dlcourse.settings" in loaded
    assert not [m for m in loaded if heavy(m)]


def test_the_base_dependencies_are_the_students():
    base = {distribution(r) for r in PYPROJECT["dependencies"]}
    assert not base & set(HEAVY_DISTRIBUTIONS), sorted(base & set(HEAVY_DISTRIBUTIONS))
    assert {"torch", "torchvision", "nbgrader", "jupyterlab", "pydantic"} <= base
    extras = PYPROJECT["optional-dependencies"]
    assert {distribution(r) for r in extras["similarity"]} == {"copydetect"}
    assert {"dask", "jupyterhub", "psycopg2-binary"} <= {distribution(r) for name in extras for r in extras[name]}


def test_every_extra_the_code_names_exists_and_dev_installs_them_all():
    """`make install` installs '.[dev]': everything."""
    extras = PYPROJECT["optional-dependencies"]
    assert set(EXTRAS.values()) <= set(extras)
    named_by_dev = set()
    for requirement in extras["dev"]:
        if distribution(requirement) == "coursekit":
            named_by_dev |= {e.strip() for e in requirement.split("[", 1)[1].rstrip("]").split(",")}
    assert named_by_dev == set(extras) - {"dev"}
    assert "-e '.[dev]'" in (ROOT / "Makefile").read_text(encoding="utf-8")


# --- a missing extra ------------------------------------------------------------------------

@pytest.mark.parametrize("module, extra", [("copydetect", "similarity"), ("distributed", "dask"),
                                           ("psycopg2", "hub"), ("jupyterhub", "hub"),
                                           ("latex2mathml.converter", "grading")])
def test_a_missing_extra_names_the_extra_to_install(monkeypatch, module, extra):
    monkeypatch.setitem(sys.modules, module, None)  # as if it were not installed
    with pytest.raises(MissingExtra) as info:
        require_extra(module, "this step")
    message = str(info.value)
    assert f"pip install 'coursekit[{extra}]'" in message and f"'{module}'" in message and "this step" in message
    assert "\n" not in message
    assert isinstance(info.value, ImportError) and isinstance(info.value, ConfigError), \
        "the command line reports it in one line, as any ConfigError"


def test_the_similarity_report_without_copydetect(monkeypatch):
    from coursekit.config import Similarity
    from coursekit.grading import similarity

    monkeypatch.setitem(sys.modules, "copydetect", None)
    with pytest.raises(MissingExtra, match=r"the similarity report .*pip install 'coursekit\[similarity\]'"):
        similarity._fingerprint("x = 1\n", Similarity(), None)


def test_a_postgresql_gradebook_without_psycopg2(monkeypatch):
    import dataclasses

    from coursekit.config import load_config
    from coursekit.grading.nbgrader_settings import check_database_driver

    config = dataclasses.replace(load_config(ROOT / "course.toml"), db_url="postgresql+psycopg2://grader@localhost/lab")
    monkeypatch.setitem(sys.modules, "psycopg2", None)
    with pytest.raises(MissingExtra) as info:
        check_database_driver(config)
    message = str(info.value)
    assert str(config.path) in message and "db_url" in message and "pip install 'coursekit[hub]'" in message


def test_a_module_of_no_extra_is_named_as_itself():
    assert "pip install some_module " in missing_extra_message("some_module.sub", "this step")
