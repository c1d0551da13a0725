"""Show the course's own code in the notebook: how an experiment measures what it plots.

The experiments run from this package so that the graded cells stay short and the grader knows
exactly what ran; ``show_code`` puts the few functions that do the measuring in front of the
student, highlighted, as the notebook's own text.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

from IPython.display import Code


def show_code(*functions: Callable) -> Code:
    """The source of `functions`, each headed by the module it lives in, as a highlighted block."""
    if not functions:
        raise ValueError("show_code needs at least one function")
    parts = []
    for function in functions:
        module = inspect.getmodule(function)
        name = module.__name__ if module else "?"
        parts.append(f"# {name}.{function.__qualname__}\n{inspect.getsource(function).rstrip()}\n")
    return Code("\n\n".join(parts), language="python")
