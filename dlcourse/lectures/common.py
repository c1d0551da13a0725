"""What both lecture notebooks use: showing source code, small tables, generators, subsets."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from dlcourse.data import balanced_subset

Tensors = tuple[Tensor, Tensor]


def show_source(*objects: object) -> object:
    """The source code of functions/classes of this package, highlighted for a notebook.

    The lectures teach code that lives (tested) in this module; showing it with this function
    keeps one copy of it. Returns an ``IPython.display.Code`` object (the notebook displays it).
    """
    import inspect

    from IPython.display import Code

    return Code("\n\n".join(inspect.getsource(obj) for obj in objects), language="python")


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], digits: int = 3) -> object:
    """A small Markdown table for a notebook (``IPython.display.Markdown``); floats are shown
    with ``digits`` significant digits."""
    from IPython.display import Markdown

    def cell(value: object) -> str:
        return f"{value:.{digits}g}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(value) for value in row) + " |" for row in rows]
    return Markdown("\n".join(lines))


def device_generator(seed: int, device: torch.device | str) -> torch.Generator:
    """A generator seeded with ``seed`` on ``device`` (dropout masks of a model on the GPU must
    come from a GPU generator)."""
    gen = torch.Generator(torch.device(device))
    gen.manual_seed(seed)
    return gen


def take(X: Tensor, y: Tensor, n: int) -> Tensors:
    """``n`` examples of a split: all of it when ``n >= len(y)``, else the class-balanced
    :func:`dlcourse.data.balanced_subset` (which cannot serve a whole MNIST split: its
    classes are not equally large)."""
    if n >= len(y):
        return X, y
    return balanced_subset(X, y, n)
