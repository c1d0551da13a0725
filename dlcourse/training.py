"""Small training utilities shared by the lab's experiments.

No global RNG is reseeded here: models are initialised from a ``torch.Generator`` with
:func:`init_parameters`, and batch order comes from a generator too.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import torch
from torch import nn

from dlcourse.data import iterate_batches
from coursekit.partkit.profiles import is_grading


def generator(seed: int) -> torch.Generator:
    """A CPU generator seeded with `seed` (one per experiment run, never the global RNG)."""
    gen = torch.Generator()
    gen.manual_seed(seed)
    return gen


@torch.no_grad()
def sgd_step(params: Iterable[torch.Tensor], lr: float) -> None:
    """One step of plain SGD, ``p ← p − lr · p.grad`` for every parameter, then its gradient cleared.

    The same arithmetic as ``torch.optim.SGD(params, lr).step()`` without momentum or weight decay
    (``p.add_(p.grad, alpha=-lr)``), so a run gives the same numbers bit for bit. Written out because it
    is all the optimizer does in these experiments, and because creating a ``torch.optim`` optimizer
    imports torch._dynamo (≈ 0.9 s in each grading kernel). The concise weight-decay version still uses
    ``torch.optim.SGD(..., weight_decay=λ)``: that argument is what it shows.
    """
    for p in params:
        if p.grad is not None:
            p.add_(p.grad, alpha=-lr)
            p.grad = None


@torch.no_grad()
def init_parameters(model: nn.Module, gen: torch.Generator, scheme: str = "default") -> nn.Module:
    """Re-initialise every Linear and Conv2d, drawing from `gen`.

    scheme "default" is PyTorch's own: Kaiming-uniform with a = sqrt(5) for weights
    (std = 1/sqrt(3 fan_in)). scheme "he" is He/Kaiming-normal for ReLU
    (std = sqrt(2 / fan_in)), which keeps the signal's size through deep ReLU layers.
    Biases are U(-1/sqrt(fan_in), 1/sqrt(fan_in)) in both. Drawing from a generator makes a
    run reproducible without touching the global RNG.
    """
    if scheme not in ("default", "he"):
        raise ValueError(f"unknown initialisation scheme {scheme!r}: use 'default' or 'he'")
    for module in model.modules():
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            weight = module.weight
            if scheme == "he":
                nn.init.kaiming_normal_(weight, nonlinearity="relu", generator=gen)
            else:
                nn.init.kaiming_uniform_(weight, a=math.sqrt(5), generator=gen)
            if module.bias is not None:
                fan_in = weight[0].numel()
                bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
                module.bias.copy_((torch.rand(module.bias.shape, generator=gen) * 2 - 1) * bound)
    return model


def progress(iterable: Iterable, total: int | None = None, desc: str = "") -> Iterable:
    """A tqdm progress bar for long loops; silent while nbgrader grades."""
    if is_grading():
        return iterable
    from tqdm.auto import tqdm
    return tqdm(iterable, total=total, desc=desc, leave=False)


def flatten(X: torch.Tensor) -> torch.Tensor:
    """(N, 1, 28, 28) images -> (N, 784) rows for a fully connected network."""
    return X.reshape(X.shape[0], -1)


@dataclass
class EpochStats:
    """Loss and accuracy of one pass over a dataset."""

    loss: float
    accuracy: float


@torch.no_grad()
def evaluate(net: nn.Module, X: torch.Tensor, y: torch.Tensor, batch_size: int = 128,
             transform: Callable[[torch.Tensor], torch.Tensor] | None = None) -> EpochStats:
    """Mean cross-entropy and accuracy of `net` in eval mode (dropout off) on (X, y)."""
    was_training = net.training
    net.eval()
    device = next(net.parameters()).device
    total_loss = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    for X_batch, y_batch in iterate_batches(X, y, batch_size, shuffle=False, device=device):
        if transform is not None:
            X_batch = transform(X_batch)
        y_hat = net(X_batch)
        total_loss += nn.functional.cross_entropy(y_hat, y_batch, reduction="sum")
        correct += (y_hat.argmax(dim=1) == y_batch).sum()
    net.train(was_training)
    n = len(y)
    return EpochStats(loss=total_loss.item() / n, accuracy=correct.item() / n)


@dataclass
class History:
    """Per-epoch curves of one classifier run (epochs are 1-based)."""

    epochs: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    test_acc: list[float] = field(default_factory=list)

    def loss_gap(self, last: int = 3) -> float:
        """Test loss minus train loss, averaged over the last `last` evaluations."""
        k = min(last, len(self.epochs))
        gaps = [t - s for t, s in zip(self.test_loss[-k:], self.train_loss[-k:])]
        return sum(gaps) / k

    def acc_gap(self, last: int = 3) -> float:
        """Train accuracy minus test accuracy, averaged over the last `last` evaluations."""
        k = min(last, len(self.epochs))
        gaps = [s - t for t, s in zip(self.test_acc[-k:], self.train_acc[-k:])]
        return sum(gaps) / k


def train_classifier(net: nn.Module, train: tuple[torch.Tensor, torch.Tensor],
                     test: tuple[torch.Tensor, torch.Tensor], *, num_epochs: int, lr: float,
                     batch_size: int, seed: int, num_evals: int | None = None,
                     transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
                     desc: str = "training") -> History:
    """Train `net` with SGD and cross-entropy; record train/test loss and accuracy.

    Training runs in train mode (dropout on); both evaluations run in eval mode (dropout
    off), so the gap between them measures overfitting, not dropout noise. With
    `num_evals`, only that many evenly spaced epochs (always including the last) are
    evaluated, which keeps the grading profile fast.
    """
    X_train, y_train = train
    X_test, y_test = test
    device = next(net.parameters()).device
    gen = generator(seed)
    loss_fn = nn.CrossEntropyLoss()
    evaluate_at = _evaluation_epochs(num_epochs, num_evals)
    history = History()
    for epoch in progress(range(1, num_epochs + 1), total=num_epochs, desc=desc):
        net.train()
        for X_batch, y_batch in iterate_batches(X_train, y_train, batch_size, generator=gen,
                                                device=device):
            if transform is not None:
                X_batch = transform(X_batch)
            loss = loss_fn(net(X_batch), y_batch)
            loss.backward()
            sgd_step(net.parameters(), lr)
        if epoch in evaluate_at:
            on_train = evaluate(net, X_train, y_train, transform=transform)
            on_test = evaluate(net, X_test, y_test, transform=transform)
            history.epochs.append(epoch)
            history.train_loss.append(on_train.loss)
            history.train_acc.append(on_train.accuracy)
            history.test_loss.append(on_test.loss)
            history.test_acc.append(on_test.accuracy)
    return history


def _evaluation_epochs(num_epochs: int, num_evals: int | None) -> set[int]:
    if not num_evals or num_evals >= num_epochs:
        return set(range(1, num_epochs + 1))
    step = num_epochs / num_evals
    return {num_epochs - round(i * step) for i in range(num_evals)}


def batches_per_epoch(n: int, batch_size: int) -> int:
    return -(-n // batch_size)


def cycle_batches(X: torch.Tensor, y: torch.Tensor, batch_size: int, num_epochs: int,
                  gen: torch.Generator, device: torch.device | None = None
                  ) -> Iterator[tuple[int, torch.Tensor, torch.Tensor]]:
    """Yield (epoch, X_batch, y_batch) for `num_epochs` shuffled passes over (X, y)."""
    for epoch in range(num_epochs):
        for X_batch, y_batch in iterate_batches(X, y, batch_size, generator=gen, device=device):
            yield epoch, X_batch, y_batch
