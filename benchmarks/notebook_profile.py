"""Execute the instructor notebook top to bottom in a real kernel at one run profile.

Reports the total time, the slowest cells, and any cell that raised (a test cell that raises
means the experiment's conclusion did not hold at that scale). The executed copy is written to
build/ so its printed figures and plots can be read.

    python benchmarks/notebook_profile.py [--profile cpu]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]


def cell_seconds(cell) -> float:
    timing = cell.get("metadata", {}).get("execution", {})
    if "iopub.execute_input" not in timing or "shell.execute_reply" not in timing:
        return 0.0
    start = dt.datetime.fromisoformat(timing["iopub.execute_input"].replace("Z", "+00:00"))
    end = dt.datetime.fromisoformat(timing["shell.execute_reply"].replace("Z", "+00:00"))
    return (end - start).total_seconds()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="cpu", choices=("full", "cpu", "grading"))
    parser.add_argument("--notebook", type=Path, default=ROOT / "source" / "lab2" / "lab2.ipynb")
    args = parser.parse_args()
    os.environ["COURSE_PROFILE"] = args.profile
    os.environ.pop("NBGRADER_EXECUTION", None)
    nb = nbformat.read(args.notebook, as_version=4)
    started = time.perf_counter()
    NotebookClient(nb, timeout=1800, allow_errors=True, kernel_name="python3",
                   resources={"metadata": {"path": str(args.notebook.parent)}}).execute()
    total = time.perf_counter() - started
    out = ROOT / "build" / f"{args.notebook.stem}-{args.profile}.ipynb"
    out.parent.mkdir(exist_ok=True)
    nbformat.write(nb, out)
    errors = []
    timed = []
    for cell in nb.cells:
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", "?")
        timed.append((cell_seconds(cell), gid))
        for output in cell.get("outputs", []):
            if output.output_type == "error":
                errors.append(f"{gid}: {output.ename}: {output.evalue[:300]}")
    print(f"profile {args.profile}: the whole notebook ran in {total:.0f} s ({total / 60:.1f} min); executed copy: {out}")
    for seconds, gid in sorted(timed, reverse=True)[:6]:
        print(f"  {seconds:7.1f} s  {gid}")
    for line in errors:
        print("  ERROR", line)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
