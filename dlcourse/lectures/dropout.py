"""The dropout lecture (暂退法): dropout from scratch, the concise version, the rescaling check, MC dropout, the p sweep."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from matplotlib.figure import Figure
from torch import Tensor, nn

from dlcourse.training import (
    History,
    flatten,
    generator,
    init_parameters,
    train_classifier,
)

from dlcourse.lectures.common import Tensors, device_generator



# =========================================================================================
# 1. Dropout
# =========================================================================================

def dropout_layer(X: Tensor, p: float, generator: torch.Generator | None = None,
                  rescale: bool = True) -> Tensor:
    """Inverted dropout of ``X``: zero each element with probability ``p``.

    Every element is kept independently with probability ``1 - p``; kept elements are
    divided by ``1 - p`` (``rescale=True``) so that ``E[dropout(X)] = X``. With
    ``rescale=False`` the kept elements are left as they are (the mistake the lecture
    demonstrates: the mean then shrinks to ``(1 - p) X``). The mask is drawn on ``X``'s
    device with ``X``'s dtype from ``generator`` (a generator on the same device, or None for
    the global RNG). ``X`` itself is never modified.

    Lab 2 grades a ``dropout_layer(X, dropout)`` that each student writes without this one (the
    lecture says so before showing it): read this version to compare once yours passes the lab's checks.

    Raises:
        ValueError: ``p`` is not in [0, 1].
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability must be in [0, 1], got {p}")
    if p == 1.0:
        return torch.zeros_like(X)
    if p == 0.0:
        return X.clone()
    keep = torch.rand(X.shape, generator=generator, device=X.device) >= p
    kept = X * keep.to(X.dtype)
    return kept / (1.0 - p) if rescale else kept


class Dropout(nn.Module):
    """A from-scratch dropout layer: active in ``train()`` mode, the identity in ``eval()``.

    Masks come from ``generator`` when one is given (reproducible), else from the global RNG.
    """

    def __init__(self, p: float, generator: torch.Generator | None = None,
                 rescale: bool = True) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability must be in [0, 1], got {p}")
        self.p = p
        self.generator = generator
        self.rescale = rescale

    def forward(self, X: Tensor) -> Tensor:
        """Apply :func:`dropout_layer` while training; return ``X`` unchanged in eval mode."""
        if not self.training:
            return X
        return dropout_layer(X, self.p, self.generator, self.rescale)

    def extra_repr(self) -> str:
        return f"p={self.p}" + ("" if self.rescale else ", rescale=False")


class DropoutMLP(nn.Module):
    """The lecture's MLP: input -> hidden1 -> ReLU -> dropout1 -> hidden2 -> ReLU -> dropout2 -> out.

    The dropout probabilities are attributes of the model (not globals), and whether dropout
    is on is decided by ``nn.Module``'s own ``train()``/``eval()`` switch.
    """

    def __init__(self, num_inputs: int, num_outputs: int, num_hiddens1: int, num_hiddens2: int,
                 dropout1: float, dropout2: float, generator: torch.Generator | None = None,
                 rescale: bool = True) -> None:
        super().__init__()
        self.num_inputs = num_inputs
        self.lin1 = nn.Linear(num_inputs, num_hiddens1)
        self.lin2 = nn.Linear(num_hiddens1, num_hiddens2)
        self.lin3 = nn.Linear(num_hiddens2, num_outputs)
        self.relu = nn.ReLU()
        self.drop1 = Dropout(dropout1, generator, rescale)
        self.drop2 = Dropout(dropout2, generator, rescale)

    def hidden1(self, X: Tensor) -> Tensor:
        """The first hidden layer's output after dropout (what ``lin2`` receives)."""
        return self.drop1(self.relu(self.lin1(X.reshape(-1, self.num_inputs))))

    def forward(self, X: Tensor) -> Tensor:
        """Logits ``y_hat`` of shape (N, num_outputs)."""
        H2 = self.drop2(self.relu(self.lin2(self.hidden1(X))))
        return self.lin3(H2)


def concise_mlp(num_inputs: int, num_outputs: int, num_hiddens1: int, num_hiddens2: int,
                dropout1: float, dropout2: float) -> nn.Sequential:
    """The same MLP built from PyTorch layers, with ``nn.Dropout`` after each hidden ReLU."""
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(num_inputs, num_hiddens1), nn.ReLU(), nn.Dropout(dropout1),
        nn.Linear(num_hiddens1, num_hiddens2), nn.ReLU(), nn.Dropout(dropout2),
        nn.Linear(num_hiddens2, num_outputs),
    )


@dataclass
class DropoutMeans:
    """Monte Carlo means of one activation tensor ``h`` under dropout with probability ``p``.

    ``test`` is the mean of ``h`` itself (no dropout at test time); ``inverted`` and
    ``unscaled`` average the same ``num_samples`` dropout masks with and without the
    ``1/(1-p)`` rescaling. ``max_error`` is the largest elementwise ``|E[h'] - h|`` of the inverted version.
    """

    p: float
    num_samples: int
    test: float
    inverted: float
    unscaled: float
    max_error: float

    @property
    def unscaled_ratio(self) -> float:
        """Training-time mean without rescaling divided by the test-time mean (≈ 1 - p)."""
        return self.unscaled / self.test

    @property
    def inverted_ratio(self) -> float:
        """Training-time mean with inverted dropout divided by the test-time mean (≈ 1)."""
        return self.inverted / self.test


