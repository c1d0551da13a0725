"""The environment variables the course reads are named in one module, coursekit/environment.py."""

import ast
from pathlib import Path

from coursekit import environment

ROOT = Path(__file__).resolve().parents[1]
NAMES = {value for key, value in vars(environment).items() if key.startswith("ENV_")}


def test_every_variable_is_described():
    assert set(environment.ENVIRONMENT) == NAMES
    assert all(text.strip() for text in environment.ENVIRONMENT.values())


def test_no_other_module_spells_a_variable_name():
    spelled = []
    for package in ("coursekit", "dlcourse"):
        for path in sorted((ROOT / package).rglob("*.py")):
            if path == Path(environment.__file__).resolve():
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Constant) and node.value in NAMES:
                    spelled.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.value}")
    assert not spelled, "use the constants of coursekit/environment.py: " + ", ".join(spelled)
