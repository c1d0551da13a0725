"""The four experiments of Lab 2, written once and run with the student's own code.

Each ``run_*`` function takes what the student wrote (the ``Network`` class, ``l2_penalty``,
a model using ``dropout_layer``) plus the settings of the active run profile, and returns a
small dataclass of measurements that the notebook plots and the hidden tests check.
Nothing here implements the exercises.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from dlcourse.data import iterate_batches
from dlcourse.training import (
    History,
    batches_per_epoch,
    cycle_batches,
    flatten,
    generator,
    init_parameters,
    progress,
    sgd_step,
    train_classifier,
)

Tensors = tuple[torch.Tensor, torch.Tensor]


# --- 1. gradient vanishing --------------------------------------------------------------

#: Images on which the last hidden layer's spread across images is measured before training.
SPREAD_IMAGES = 512


def forward_linears(model: nn.Module) -> list[tuple[str, nn.Linear]]:
    """The Linear layers of a lab `Network` in forward order, named by their attributes:
    ``input_layer``, ``layers[0]``, ..., ``output_layer``.

    The k-th Linear's activated output is the k-th hidden layer ``hk`` (:func:`hidden_outputs`).
    Taken from the attributes, not from registration order, so that a class that creates
    its hidden layers before its input layer is still read in the order data flows.
    """
    hidden = [(f"layers[{i}]", layer) for i, layer in enumerate(model.layers)]
    return [("input_layer", model.input_layer), *hidden, ("output_layer", model.output_layer)]


def weight_gradient_means(model: nn.Module) -> torch.Tensor:
    """Mean |gradient| of every weight matrix (biases left out), in forward order."""
    zero = torch.zeros((), device=model.input_layer.weight.device)
    return torch.stack([layer.weight.grad.abs().mean() if layer.weight.grad is not None else zero
                        for _, layer in forward_linears(model)])


@dataclass
class VanishingResult:
    """Gradient statistics per activation.

    grad_means[act] has shape (steps, layers): the mean |grad| of each weight matrix at
    every training step; layer 0 is the input layer. batch_acc[act] holds the accuracy on
    each training batch (before that step's update); train_acc[act] is the running training
    accuracy of each epoch. The forward pass: spread[act] is how much the last hidden layer's
    output varies across images before training (each unit's standard deviation over the first
    SPREAD_IMAGES training images, averaged over units): near 0, every image looks the same to the
    output layer. top_class[act] is the share of the training images that the trained network
    puts in the class it predicts most often (0.1 for even predictions, 1.0 for one class for all).
    """

    layer_names: list[str]
    grad_means: dict[str, torch.Tensor]
    train_acc: dict[str, list[float]]
    batch_acc: dict[str, torch.Tensor]
    spread: dict[str, float] = field(default_factory=dict)
    top_class: dict[str, float] = field(default_factory=dict)

    def first_layer_mean(self, activation: str) -> float:
        """Mean |grad| of the input layer's weights, averaged over all steps."""
        return float(self.grad_means[activation][:, 0].mean())

    def ratio(self, activation: str, to: str = "sigmoid") -> float:
        """How many times larger the input layer's mean |grad| is for `activation` than for `to`."""
        other = self.first_layer_mean(to)
        return self.first_layer_mean(activation) / other if other > 0 else math.inf

    def layer_means(self, activation: str) -> list[float]:
        """Per-layer mean |grad|, averaged over all steps (input layer first)."""
        return self.grad_means[activation].mean(dim=0).tolist()


def run_gradient_vanishing(network_cls: Callable[..., nn.Module], train: Tensors,
                           settings: dict[str, Any], *, seed: int, device: torch.device,
                           activations: Sequence[str] = ("relu", "sigmoid", "tanh"), init: str = "he"
                           ) -> VanishingResult:
    """Train one deep MLP per activation and record each weight matrix's gradient size.

    Every network starts from the same He initialisation (`init`), the one suited to
    ReLU: with PyTorch's default initialisation a 6-hidden-layer ReLU network's signal
    shrinks layer by layer and it barely learns in a short run, which would hide the
    difference the experiment is about.
    """
    X, y = train[0][: settings["num_train"]], train[1][: settings["num_train"]]
    result = VanishingResult([], {}, {}, {})
    loss_fn = nn.CrossEntropyLoss()
    for activation in activations:
        model = network_cls(784, 10, activation, settings["num_layers"], settings["num_hiddens"])
        init_parameters(model, generator(seed), init).to(device)
        result.layer_names = [name for name, _ in forward_linears(model)]
        last_hidden = hidden_outputs(model, flatten(X[:SPREAD_IMAGES]).to(device))[-1]
        result.spread[activation] = float(last_hidden.std(dim=0).mean())
        steps, correct, accuracies = [], {}, []
        num_epochs = settings["num_epochs"]
        total = num_epochs * batches_per_epoch(len(y), settings["batch_size"])
        batches = cycle_batches(X, y, settings["batch_size"], num_epochs, generator(seed + 1), device)
        for epoch, X_batch, y_batch in progress(batches, total=total, desc=f"vanishing/{activation}"):
            y_hat = model(flatten(X_batch))
            loss = loss_fn(y_hat, y_batch)
            loss.backward()
            steps.append(weight_gradient_means(model).detach())
            sgd_step(model.parameters(), settings["lr"])
            hits = (y_hat.argmax(1) == y_batch).sum()
            correct[epoch] = correct.get(epoch, 0) + hits
            accuracies.append(hits / len(y_batch))
        result.grad_means[activation] = torch.stack(steps).cpu()
        result.train_acc[activation] = [float(correct[e]) / len(y) for e in sorted(correct)]
        result.batch_acc[activation] = torch.stack(accuracies).float().cpu()
        with torch.no_grad():
            predicted = model(flatten(X).to(device)).argmax(1).cpu()
        result.top_class[activation] = float(torch.bincount(predicted, minlength=10).max()) / len(predicted)
    return result


# --- 2. ReLU death -------------------------------------------------------------------------

@torch.no_grad()
def hidden_outputs(model: nn.Module, X: torch.Tensor) -> list[torch.Tensor]:
    """The hidden layers h1, h2, ... of a lab `Network`: each Linear's output after the activation.

    h1 = activation(input_layer(X)), h2 = activation(layers[0](h1)), ...: each layer is fed the
    previous layer's *activated* output, exactly as in the forward pass. Each has shape
    (len(X), num_hiddens).
    """
    h = model.activation(model.input_layer(X))
    outputs = [h]
    for layer in model.layers:
        h = model.activation(layer(h))
        outputs.append(h)
    return outputs


def outputs_zero(h: torch.Tensor) -> torch.Tensor:
    """Which outputs are exactly 0: the lab's "no response" (ReLU's whole negative region)."""
    return h == 0


def dead_masks(outputs: Sequence[torch.Tensor],
               silent: Callable[[torch.Tensor], torch.Tensor] = outputs_zero) -> list[torch.Tensor]:
    """Per hidden layer (``outputs``: :func:`hidden_outputs` on some images), which units give no
    response (``silent``: exactly 0) on every one of the images: one bool per unit."""
    return [silent(h).all(dim=0) for h in outputs]


def unit_shares(masks: Sequence[torch.Tensor]) -> list[float]:
    """Per hidden layer, the share (0..1) of units a mask marks (e.g. the dead ones)."""
    return [float(mask.float().mean()) for mask in masks]


#: The activation's slope at a unit, from the unit's output h, as a fraction of its largest slope:
#: ReLU 1 where h > 0 else 0; tanh 1 - h^2; sigmoid h(1 - h) / (1/4).
SLOPE_FROM_OUTPUT: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "relu": lambda h: (h > 0).to(h.dtype),
    "tanh": lambda h: 1 - h * h,
    "sigmoid": lambda h: 4 * h * (1 - h),
}
#: Below this share of its largest slope, an activation passes (almost) no gradient back.
FLAT_SLOPE = 0.01


