"""Time `nbgrader autograde` of the reference submission, against the lab's original scale.

In one run: (1) the median wall times of `nbgrader autograde lab2 --student reference --force`
and of the course's `coursekit grade lab2 --student reference --force` (sandboxed), alternating,
in a scratch copy of the course (everything included: nbgrader, kernel start, imports, data,
all tests and the four experiments at the grading scale); (2) one epoch of each of the lab's
original training setups with its original DataLoader pipeline, from which the original
notebook's training time is extrapolated (3 activations x 5 epochs and 2 x 5 epochs of the MLP,
4 runs x 15 epochs of the CNN). Prints both and their ratio.

    python benchmarks/grade_one.py [--repeats 3] [--mirror PATH]
        [--baseline-root DIR --baseline-python PYTHON]

With a baseline (another checkout of the course, e.g. `git worktree add /tmp/before <commit>`, and a
Python whose `coursekit` is that checkout's), its two commands are timed in the same run,
alternating with the current ones, and the medians are printed side by side.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

from coursekit.config import load_config
from coursekit.authoring.release import copy_course

ROOT = Path(__file__).resolve().parents[1]


#: The two ways one submission is autograded: nbgrader's own command (what formgrader's button and
#: a plain `nbgrader autograde` run), and the course's (`coursekit grade`: the sandbox, nbgrader
#: started through coursekit.grading.quickstart, the coordinator's checks and journal included).
def commands(python: str) -> dict[str, list[str]]:
    return {
        "nbgrader autograde": [python, "-m", "nbgrader", "autograde", "lab2", "--student", "reference", "--force"],
        "coursekit grade": [python, "-m", "coursekit", "grade", "lab2", "--student", "reference", "--force",
                            "--workers", "1"],
    }


COMMANDS = commands(sys.executable)


def prepare(root: Path, python: str, scratch: Path, env: dict[str, str]) -> None:
    """A scratch copy of the course at `root` with its release built and the samples written."""
    config_path = copy_course(root, scratch, with_release=False)
    for step in ("setup-data", "build", "samples"):
        subprocess.run([python, "-m", "coursekit", "--config", str(config_path), step],
                       cwd=scratch, env=env, check=True, capture_output=True)


def time_autograde(repeats: int, mirror: Path, baseline: tuple[Path, str] | None = None) -> dict[str, list[float]]:
    """Wall times of each command, alternating (this checkout's, then the baseline's), `repeats` times each."""
    env = {**os.environ, "COURSE_DATA_MIRROR": str(mirror)}
    env.pop("NBGRADER_EXECUTION", None)
    versions = {"": (ROOT, sys.executable)}
    if baseline:
        versions["baseline "] = (baseline[0], baseline[1])
    times: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        folders = {}
        for label, (root, python) in versions.items():
            folders[label] = Path(scratch) / (label.strip() or "current")
            folders[label].mkdir()
            prepare(root, python, folders[label], env)
        for _ in range(repeats):
            for label, (root, python) in versions.items():
                run_env = {**env, "PATH": str(Path(python).parent) + os.pathsep + env.get("PATH", "")}
                for name, command in commands(python).items():
                    started = time.perf_counter()
                    subprocess.run(command, cwd=folders[label], env=run_env, check=True, capture_output=True)
                    times.setdefault(label + name, []).append(time.perf_counter() - started)
                    print(f"  {label}{name} of the reference submission: {times[label + name][-1]:.1f} s", flush=True)
    return times


def original_loaders(root: Path, batch_size: int):
    """The lab's original pipeline: per-sample PIL -> ToTensor -> Normalize through a DataLoader."""
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
    train = datasets.MNIST(str(root), train=True, download=False, transform=transform)
    test = datasets.MNIST(str(root), train=False, download=False, transform=transform)
    return DataLoader(train, batch_size=batch_size, shuffle=True), DataLoader(test, batch_size=batch_size)


def mlp_epoch(root: Path) -> float:
    """One epoch of the original 2-hidden-layer MLP, with its per-batch gradient statistics."""
    train, _ = original_loaders(root, 64)
    model = nn.Sequential(nn.Linear(784, 100), nn.Sigmoid(), nn.Linear(100, 100), nn.Sigmoid(),
                          nn.Linear(100, 100), nn.Sigmoid(), nn.Linear(100, 10))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.001)
    started = time.perf_counter()
    for X, y in train:
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(X.view(X.size(0), -1)), y)
        loss.backward()
        _ = [p.grad.abs().mean().item() for p in model.parameters()]  # the original recorded these per batch
        optimizer.step()
    return time.perf_counter() - started


def cnn_epoch(root: Path) -> float:
    """One epoch (train + test evaluation) of the original CNN with dropout 0.3."""
    train, test = original_loaders(root, 256)
    model = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(),
                          nn.MaxPool2d(2), nn.Flatten(), nn.Dropout(0.3), nn.Linear(1600, 128), nn.ReLU(),
                          nn.Linear(128, 10))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    started = time.perf_counter()
    model.train()
    for X, y in train:
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(X), y).backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        for X, _ in test:
            model(X)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--mirror", type=Path, default=Path(os.environ.get("COURSE_DATA_MIRROR", ROOT.parent / "shared" / "datasets")))
    parser.add_argument("--baseline-root", type=Path, help="another checkout of the course, timed in the same run")
    parser.add_argument("--baseline-python", help="the Python whose coursekit is that checkout's")
    parser.add_argument("--skip-original", action="store_true", help="do not time the original notebook's epochs")
    args = parser.parse_args()
    torch.set_num_threads(2)
    print(f"autograding the reference submission {args.repeats} times (machine: {os.cpu_count()} cores)")
    baseline = (args.baseline_root.resolve(), args.baseline_python) if args.baseline_root else None
    times = time_autograde(args.repeats, args.mirror.resolve(), baseline)
    medians = {name: statistics.median(values) for name, values in times.items()}
    grade = medians["coursekit grade"]

    if args.skip_original:
        for name, median in medians.items():
            print(f"{name} of one submission (median of {args.repeats}): {median:.1f} s")
        return 0 if grade <= 30 else 1
    from dlcourse.data import ensure_mnist
    config = load_config(ROOT / "course.toml")
    root = ensure_mnist(config.data_root, args.mirror.resolve())
    print("one epoch of each original training setup (original DataLoader pipeline)")
    mlp = mlp_epoch(root)
    print(f"  MLP, 60,000 images, batch 64: {mlp:.1f} s", flush=True)
    cnn = cnn_epoch(root)
    print(f"  CNN, 60,000 + 10,000 images, batch 256: {cnn:.1f} s", flush=True)
    original = (3 * 5 + 2 * 5) * mlp + (4 * 15) * cnn
    print()
    for name, median in medians.items():
        print(f"{name} of one submission (median of {args.repeats}): {median:.1f} s")
    print(f"the course's command (coursekit grade): {grade:.1f} s (target <= 30 s)")
    print(f"original notebook's training, extrapolated: 25 MLP epochs x {mlp:.1f} s + 60 CNN epochs x {cnn:.1f} s "
          f"= {original / 60:.0f} min")
    print(f"ratio: {original / grade:.0f}x")
    return 0 if grade <= 30 else 1


if __name__ == "__main__":
    sys.exit(main())
