"""Reusable code of the two lecture notebooks in ``notebooks/``.

* ``notebooks/dropout.ipynb`` (暂退法): :func:`dropout_layer`, the :class:`Dropout` module and
  :class:`DropoutMLP` written from scratch, :func:`concise_mlp` with ``nn.Dropout``, the
  rescaling check :func:`dropout_means`, :func:`mc_dropout_predict`, the p sweep
  :func:`dropout_sweep`, and their figures.
* ``notebooks/numerical_stability.ipynb`` (数值稳定性和模型初始化): :func:`sigmoid_with_grad`,
  :func:`matrix_product_norms`, :func:`symmetry_demo`, :func:`deep_mlp`, :func:`init_network`,
  :func:`layer_variances`, :func:`variance_by_depth`, and their figures.
* ``python -m coursekit.lectures html`` executes both notebooks (at the ``cpu`` profile by
  default) and writes rendered HTML copies to ``build/lectures/`` (:func:`render_html`).

The sizes (examples, epochs, widths ...) come from ``[profiles.NAME.lectures]`` in course.toml,
never from the notebooks. Randomness comes only from a ``torch.Generator`` passed in; nothing
here reseeds the global RNG. The one exception is ``nn.Dropout`` inside :func:`concise_mlp`,
which (like all of PyTorch's built-in layers) draws its masks from the global RNG that the
notebook seeds.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from matplotlib.figure import Figure
from torch import Tensor, nn

from coursekit.data import balanced_subset
from coursekit.profiles import environment
from coursekit.training import (
    History,
    flatten,
    generator,
    init_parameters,
    train_classifier,
)

__all__ = [
    "DEFAULT_NOTEBOOKS",
    "INIT_SCHEMES",
    "Dropout",
    "DropoutMLP",
    "DropoutMeans",
    "LayerVariances",
    "SymmetryResult",
    "concise_mlp",
    "deep_mlp",
    "device_generator",
    "dropout_layer",
    "dropout_means",
    "dropout_sweep",
    "init_network",
    "layer_variances",
    "main",
    "matrix_product_norms",
    "mc_dropout_predict",
    "plot_dropout_means",
    "plot_dropout_sweep",
    "plot_matrix_products",
    "plot_sigmoid_grad",
    "plot_variance_by_depth",
    "render_html",
    "show_source",
    "sigmoid_with_grad",
    "spread",
    "symmetry_demo",
    "table",
    "take",
    "variance_by_depth",
]

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
    :func:`coursekit.data.balanced_subset` (which cannot serve a whole MNIST split: its
    classes are not equally large)."""
    if n >= len(y):
        return X, y
    return balanced_subset(X, y, n)


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


# =========================================================================================
# 2. Numerical stability and initialisation
# =========================================================================================

def sigmoid_with_grad(x: Tensor) -> tuple[Tensor, Tensor]:
    """``(sigmoid(x), d sigmoid / dx)``, the derivative computed by autograd (both detached)."""
    x = x.detach().clone().requires_grad_(True)
    y = torch.sigmoid(x)
    y.backward(torch.ones_like(y))
    return y.detach(), x.grad.detach()


def plot_sigmoid_grad(x: Tensor, y: Tensor, grad: Tensor) -> Figure:
    """sigmoid(x) and its derivative (from autograd), with the derivative's bound 1/4 marked."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(x, y, label="sigmoid(x)")
    ax.plot(x, grad, label="sigmoid'(x) (autograd)")
    ax.axhline(0.25, color="gray", ls=":", label="1/4")
    ax.set(title="Sigmoid and its gradient", xlabel="x")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


def matrix_product_norms(num_matrices: int, size: int, gen: torch.Generator) -> Tensor:
    """Frobenius norm of ``M_1 M_2 ... M_k`` for k = 1..num_matrices, each ``M_i`` with
    independent N(0, 1) entries of shape (size, size). Computed in float64."""
    product = torch.eye(size, dtype=torch.float64)
    norms = []
    for _ in range(num_matrices):
        product = product @ torch.randn(size, size, generator=gen, dtype=torch.float64)
        norms.append(torch.linalg.matrix_norm(product))
    return torch.stack(norms)


def plot_matrix_products(norms: Tensor) -> Figure:
    """Norm of the running matrix product against the number of factors (log scale)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    ax.semilogy(range(1, len(norms) + 1), norms)
    ax.set(title="Exploding product of random matrices", xlabel="number of matrices multiplied",
           ylabel="Frobenius norm (log)")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig


