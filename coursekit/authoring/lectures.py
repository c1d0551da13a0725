"""Executing the lecture notebooks and writing them as HTML (``python -m coursekit.authoring.lectures html``).

The pages need no network: formulas are MathML and no script comes from a CDN (:func:`lecture_html`)."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path


from coursekit.partkit.profiles import environment

#: The lecture notebooks, relative to the course root.
DEFAULT_NOTEBOOKS = ("notebooks/dropout.ipynb", "notebooks/numerical_stability.ipynb")


#: The mime type of a widget output: in the lectures, the training loops' tqdm bars.
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def lecture_html(nb) -> str:
    """A lecture notebook as one self-contained HTML page that needs no network: the formulas as
    MathML (:mod:`coursekit.grading.htmlmath`), the figures embedded, no script from a CDN.

    Progress bars are left out: the training loops close theirs when they end (``leave=False``), so
    JupyterLab shows none after a run, and their saved text is the bar's first frame ("0/10").
    """
    import copy

    from coursekit.grading.htmlmath import OFFLINE_LAB_TEMPLATE, MathMLHTMLExporter

    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = [out for out in cell.outputs if WIDGET_VIEW not in out.get("data", {})]
    body, _ = MathMLHTMLExporter(template_file=OFFLINE_LAB_TEMPLATE).from_notebook_node(nb)
    return body


def render_html(notebooks: Sequence[Path], out_dir: Path, *, profile: str = "cpu",
                timeout: int = 900, execute: bool = True) -> list[Path]:
    """Execute each notebook at ``profile`` (in its own folder) and write ``out_dir/NAME.html``.

    With ``execute=False`` the notebooks are written as committed (text, math and code, no outputs).
    The committed notebooks are not modified. Returns the HTML paths written.
    """
    import nbformat
    from nbclient import NotebookClient

    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    with environment(COURSE_PROFILE=profile, MPLBACKEND=None):
        for notebook in notebooks:
            notebook = Path(notebook)
            nb = nbformat.read(notebook, as_version=4)
            started = time.monotonic()
            if execute:
                print(f"[lectures] executing {notebook} at profile {profile}", flush=True)
                NotebookClient(nb, timeout=timeout, kernel_name="python3",
                               resources={"metadata": {"path": str(notebook.parent.resolve())}}).execute()
            target = out_dir / (notebook.stem + ".html")
            target.write_text(lecture_html(nb), encoding="utf-8")
            done = f"executed in {time.monotonic() - started:.0f} s" if execute else "not executed"
            print(f"[lectures] wrote {target} ({done})", flush=True)
            written.append(target)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m coursekit.authoring.lectures html [--profile cpu] [--out build/lectures] [NOTEBOOK ...]``."""
    from coursekit.config import PROFILE_NAMES, load_config

    parser = argparse.ArgumentParser(prog="python -m coursekit.authoring.lectures",
                                     description="Render the lecture notebooks to HTML.")
    sub = parser.add_subparsers(dest="command", required=True)
    html = sub.add_parser("html", help="execute the lecture notebooks and write HTML copies")
    html.add_argument("notebooks", nargs="*", type=Path, help="default: both lecture notebooks")
    html.add_argument("--profile", default="cpu", choices=PROFILE_NAMES)
    html.add_argument("--out", type=Path, default=None, help="default: build/lectures")
    html.add_argument("--no-execute", action="store_true",
                      help="write the notebooks as committed, without running them (text and math only)")
    args = parser.parse_args(argv)
    root = load_config().root
    notebooks = args.notebooks or [root / name for name in DEFAULT_NOTEBOOKS]
    render_html(notebooks, args.out or root / "build" / "lectures", profile=args.profile,
                execute=not args.no_execute)
    return 0


if __name__ == "__main__":
    sys.exit(main())