def flat_shares(outputs: Sequence[torch.Tensor], activation: str) -> list[float]:
    """Per hidden layer, the share (0..1) of (image, unit) pairs where the activation is flat.

    Flat means a slope below FLAT_SLOPE of the activation's largest: for ReLU an output of 0, for
    tanh |h| > 0.995 (saturated). Such a unit passes no gradient back for that image. A dead ReLU
    unit is flat on every image; a saturated tanh unit is flat only on some and may recover.
    """
    slope = SLOPE_FROM_OUTPUT[activation]
    return [float((slope(h) < FLAT_SLOPE).float().mean()) for h in outputs]


@dataclass
class DeathResult:
    """Dead units through training, counted on the training images themselves.

    A unit is dead when it outputs exactly 0 on every training image: then no batch gives its
    weights a gradient. steps[act] lists the training steps at which the units were counted
    (0 = before training); fractions[act][i] holds one fraction in [0, 1] per hidden layer (h1,
    h2, ...) at steps[act][i]. killed[act][k]: units of layer k dead at the end that were alive
    before training (killed by training); revived[act][k]: units of layer k dead at some count
    but alive at the end. final_loss[act] is the last training batch's loss (nan if training
    diverged); lr the learning rate trained with. After training: train_outputs[act] holds each
    hidden layer's outputs on the training images (to count dead units with your own function);
    flat[act] the share of flat (image, unit) pairs per hidden layer (:func:`flat_shares`).
    """

    steps: dict[str, list[int]]
    fractions: dict[str, list[list[float]]]
    final_loss: dict[str, float]
    num_layers: int
    num_hiddens: int = 100
    lr: float = math.nan
    killed: dict[str, list[int]] = field(default_factory=dict)
    revived: dict[str, list[int]] = field(default_factory=dict)
    train_outputs: dict[str, list[torch.Tensor]] = field(default_factory=dict)
    flat: dict[str, list[float]] = field(default_factory=dict)

    @property
    def layer_names(self) -> list[str]:
        return [f"h{k + 1}" for k in range(self.num_layers)]

    def final(self, activation: str) -> list[float]:
        return self.fractions[activation][-1]

    def final_dead_units(self, activation: str) -> int:
        return round(sum(f * self.num_hiddens for f in self.final(activation)))


