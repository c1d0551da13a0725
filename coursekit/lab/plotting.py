"""The lab's figures. Each function draws one figure and returns it (the notebook shows it).

Titles and labels are English so that they render with matplotlib's default font on every
machine; the notebook's prose explains them in Chinese.
"""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure

from coursekit.lab.experiments import DeathResult, RegressionRun, VanishingResult
from coursekit.lab.training import History


def plot_activations(x: torch.Tensor, mine: Mapping[str, tuple[torch.Tensor, torch.Tensor]],
                     reference: Mapping[str, tuple[torch.Tensor, torch.Tensor]]) -> Figure:
    """2x3 grid: top row each function, bottom row its derivative; yours vs PyTorch's.

    `mine[name]` and `reference[name]` are (values, derivatives) on the grid `x`.
    """
    fig, axes = plt.subplots(2, len(mine), figsize=(4 * len(mine), 6), squeeze=False)
    xs = x.detach().cpu()
    for col, name in enumerate(mine):
        for row, what in enumerate(("f(x)", "f'(x)")):
            ax = axes[row][col]
            ax.plot(xs, reference[name][row].detach().cpu(), lw=4, alpha=0.35, label="torch")
            ax.plot(xs, mine[name][row].detach().cpu(), lw=1.5, ls="--", label="mine")
            ax.set_title(f"{name}: {what}")
            ax.set_xlabel("x")
            ax.grid(True, alpha=0.3)
            ax.legend()
    fig.tight_layout()
    return fig


def plot_vanishing(result: VanishingResult) -> Figure:
    """Training accuracy per step (smoothed), mean |grad| per layer (log scale), and the input
    layer's mean |grad| per step, for each activation."""
    fig, (ax_acc, ax_layers, ax_steps) = plt.subplots(1, 3, figsize=(16, 4.5))
    for act, acc in result.batch_acc.items():
        ax_acc.plot(range(1, len(acc) + 1), 100 * running_mean(acc, max(1, len(acc) // 10)), label=act)
    ax_acc.set(title="Training accuracy (batch, running mean)", xlabel="step", ylabel="accuracy (%)")
    for act in result.grad_means:
        ax_layers.semilogy(result.layer_means(act), marker="o", label=act)
        ax_steps.semilogy(result.grad_means[act][:, 0], label=act)
    ax_layers.set_xticks(range(len(result.layer_names)), result.layer_names, rotation=45, ha="right")
    ax_layers.set(title="Mean |weight grad| per layer (avg over steps)", ylabel="mean |grad| (log)")
    ax_steps.set(title="Input layer: mean |weight grad| per step", xlabel="step", ylabel="mean |grad| (log)")
    for ax in (ax_acc, ax_layers, ax_steps):
        ax.grid(True, alpha=0.3)
        ax.legend()
    fig.tight_layout()
    return fig


def running_mean(values: torch.Tensor, window: int) -> torch.Tensor:
    """Mean of the last `window` values at each position (fewer at the start)."""
    sums = torch.cumsum(values.double(), 0)
    shifted = torch.cat([torch.zeros(window, dtype=sums.dtype), sums])[: len(sums)]
    counts = torch.clamp(torch.arange(1, len(values) + 1), max=window)
    return ((sums - shifted) / counts).float()


def plot_relu_death(result: DeathResult) -> Figure:
    """Fraction of dead hidden units per layer through training, one panel per activation."""
    fig, axes = plt.subplots(1, len(result.fractions), figsize=(6 * len(result.fractions), 4),
                             sharey=True, squeeze=False)
    for ax, (act, fractions) in zip(axes[0], result.fractions.items()):
        per_layer = torch.tensor(fractions).T * 100
        for layer, curve in enumerate(per_layer):
            ax.plot(result.steps[act], curve, marker=".", label=f"hidden layer {layer + 1}")
        ax.set(title=f"{act}: units that output 0 on every probe image", xlabel="training step",
               ylabel="dead units (%)", ylim=(-2, 102))
        ax.grid(True, alpha=0.3)
        ax.legend()
    fig.tight_layout()
    return fig


def plot_weight_decay(runs: list[RegressionRun]) -> Figure:
    """Train/test loss per epoch (log scale) for each run, and the final weight norms."""
    fig, axes = plt.subplots(1, len(runs) + 1, figsize=(5 * (len(runs) + 1), 4))
    for ax, run in zip(axes, runs):
        epochs = range(1, len(run.train_loss) + 1)
        ax.semilogy(epochs, run.train_loss, label="train")
        ax.semilogy(epochs, run.test_loss, label="test")
        ax.set(title=run.label, xlabel="epoch", ylabel="MSE loss (log)")
        ax.grid(True, alpha=0.3)
        ax.legend()
    axes[-1].bar([run.label for run in runs], [run.weight_norm for run in runs])
    axes[-1].set(title="‖w‖ after training", ylabel="L2 norm of w")
    fig.tight_layout()
    return fig


def plot_dropout(histories: Mapping[str, History]) -> Figure:
    """Train/test accuracy curves per run, and the test-train loss gap per run."""
    fig, (ax_acc, ax_gap) = plt.subplots(1, 2, figsize=(13, 4.5))
    for label, h in histories.items():
        line, = ax_acc.plot(h.epochs, [100 * a for a in h.train_acc], label=f"{label} train")
        ax_acc.plot(h.epochs, [100 * a for a in h.test_acc], ls="--", color=line.get_color(),
                    label=f"{label} test")
        ax_gap.plot(h.epochs, [t - s for t, s in zip(h.test_loss, h.train_loss)], marker="o",
                    color=line.get_color(), label=label)
    ax_acc.set(title="Accuracy (solid: train, dashed: test)", xlabel="epoch", ylabel="accuracy (%)")
    ax_gap.set(title="Overfitting: test loss − train loss", xlabel="epoch", ylabel="loss gap")
    for ax in (ax_acc, ax_gap):
        ax.grid(True, alpha=0.3)
        ax.legend()
    fig.tight_layout()
    return fig
