"""Start nbgrader (and coursekit's own commands) sooner.

``import nbformat`` imports ``jsonschema``, whose format checkers import ``rfc3987_syntax``
when it is installed (nbformat asks for ``jsonschema[format-nongpl]``). That package compiles
some thirty Earley grammars at import time, a start-up cost paid by every nbgrader process (and
by the server ``coursekit grade`` forks its grading processes from, :mod:`coursekit.grading.worker`).
Nothing nbgrader validates uses the ``iri`` formats those grammars check.

:func:`defer_iri_grammars` puts a stand-in module in its place whose ``is_valid_syntax`` loads
the real package the first time it is called, so IRI validation still works, only later.

:func:`use_this_environment` lets nbgrader find this interpreter's tools (``alembic``, the kernels).

    python -m coursekit.grading.quickstart autograde lab2 --student=S   # = nbgrader autograde ...
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import types
from pathlib import Path

NAME = "rfc3987_syntax"


def _real_module() -> types.ModuleType:
    """Import the real package (replacing the stand-in in sys.modules) and return it."""
    module = sys.modules.get(NAME)
    if module is None or getattr(module, "_coursekit_stand_in", False):
        sys.modules.pop(NAME, None)
        module = importlib.import_module(NAME)
    return module


def is_valid_syntax(term: str, value: str) -> bool:
    """rfc3987_syntax.is_valid_syntax, imported on first use."""
    return _real_module().is_valid_syntax(term=term, value=value)


def _other_attribute(attr: str):
    """Anything but is_valid_syntax comes from the real package. Dunder lookups (the import
    system asks for __path__ and friends) must not load it."""
    if attr.startswith("__"):
        raise AttributeError(attr)
    return getattr(_real_module(), attr)


def defer_iri_grammars() -> bool:
    """Install the stand-in unless the real package is already imported or not installed.
    Returns True when the stand-in is in place."""
    if NAME in sys.modules or importlib.util.find_spec(NAME) is None:
        return False
    stand_in = types.ModuleType(NAME, "Stand-in: the real rfc3987_syntax is imported on first use.")
    stand_in._coursekit_stand_in = True
    stand_in.is_valid_syntax = is_valid_syntax
    stand_in.__getattr__ = _other_attribute
    sys.modules[NAME] = stand_in
    return True


def nbgrader_command() -> list[str]:
    """The argv prefix coursekit uses to run nbgrader: ``nbgrader`` itself, started faster."""
    return [sys.executable, "-m", "coursekit.grading.quickstart"]


def use_this_environment() -> None:
    """Put this interpreter's bin folder first on PATH: nbgrader runs `alembic` (to create a gradebook) and
    kernels from PATH, and the venv may be used without being activated (`.venv/bin/python -m coursekit`)."""
    bin_dir = str(Path(sys.executable).parent)
    if os.environ.get("PATH", "").split(os.pathsep)[0] != bin_dir:
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")


def main() -> None:
    defer_iri_grammars()
    from nbgrader.apps.nbgraderapp import main as nbgrader_main
    nbgrader_main()


if __name__ == "__main__":
    main()
