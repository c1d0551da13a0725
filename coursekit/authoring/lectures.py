"""Executing the lecture notebooks and writing them as HTML (``python -m coursekit.authoring.lectures html``)."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path


from coursekit.lab.profiles import environment

#: The lecture notebooks, relative to the course root.
DEFAULT_NOTEBOOKS = ("notebooks/dropout.ipynb", "notebooks/numerical_stability.ipynb")


def render_html(notebooks: Sequence[Path], out_dir: Path, *, profile: str = "cpu",
                timeout: int = 900) -> list[Path]:
    """Execute each notebook at ``profile`` (in its own folder) and write ``out_dir/NAME.html``.

    The committed notebooks are not modified. Returns the HTML paths written.
    """
    import nbformat
    from nbclient import NotebookClient
    from nbconvert import HTMLExporter

    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    with environment(COURSE_PROFILE=profile, MPLBACKEND=None):
        for notebook in notebooks:
            notebook = Path(notebook)
            print(f"[lectures] executing {notebook} at profile {profile}", flush=True)
            nb = nbformat.read(notebook, as_version=4)
            started = time.monotonic()
            NotebookClient(nb, timeout=timeout, kernel_name="python3",
                           resources={"metadata": {"path": str(notebook.parent.resolve())}}).execute()
            body, _ = HTMLExporter().from_notebook_node(nb)
            target = out_dir / (notebook.stem + ".html")
            target.write_text(body, encoding="utf-8")
            print(f"[lectures] wrote {target} (executed in {time.monotonic() - started:.0f} s)",
                  flush=True)
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
    args = parser.parse_args(argv)
    root = load_config().root
    notebooks = args.notebooks or [root / name for name in DEFAULT_NOTEBOOKS]
    render_html(notebooks, args.out or root / "build" / "lectures", profile=args.profile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
