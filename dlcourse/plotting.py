"""The lab's figures. Each function draws one figure and returns it (the notebook shows it).

Titles and labels are English so that they render with matplotlib's default font on every
machine; the notebook's prose explains them in Chinese.
"""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure

from dlcourse.experiments import DeathResult, RegressionRun, VanishingResult
from dlcourse.training import History


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


def plot_derivatives(x: torch.Tensor, derivatives: Mapping[str, torch.Tensor]) -> Figure:
    """All derivatives on one axes, so their ranges compare at a glance (sigmoid's never exceeds 1/4)."""
    fig, ax = plt.subplots(figsize=(7, 4))
    xs = x.detach().cpu()
    for name, values in derivatives.items():
        ax.plot(xs, values.detach().cpu(), label=f"{name}'(x)")
    ax.axhline(0.25, color="grey", ls=":", lw=1)
    ax.text(xs[0], 0.27, "1/4", color="grey")
    ax.set(title="The three derivatives together", xlabel="x", ylabel="f'(x)")
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
    ax_layers.set(title="Mean |weight grad| per Linear layer (avg over steps)", ylabel="mean |grad| (log)")
    ax_steps.set(title="input_layer: mean |weight grad| per step", xlabel="step", ylabel="mean |grad| (log)")
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
    """Dead units per hidden layer (h1, h2, ...) through training, one panel per activation, and
    the share of flat (training image, unit) pairs after training (ReLU: output 0; tanh: saturated)."""
    panels = len(result.fractions) + bool(result.flat)
    fig, axes = plt.subplots(1, panels, figsize=(5.5 * panels, 4), squeeze=False)
    for ax, (act, fractions) in zip(axes[0], result.fractions.items()):
        per_layer = torch.tensor(fractions).T * 100
        for name, curve in zip(result.layer_names, per_layer):
            ax.plot(result.steps[act], curve, marker=".", label=name)
        ax.set(title=f"{act}: units silent on every training image", xlabel="training step",
               ylabel="dead units (%)", ylim=(-2, 102))
        ax.grid(True, alpha=0.3)
        ax.legend()
    if result.flat:
        ax = axes[0][-1]
        width = 0.8 / len(result.flat)
        for i, (act, shares) in enumerate(result.flat.items()):
            ax.bar([k + i * width for k in range(len(shares))], [100 * s for s in shares], width, label=act)
        ax.set_xticks([k + width * (len(result.flat) - 1) / 2 for k in range(result.num_layers)], result.layer_names)
        ax.set(title="After training: flat activations (slope < 1%)", ylabel="(training image, unit) pairs (%)",
               ylim=(0, 100))
        ax.grid(True, alpha=0.3, axis="y")
        ax.legend()
    fig.tight_layout()
    return fig


def plot_weight_decay(runs: list[RegressionRun], true_w: float | None = None) -> Figure:
    """Top row: train/test loss per epoch (log scale) of each run. Bottom row: the final ||w|| of
    each run, and the learned weights w_i of each run next to the true value `true_w`."""
    cols = max(len(runs), 2)
    fig, axes = plt.subplots(2, cols, figsize=(5 * cols, 8), squeeze=False)
    for ax, run in zip(axes[0], runs):
        epochs = range(1, len(run.train_loss) + 1)
        ax.semilogy(epochs, run.train_loss, label="train")
        ax.semilogy(epochs, run.test_loss, label="test")
        ax.set(title=run.label, xlabel="epoch", ylabel="MSE loss (log)")
        ax.grid(True, alpha=0.3)
        ax.legend()
    for ax in axes[0][len(runs):]:
        ax.set_visible(False)
    ax_norm, ax_w = axes[1][0], axes[1][1]
    ax_norm.bar(range(len(runs)), [run.weight_norm for run in runs])
    ax_norm.set_xticks(range(len(runs)), [run.label for run in runs], rotation=15, ha="right")
    ax_norm.set(title="‖w‖ after training", ylabel="L2 norm of w")
    for run in runs:
        ax_w.plot(run.weights.cpu(), ".", ms=4, alpha=0.7, label=run.label)
    if true_w is not None:
        ax_w.axhline(true_w, color="black", lw=1.5, label=f"true w_i = {true_w:g}")
    ax_w.set(title="Learned weights w_i", xlabel="i", ylabel="w_i")
    ax_w.legend(fontsize=8)
    for ax in (ax_norm, ax_w):
        ax.grid(True, alpha=0.3)
    for ax in axes[1][2:]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig


def plot_lambda_sweep(runs: list[RegressionRun]) -> Figure:
    """Final train and test loss, and ||w||, against lambda (runs ordered by lambda)."""
    fig, (ax_loss, ax_norm) = plt.subplots(1, 2, figsize=(12, 4))
    lambdas = [run.lambd for run in runs]
    ax_loss.plot(lambdas, [run.train_loss[-1] for run in runs], marker="o", label="train")
    ax_loss.plot(lambdas, [run.test_loss[-1] for run in runs], marker="o", label="test")
    ax_loss.set(title="Loss after training", xlabel="λ", ylabel="MSE loss (log)", yscale="log")
    ax_norm.plot(lambdas, [run.weight_norm for run in runs], marker="o")
    ax_norm.set(title="‖w‖ after training", xlabel="λ", ylabel="L2 norm of w")
    for ax in (ax_loss, ax_norm):
        ax.set_xscale("symlog", linthresh=min((l for l in lambdas if l > 0), default=1.0))
        ax.grid(True, alpha=0.3)
    ax_loss.legend()
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
