"""Time one training epoch on MNIST with two data pipelines, side by side.

    python benchmarks/data_pipeline.py [--repeats 3] [--mirror PATH] [--min-ratio 3.5]

(a) the classic pipeline: ``DataLoader(datasets.MNIST(root, transform=Compose([ToTensor(),
    Normalize((0.1307,), (0.3081,))])), batch_size=64, shuffle=True)``;
(b) ``dlcourse.data``: ``load_mnist`` once (timed separately), then ``iterate_batches``.

Both train the lab's gradient-vanishing MLP (784-100-100-100-10, ReLU; SGD lr 0.01;
CrossEntropyLoss; batch 64) for one epoch over all 60,000 training images, from the same
initial weights and with the same shuffling generator seed, so both see the same batches in
the same order and end with the same mean loss (printed as a check; a difference is reported
but does not fail the run). Runs alternate a/b; the
medians of ``--repeats`` runs each are compared. Exits 1 if median(a)/median(b) is below
``--min-ratio``.

The data root is the course's (``load_config().data_root``), provisioned with
``ensure_mnist`` from ``--mirror``, else $COURSE_DATA_MIRROR, else ``../shared/datasets``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Iterable
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

from coursekit.config import load_config
from dlcourse.data import DEFAULT_MEAN, DEFAULT_STD, ensure_mnist, iterate_batches, load_mnist

BATCH_SIZE = 64
LR = 0.01
SEED = 0


def make_model() -> nn.Sequential:
    """The gradient-vanishing MLP: 784 -> 100, two hidden 100 -> 100, 100 -> 10, ReLU."""
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(784, 100), nn.ReLU(),
        nn.Linear(100, 100), nn.ReLU(),
        nn.Linear(100, 100), nn.ReLU(),
        nn.Linear(100, 10),
    )


def train_epoch(model: nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]]) -> float:
    """One epoch of SGD; identical for both pipelines. Returns the mean training loss."""
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    criterion = nn.CrossEntropyLoss()
    model.train()
    total = torch.zeros(())
    steps = 0
    for xb, yb in batches:
        optimizer.zero_grad(set_to_none=True)
        loss = criterion(model(xb), yb)
        loss.backward()
        optimizer.step()
        total += loss.detach()  # no .item() per step: it would synchronise every step
        steps += 1
    return total.item() / steps


def default_mirror(arg: str | None) -> Path:
    if arg:
        return Path(arg).expanduser().resolve()
    env = os.environ.get("COURSE_DATA_MIRROR")
    if env:
        return Path(env).expanduser().resolve()
    return (Path(__file__).resolve().parents[1].parent / "shared" / "datasets").resolve()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs per pipeline (>= 3)")
    parser.add_argument("--mirror", help="folder holding MNIST/raw/*-ubyte")
    parser.add_argument("--min-ratio", type=float, default=3.5,
                        help="fail when classic/in-memory is below this (default 3.5)")
    args = parser.parse_args(argv)
    if args.repeats < 3:
        parser.error("--repeats must be at least 3 (the median of fewer runs is too noisy)")

    torch.set_num_threads(2)
    root = load_config().data_root
    ensure_mnist(root, default_mirror(args.mirror))

    # The same initial weights for every run: build once under a forked, seeded RNG
    # (the global RNG is left as it was), then load this state before each run.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        init_state = {k: v.clone() for k, v in make_model().state_dict().items()}

    def fresh_model() -> nn.Module:
        model = make_model()
        model.load_state_dict(init_state)
        return model

    classic = datasets.MNIST(root, train=True, transform=transforms.Compose(
        [transforms.ToTensor(), transforms.Normalize((DEFAULT_MEAN,), (DEFAULT_STD,))]))

    start = time.perf_counter()
    X, y = load_mnist(train=True, root=root)
    load_time = time.perf_counter() - start

    def run_classic() -> float:
        loader = DataLoader(classic, batch_size=BATCH_SIZE, shuffle=True,
                            generator=torch.Generator().manual_seed(SEED))
        return train_epoch(fresh_model(), loader)

    def run_memory() -> float:
        generator = torch.Generator().manual_seed(SEED)
        # DataLoader draws a base seed from its generator before the sampler's randperm;
        # draw it here too, so that both pipelines see exactly the same batches.
        torch.empty((), dtype=torch.int64).random_(generator=generator)
        return train_epoch(fresh_model(), iterate_batches(X, y, BATCH_SIZE, generator=generator))

    times: dict[str, list[float]] = {"a": [], "b": []}
    losses: dict[str, float] = {}
    print(f"MNIST train: {len(X)} images, batch {BATCH_SIZE}, torch threads "
          f"{torch.get_num_threads()}, {args.repeats} runs each (alternating a/b)")
    for i in range(args.repeats):
        for name, run in (("a", run_classic), ("b", run_memory)):
            start = time.perf_counter()
            losses[name] = run()
            times[name].append(time.perf_counter() - start)
            print(f"  run {i + 1} {name}: {times[name][-1]:6.2f} s  (mean loss {losses[name]:.4f})")

    med_a, med_b = statistics.median(times["a"]), statistics.median(times["b"])
    ratio = med_a / med_b
    print(f"(a) DataLoader + ToTensor/Normalize: median {med_a:.2f} s per epoch")
    print(f"(b) load_mnist + iterate_batches:   median {med_b:.2f} s per epoch "
          f"(+ one-time load_mnist {load_time:.2f} s, not in the epoch time)")
    print(f"ratio a/b: {ratio:.2f}x (required >= {args.min_ratio}x)")
    load_avg = os.getloadavg()[0]
    print(f"load average (1 min) now {load_avg:.2f} on {os.cpu_count()} CPUs"
          + (": other jobs are competing for the CPU, figures are unreliable"
             if load_avg > (os.cpu_count() or 1) + 0.5 else ""))
    if abs(losses["a"] - losses["b"]) > 1e-4:
        print(f"note: the mean losses differ ({losses['a']:.6f} vs {losses['b']:.6f}): the "
              f"batch orders no longer coincide (DataLoader's use of its generator changed?); "
              f"the timing comparison still holds.", file=sys.stderr)
    if ratio < args.min_ratio:
        print(f"FAIL: the in-memory pipeline is only {ratio:.2f}x faster than the DataLoader; "
              f"expected >= {args.min_ratio}x. If the machine was busy, rerun.", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
