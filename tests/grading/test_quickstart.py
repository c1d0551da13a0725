"""coursekit.grading.quickstart: nbgrader started without compiling the IRI grammars, IRI checks unchanged."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytest.importorskip("rfc3987_syntax", reason="the stand-in only matters where rfc3987_syntax is installed")


def run_python(code: str) -> str:
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip()


def test_nbgrader_starts_without_the_iri_grammars():
    out = run_python(
        "import sys\n"
        "from coursekit.grading.quickstart import defer_iri_grammars\n"
        "assert defer_iri_grammars()\n"
        "import nbgrader.apps.nbgraderapp, nbformat\n"
        "print('rfc3987_syntax.syntax_helpers' in sys.modules, 'lark' in sys.modules)\n")
    assert out == "False False"


def test_iri_checks_give_the_same_answers_through_the_stand_in():
    checks = ("from jsonschema import FormatChecker\n"
              "fc = FormatChecker()\n"
              "values = ['http://例子.测试/路径?q=1', 'not an iri', 'urn:isbn:0451450523', 'http://[::1', '']\n"
              "print([fc.conforms(v, f) for v in values for f in ('iri', 'iri-reference')])\n")
    direct = run_python(checks)
    deferred = run_python("from coursekit.grading.quickstart import defer_iri_grammars\n"
                          "assert defer_iri_grammars()\n" + checks)
    assert direct == deferred
    assert "True" in direct and "False" in direct, "the checks must distinguish valid from invalid IRIs"


def test_nothing_is_replaced_once_the_real_package_is_loaded():
    out = run_python("import rfc3987_syntax\n"
                     "from coursekit.grading.quickstart import defer_iri_grammars\n"
                     "print(defer_iri_grammars(), hasattr(rfc3987_syntax, 'syntax_parser'))\n")
    assert out == "False True"


def test_the_command_is_nbgrader():
    from coursekit.grading.quickstart import nbgrader_command
    result = subprocess.run([*nbgrader_command(), "--version"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    import nbgrader
    assert nbgrader.__version__ in result.stdout + result.stderr