@torch.no_grad()
def dropout_means(h: Tensor, p: float, num_samples: int, gen: torch.Generator) -> DropoutMeans:
    """Average ``num_samples`` dropout masks of ``h`` with and without rescaling.

    Shows numerically that inverted dropout keeps ``E[h'] = h`` element by element, while
    dropout without rescaling makes the training-time activations ``(1 - p)`` times the
    test-time ones.
    """
    if num_samples < 1:
        raise ValueError(f"num_samples must be >= 1, got {num_samples}")
    total_inverted = torch.zeros_like(h, dtype=torch.float64)
    total_unscaled = torch.zeros_like(h, dtype=torch.float64)
    chunk = max(1, min(num_samples, 2**22 // max(1, h.numel())))  # masks drawn per call
    for start in range(0, num_samples, chunk):
        stacked = h.expand(min(chunk, num_samples - start), *h.shape)
        inverted = dropout_layer(stacked, p, gen, rescale=True)
        total_inverted += inverted.sum(dim=0, dtype=torch.float64)
        # the same masks without the 1/(1-p): kept elements back at their original value
        total_unscaled += (inverted * (1.0 - p)).sum(dim=0, dtype=torch.float64)
    mean_inverted = total_inverted / num_samples
    mean_unscaled = total_unscaled / num_samples
    return DropoutMeans(
        p=p, num_samples=num_samples, test=h.double().mean().item(),
        inverted=mean_inverted.mean().item(), unscaled=mean_unscaled.mean().item(),
        max_error=(mean_inverted - h.double()).abs().max().item())


def plot_dropout_means(results: Sequence[DropoutMeans]) -> Figure:
    """Bars per p: test-time mean, training-time mean with and without the 1/(1-p) rescaling."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    width = 0.27
    xs = range(len(results))
    for offset, (label, getter) in enumerate((
            ("test time: h", lambda r: r.test),
            ("train, inverted: mask*h/(1-p)", lambda r: r.inverted),
            ("train, no rescaling: mask*h", lambda r: r.unscaled))):
        ax.bar([x + (offset - 1) * width for x in xs], [getter(r) for r in results], width, label=label)
    ax.set_xticks(list(xs), [f"p = {r.p:g}" for r in results])
    top = max(max(r.test, r.inverted, r.unscaled) for r in results)
    ax.set(title="Mean activation (Monte Carlo over dropout masks)", ylabel="mean of h",
           ylim=(0, 1.45 * top))  # head room for the legend
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(loc="upper center", ncols=2, fontsize="small")
    fig.tight_layout()
    return fig


def _dropout_modules(net: nn.Module) -> list[nn.Module]:
    return [m for m in net.modules() if isinstance(m, (nn.Dropout, Dropout))]


@torch.no_grad()
def mc_dropout_predict(net: nn.Module, X: Tensor, num_samples: int) -> tuple[Tensor, Tensor]:
    """MC dropout: ``num_samples`` stochastic forward passes with only the dropout layers on.

    Returns the mean and the standard deviation of the softmax probabilities over the passes
    (each of shape (N, classes)). Other layers stay in eval mode, and the network's own
    modes are restored afterwards.
    """
    if num_samples < 1:
        raise ValueError(f"num_samples must be >= 1, got {num_samples}")
    modes = {m: m.training for m in net.modules()}
    net.eval()
    for module in _dropout_modules(net):
        module.train()
    try:
        probs = torch.stack([torch.softmax(net(X), dim=1) for _ in range(num_samples)])
    finally:
        for module, mode in modes.items():
            module.training = mode
    return probs.mean(dim=0), probs.std(dim=0, correction=0)


def dropout_sweep(ps: Sequence[float], train: Tensors, test: Tensors, *, num_hiddens: int,
                  num_epochs: int, lr: float, batch_size: int, seed: int, device: torch.device,
                  num_evals: int | None = None) -> dict[float, History]:
    """Train one two-hidden-layer MLP per dropout probability ``p`` (same p after both layers).

    Every run starts from the same initial weights (seeded by ``seed``) and sees the same
    batches; only ``p`` differs. Dropout masks come from a generator seeded with ``seed``.
    Returns ``{p: History}``; ``History.loss_gap()`` measures overfitting.
    """
    X_train, y_train = train
    num_inputs = X_train[0].numel()
    results: dict[float, History] = {}
    for p in ps:
        net = DropoutMLP(num_inputs, 10, num_hiddens, num_hiddens, p, p,
                         device_generator(seed + 1, device))
        init_parameters(net, generator(seed))
        net.to(device)
        results[p] = train_classifier(net, (X_train, y_train), test, num_epochs=num_epochs, lr=lr,
                                      batch_size=batch_size, seed=seed, num_evals=num_evals,
                                      transform=flatten, desc=f"p = {p:g}")
    return results


def plot_dropout_sweep(results: Mapping[float, History], last: int = 3) -> Figure:
    """Final train/test accuracy per p, and the test−train loss gap per p."""
    import matplotlib.pyplot as plt

    ps = list(results)
    k = [min(last, len(h.epochs)) for h in results.values()]
    train_acc = [100 * sum(h.train_acc[-n:]) / n for h, n in zip(results.values(), k)]
    test_acc = [100 * sum(h.test_acc[-n:]) / n for h, n in zip(results.values(), k)]
    gaps = [h.loss_gap(last) for h in results.values()]
    fig, (ax_acc, ax_gap) = plt.subplots(1, 2, figsize=(12, 4))
    ax_acc.plot(ps, train_acc, marker="o", label="train")
    ax_acc.plot(ps, test_acc, marker="s", label="test")
    ax_acc.set(title="Accuracy after training", xlabel="dropout probability p", ylabel="accuracy (%)")
    ax_gap.plot(ps, gaps, marker="o", color="C3")
    ax_gap.set(title="Overfitting: test loss − train loss", xlabel="dropout probability p",
               ylabel="loss gap")
    for ax in (ax_acc, ax_gap):
        ax.grid(True, alpha=0.3)
    ax_acc.legend()
    fig.tight_layout()
    return fig
