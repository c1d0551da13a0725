"""The numerical stability lecture (数值稳定性和模型初始化): vanishing sigmoid gradients, exploding products, symmetry, initialisation."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import torch
from matplotlib.figure import Figure
from torch import Tensor, nn

from dlcourse.training import (
    flatten,
    generator,
    init_parameters,
)

from dlcourse.lectures.dropout import dropout_layer


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