@dataclass
class SymmetryResult:
    """Largest difference between the hidden units' incoming weights after each step."""

    differences: list[float]

    @property
    def max_difference(self) -> float:
        """Largest difference over all recorded steps."""
        return max(self.differences)


def symmetry_demo(X: Tensor, y: Tensor, *, num_hiddens: int, num_steps: int, lr: float,
                  value: float, dropout: float = 0.0, seed: int = 0) -> SymmetryResult:
    """Train ``Linear -> sigmoid -> [dropout] -> Linear`` whose weights all start at ``value``.

    Every hidden unit starts with the same incoming and outgoing weights. Each of
    ``num_steps`` full-batch SGD steps on ``(X, y)`` is followed by recording
    ``max |W1[j] - W1[0]|`` over the hidden units j: without dropout it stays 0 (the units
    get identical gradients forever); with ``dropout > 0`` the random masks break the tie.
    """
    gen = generator(seed)
    X = flatten(X)
    hidden = nn.Linear(X.shape[1], num_hiddens)
    output = nn.Linear(num_hiddens, 10)
    with torch.no_grad():
        for layer in (hidden, output):
            layer.weight.fill_(value)
            layer.bias.zero_()
    params = [*hidden.parameters(), *output.parameters()]
    optimizer = torch.optim.SGD(params, lr=lr)
    differences = []
    for _ in range(num_steps):
        H = torch.sigmoid(hidden(X))
        if dropout > 0:
            H = dropout_layer(H, dropout, gen)
        loss = nn.functional.cross_entropy(output(H), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            differences.append((hidden.weight - hidden.weight[0]).abs().max().item())
    return SymmetryResult(differences)


def deep_mlp(num_inputs: int, num_hiddens: int, num_layers: int, num_outputs: int,
             activation: str = "tanh") -> nn.Sequential:
    """``num_layers`` Linear layers (input -> hidden ... -> output) with ``activation``
    ("tanh", "relu", "sigmoid" or "identity") after every layer but the last."""
    acts = {"tanh": nn.Tanh, "relu": nn.ReLU, "sigmoid": nn.Sigmoid, "identity": nn.Identity}
    if activation not in acts:
        raise ValueError(f"unknown activation {activation!r}: use one of {', '.join(acts)}")
    if num_layers < 2:
        raise ValueError(f"num_layers must be >= 2, got {num_layers}")
    widths = [num_inputs] + [num_hiddens] * (num_layers - 1) + [num_outputs]
    layers: list[nn.Module] = [nn.Flatten()]
    for i, (n_in, n_out) in enumerate(itertools.pairwise(widths)):
        layers.append(nn.Linear(n_in, n_out))
        if i < num_layers - 1:
            layers.append(acts[activation]())
    return nn.Sequential(*layers)


#: The initialisation schemes compared in the lecture.
INIT_SCHEMES = ("default", "xavier", "small")


@torch.no_grad()
def init_network(net: nn.Module, scheme: str, gen: torch.Generator, small_std: float = 0.01) -> nn.Module:
    """Re-initialise every Linear layer of ``net`` from ``gen``.

    * "default": PyTorch's own initialisation (weight variance ``1 / (3 n_in)``);
    * "xavier": Xavier/Glorot normal, weight variance ``2 / (n_in + n_out)``, biases 0;
    * "small": N(0, small_std²) weights, biases 0 (d2l's ``std=0.01`` for shallow nets).
    """
    if scheme == "default":
        return init_parameters(net, gen)
    if scheme not in INIT_SCHEMES:
        raise ValueError(f"unknown scheme {scheme!r}: use one of {', '.join(INIT_SCHEMES)}")
    for module in net.modules():
        if isinstance(module, nn.Linear):
            if scheme == "xavier":
                nn.init.xavier_normal_(module.weight, generator=gen)
            else:
                nn.init.normal_(module.weight, std=small_std, generator=gen)
            if module.bias is not None:
                module.bias.zero_()
    return net


@dataclass
class LayerVariances:
    """Per-layer variances in one forward/backward pass (layer 1 = the first Linear).

    ``activations[i]`` is the variance of the i-th Linear layer's output (before its
    activation function); ``gradients[i]`` the variance of the loss gradient with respect
    to that same output. The last (output) layer is left out: it is 10 wide.
    """

    activations: list[float] = field(default_factory=list)
    gradients: list[float] = field(default_factory=list)


def layer_variances(net: nn.Sequential, X: Tensor, y: Tensor) -> LayerVariances:
    """Measure :class:`LayerVariances` of ``net`` on one batch with cross-entropy loss."""
    outputs: list[Tensor] = []

    def keep(_module: nn.Module, _inputs: tuple, output: Tensor) -> None:
        output.retain_grad()
        outputs.append(output)

    linears = [m for m in net.modules() if isinstance(m, nn.Linear)][:-1]
    handles = [m.register_forward_hook(keep) for m in linears]
    try:
        was_training = net.training
        net.train()
        net.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(net(X), y).backward()
        net.train(was_training)
    finally:
        for handle in handles:
            handle.remove()
    return LayerVariances(
        activations=[out.detach().var().item() for out in outputs],
        gradients=[out.grad.var().item() for out in outputs])


def variance_by_depth(X: Tensor, y: Tensor, *, activations: Sequence[str], schemes: Sequence[str],
                      num_layers: int, num_hiddens: int, seed: int, small_std: float = 0.01
                      ) -> dict[tuple[str, str], LayerVariances]:
    """:func:`layer_variances` of a fresh :func:`deep_mlp` for each (activation, scheme).

    All networks of one scheme start from the same generator seed.
    """
    results = {}
    num_inputs = X[0].numel()
    for activation in activations:
        for scheme in schemes:
            net = deep_mlp(num_inputs, num_hiddens, num_layers, 10, activation)
            init_network(net, scheme, generator(seed), small_std)
            results[(activation, scheme)] = layer_variances(net, X, y)
    return results


def spread(values: Sequence[float]) -> float:
    """``max / min`` of positive values: 1 means perfectly constant across layers."""
    return max(values) / min(values)


def plot_variance_by_depth(results: Mapping[tuple[str, str], LayerVariances]) -> Figure:
    """One row per activation: activation variance and gradient variance per layer (log)."""
    import matplotlib.pyplot as plt

    activations = list(dict.fromkeys(act for act, _ in results))
    fig, axes = plt.subplots(len(activations), 2, figsize=(12, 3.8 * len(activations)), squeeze=False)
    for row, activation in enumerate(activations):
        ax_act, ax_grad = axes[row]
        for (act, scheme), stats in results.items():
            if act != activation:
                continue
            layers = range(1, len(stats.activations) + 1)
            ax_act.semilogy(layers, stats.activations, marker="o", label=scheme)
            ax_grad.semilogy(layers, stats.gradients, marker="o", label=scheme)
        ax_act.set(title=f"{activation}: variance of layer outputs", xlabel="layer",
                   ylabel="variance (log)")
        ax_grad.set(title=f"{activation}: variance of gradients w.r.t. layer outputs",
                    xlabel="layer", ylabel="variance (log)")
        for ax in (ax_act, ax_grad):
            ax.grid(True, alpha=0.3)
            ax.legend()
    fig.tight_layout()
    return fig


# =========================================================================================
# 3. Rendering the lectures to HTML
# =========================================================================================

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
    """``python -m coursekit.lectures html [--profile cpu] [--out build/lectures] [NOTEBOOK ...]``."""
    from coursekit.config import PROFILE_NAMES, load_config

    parser = argparse.ArgumentParser(prog="python -m coursekit.lectures",
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