def run_relu_death(network_cls: Callable[..., nn.Module], train: Tensors, settings: dict[str, Any], *, seed: int,
                   device: torch.device, activations: Sequence[str] = ("relu", "tanh"),
                   measurements: int = 16, silent: Callable[[torch.Tensor], torch.Tensor] = outputs_zero
                   ) -> DeathResult:
    """Train with a large learning rate and watch how many hidden units stop responding.

    Units are counted on the ``num_train`` training images the network trains on: a unit dead on all
    of them gets no gradient from any batch. Such a unit of h1 stays dead for good (its input, the
    images, never changes); a dead unit of a deeper layer can come back when the layers before it
    change. Networks start from PyTorch's default initialisation (:func:`init_parameters`, scheme
    "default"). ``silent`` says which outputs count as no response (for a LeakyReLU, which never
    outputs 0, say ``h <= 0``: its negative region).
    """
    n = settings["num_train"]
    X, y = train[0][:n], train[1][:n]
    images = flatten(X).to(device)
    loss_fn = nn.CrossEntropyLoss()
    result = DeathResult({}, {}, {}, settings["num_layers"] + 1, settings["num_hiddens"], settings["lr"])
    for activation in activations:
        model = network_cls(784, 10, activation, settings["num_layers"], settings["num_hiddens"])
        init_parameters(model, generator(seed)).to(device)
        num_epochs = settings["num_epochs"]
        total = num_epochs * batches_per_epoch(len(y), settings["batch_size"])
        every = max(1, total // measurements)
        outputs = hidden_outputs(model, images)
        initial = masks = dead_masks(outputs, silent)
        ever = [mask.clone() for mask in initial]
        steps, fractions = [0], [unit_shares(initial)]
        loss = torch.tensor(math.nan)
        batches = cycle_batches(X, y, settings["batch_size"], num_epochs, generator(seed + 1), device)
        for step, (_, X_batch, y_batch) in enumerate(progress(batches, total=total, desc=f"death/{activation}"), 1):
            loss = loss_fn(model(flatten(X_batch)), y_batch)
            loss.backward()
            sgd_step(model.parameters(), settings["lr"])
            if step % every == 0 or step == total:
                outputs = hidden_outputs(model, images)
                masks = dead_masks(outputs, silent)
                for seen, mask in zip(ever, masks):
                    seen |= mask
                steps.append(step)
                fractions.append(unit_shares(masks))
        final = masks  # the last step is always counted: these are the trained network's
        outputs = [h.cpu() for h in outputs]
        result.steps[activation] = steps
        result.fractions[activation] = fractions
        result.final_loss[activation] = loss.item()
        result.killed[activation] = [int((end & ~start).sum()) for start, end in zip(initial, final)]
        result.revived[activation] = [int((seen & ~end).sum()) for seen, end in zip(ever, final)]
        result.train_outputs[activation] = outputs
        if activation in SLOPE_FROM_OUTPUT:
            result.flat[activation] = flat_shares(outputs, activation)
    return result


# --- 3. weight decay --------------------------------------------------------------------------

@dataclass
class RegressionData:
    """The lab's over-parameterised linear regression: y = 0.05 + sum(0.01 x_i) + noise."""

    X_train: torch.Tensor
    y_train: torch.Tensor
    X_test: torch.Tensor
    y_test: torch.Tensor
    true_w: torch.Tensor
    true_b: float


def synthetic_regression(d: int = 200, n_train: int = 20, n_test: int = 100, noise: float = 0.01,
                         seed: int = 0) -> RegressionData:
    """Draw features x ~ N(0, 1) and labels y = 0.05 + 0.01 * sum(x) + N(0, noise^2)."""
    gen = generator(seed)
    true_w, true_b = torch.full((d, 1), 0.01), 0.05
    X = torch.randn(n_train + n_test, d, generator=gen)
    y = X @ true_w + true_b + noise * torch.randn(n_train + n_test, 1, generator=gen)
    return RegressionData(X[:n_train], y[:n_train], X[n_train:], y[n_train:], true_w, true_b)


@dataclass
class RegressionRun:
    """Loss curves (one value per epoch), the final weights and their norm of one regression run."""

    label: str
    train_loss: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    weight_norm: float = math.nan
    weights: torch.Tensor = field(default_factory=lambda: torch.empty(0))
    init: str = "default"
    lambd: float = 0.0

    @property
    def gap(self) -> float:
        """Final test loss minus final train loss."""
        return self.test_loss[-1] - self.train_loss[-1]


def train_regression(data: RegressionData, settings: dict[str, Any], *, lambd: float, seed: int,
                     penalty: Callable[[torch.Tensor], torch.Tensor] | None = None,
                     label: str = "", init: str = "default") -> RegressionRun:
    """Fit a linear model with SGD on the squared loss.

    With `penalty` (the student's ``l2_penalty``), the loss is
    ``mse + lambd * penalty(w)`` (the from-scratch version). Without it, the optimizer's
    ``weight_decay=lambd`` is applied to the weight only, never the bias (the concise
    version). Both are the same update rule.

    init "default" starts from PyTorch's initialisation (random weights, ||w|| about 0.58 for
    d = 200); "zero" from w = 0, b = 0. Gradient descent never changes w in the directions the
    training inputs do not span, so with lambd = 0 whatever the initialisation put there stays.
    """
    if init not in ("default", "zero"):
        raise ValueError(f"unknown init {init!r}: use 'default' or 'zero'")
    d = data.X_train.shape[1]
    net = init_parameters(nn.Linear(d, 1), generator(seed))
    if init == "zero":
        with torch.no_grad():
            net.weight.zero_()
            net.bias.zero_()
    mse = nn.MSELoss()
    optimizer = None
    if penalty is None and lambd:  # the concise version: the optimizer's weight decay, on the weight only
        optimizer = torch.optim.SGD([
            {"params": [net.weight], "weight_decay": lambd},
            {"params": [net.bias]},
        ], lr=settings["lr"])
    gen = generator(seed + 1)
    run = RegressionRun(label or f"{init} init, λ={lambd:g}", init=init, lambd=lambd)
    for _ in range(settings["num_epochs"]):
        for X_batch, y_batch in iterate_batches(data.X_train, data.y_train, settings["batch_size"], generator=gen):
            loss = mse(net(X_batch), y_batch)
            if penalty is not None:
                loss = loss + lambd * penalty(net.weight)  # the from-scratch version: L2 in the loss
            loss.backward()
            if optimizer is None:
                sgd_step(net.parameters(), settings["lr"])
            else:
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
        with torch.no_grad():
            run.train_loss.append(float(mse(net(data.X_train), data.y_train)))
            run.test_loss.append(float(mse(net(data.X_test), data.y_test)))
    run.weights = net.weight.detach().flatten().clone()
    run.weight_norm = float(run.weights.norm())
    return run


def run_weight_decay(data: RegressionData, settings: dict[str, Any], *, penalty: Callable[[torch.Tensor], torch.Tensor],
                     seed: int) -> dict[str, RegressionRun]:
    """The lab's three runs: the default initialisation without a penalty; w = 0 without a penalty (the fair
    baseline: nothing left over from the initialisation); w = 0 with ``lambd * penalty(w)`` (the student's
    ``l2_penalty``, lambd from the profile). The run with the student's penalty is made first (each run
    is seeded on its own), so an unfinished ``l2_penalty`` fails at once."""
    lambd = settings["lambd"]
    penalised = train_regression(data, settings, lambd=lambd, seed=seed, init="zero", penalty=penalty,
                                 label=f"w=0 init, λ={lambd:g} (l2_penalty)")
    return {
        "default init": train_regression(data, settings, lambd=0.0, seed=seed, label="default init, λ=0"),
        "zero init": train_regression(data, settings, lambd=0.0, seed=seed, init="zero", label="w=0 init, λ=0"),
        "zero init, L2": penalised,
    }


# --- 4. dropout -------------------------------------------------------------------------------

Rates = tuple[float, float]


class DropoutCNN(nn.Module):
    """The notebook's CNN (its ``dropout_model`` cell) with the dropout function as an argument: the
    grader runs it with the student's ``dropout_layer`` answered by a worker. The same layers, in the
    same order (so :func:`init_parameters` gives the same weights), the same forward pass."""

    def __init__(self, dropout1: float = 0.0, dropout2: float = 0.0, *,
                 dropout: Callable[[torch.Tensor, float], torch.Tensor]) -> None:
        super().__init__()
        self.dropout1, self.dropout2, self.dropout = dropout1, dropout2, dropout
        self.conv1 = nn.Conv2d(1, 32, kernel_size=3)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3)
        self.fc1 = nn.Linear(64 * 5 * 5, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        X = torch.max_pool2d(torch.relu(self.conv1(X)), 2)
        X = torch.max_pool2d(torch.relu(self.conv2(X)), 2)
        X = torch.flatten(X, 1)
        if self.training:
            X = self.dropout(X, self.dropout1)
        X = torch.relu(self.fc1(X))
        if self.training:
            X = self.dropout(X, self.dropout2)
        return self.fc2(X)


def run_dropout(make_model: Callable[[float, float], nn.Module], train: Tensors, test: Tensors,
                settings: dict[str, Any], *, seed: int, device: torch.device,
                rates: Sequence[Rates] | None = None) -> dict[Rates, History]:
    """Train the same CNN once per pair of dropout rates (default: none, then the profile's).

    A pair is (dropout1, dropout2): dropout1 on the flattened convolutional features (near the
    input: lower), dropout2 on the fully connected hidden layer. `make_model(dropout1, dropout2)`
    builds the model (the notebook's CNN using the student's ``dropout_layer``, or the concise
    ``nn.Dropout`` version). Every run starts from the same initial weights and sees the batches
    in the same order. The profile's `num_evals` (0 = every epoch) says how many epochs are
    evaluated.
    """
    rates = tuple(rates) if rates is not None else ((0.0, 0.0), (settings["dropout1"], settings["dropout2"]))
    X_train, y_train = train[0][: settings["num_train"]], train[1][: settings["num_train"]]
    X_test, y_test = test[0][: settings["num_test"]], test[1][: settings["num_test"]]
    histories = {}
    for pair in rates:
        model = init_parameters(make_model(*pair), generator(seed)).to(device)
        histories[pair] = train_classifier(
            model, (X_train, y_train), (X_test, y_test), num_epochs=settings["num_epochs"],
            lr=settings["lr"], batch_size=settings["batch_size"], seed=seed + 1,
            num_evals=settings["num_evals"], desc=f"dropout {pair[0]:g}/{pair[1]:g}")
    return histories
