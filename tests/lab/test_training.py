"""dlcourse.training: reproducible initialisation without the global RNG, evaluation, curves."""

from __future__ import annotations

import torch
from torch import nn

from dlcourse.training import (History, _evaluation_epochs, evaluate, generator, init_parameters, sgd_step,
                                    train_classifier)


def small_net() -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(4, 8), nn.ReLU(), nn.Dropout(0.5), nn.Linear(8, 3))


def flat_params(net: nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in net.parameters()])


def test_init_is_reproducible_and_leaves_the_global_rng_alone():
    state = torch.random.get_rng_state()
    a = init_parameters(small_net(), generator(3))
    torch.random.set_rng_state(state)
    b = init_parameters(small_net(), generator(3))
    assert torch.equal(flat_params(a), flat_params(b))
    assert not torch.equal(flat_params(a), flat_params(init_parameters(small_net(), generator(4))))
    before = torch.random.get_rng_state()
    init_parameters(a, generator(5))
    assert torch.equal(before, torch.random.get_rng_state())


def test_init_follows_pytorchs_default_bounds():
    linear = init_parameters(nn.Linear(100, 50), generator(0))
    bound = 1 / 100 ** 0.5
    assert linear.weight.abs().max() <= bound and linear.bias.abs().max() <= bound
    assert linear.weight.abs().max() > 0.9 * bound  # uniform over the whole range, not a narrower one


def test_evaluation_epochs_always_include_the_last():
    assert _evaluation_epochs(40, 5) == {40, 32, 24, 16, 8}
    assert _evaluation_epochs(3, None) == {1, 2, 3}
    assert _evaluation_epochs(3, 10) == {1, 2, 3}


def test_evaluate_uses_eval_mode_and_restores_the_mode():
    net = init_parameters(small_net(), generator(0))
    X, y = torch.randn(32, 1, 2, 2), torch.randint(0, 3, (32,))
    net.train()
    first, second = evaluate(net, X, y), evaluate(net, X, y)
    assert first == second, "dropout is off while evaluating, so two evaluations agree"
    assert net.training
    assert 0 <= first.accuracy <= 1 and first.loss > 0


def test_train_classifier_is_deterministic_and_learns():
    gen = generator(1)
    X = torch.randn(64, 1, 2, 2, generator=gen)
    y = (X.reshape(64, -1).sum(1) > 0).long()
    runs = []
    for _ in range(2):
        torch.manual_seed(0)  # nn.Dropout draws from the global RNG; the caller fixes it
        net = init_parameters(small_net(), generator(0))
        runs.append(train_classifier(net, (X, y), (X, y), num_epochs=30, lr=0.5, batch_size=16, seed=2, num_evals=3))
    assert runs[0] == runs[1]
    assert runs[0].epochs == [10, 20, 30]
    assert runs[0].train_acc[-1] > 0.8


def test_history_gaps_average_the_last_evaluations():
    h = History(epochs=[1, 2, 3], train_loss=[1.0, 0.5, 0.1], test_loss=[1.0, 0.9, 0.7],
                train_acc=[0.5, 0.9, 1.0], test_acc=[0.5, 0.7, 0.8])
    assert abs(h.loss_gap(2) - ((0.9 - 0.5) + (0.7 - 0.1)) / 2) < 1e-12
    assert abs(h.acc_gap(1) - 0.2) < 1e-12


def test_he_init_has_the_relu_scale_and_unknown_schemes_are_refused():
    import pytest

    linear = init_parameters(nn.Linear(400, 300), generator(0), "he")
    assert abs(linear.weight.std().item() - (2 / 400) ** 0.5) < 0.003
    default = init_parameters(nn.Linear(400, 300), generator(0))
    assert abs(default.weight.std().item() - (1 / (3 * 400)) ** 0.5) < 0.002
    with pytest.raises(ValueError, match="unknown initialisation scheme 'xavier'"):
        init_parameters(linear, generator(0), "xavier")


def test_sgd_step_is_torch_optim_sgd_bit_for_bit_and_clears_the_gradients():
    def make():
        return init_parameters(nn.Sequential(nn.Linear(20, 30), nn.ReLU(), nn.Linear(30, 5)), generator(3))

    ours, theirs = make(), make()
    optimizer = torch.optim.SGD(theirs.parameters(), lr=0.37)
    X, y = torch.randn(64, 20, generator=generator(4)), torch.randint(5, (64,), generator=generator(5))
    for _ in range(25):
        nn.functional.cross_entropy(ours(X), y).backward()
        sgd_step(ours.parameters(), 0.37)
        optimizer.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(theirs(X), y).backward()
        optimizer.step()
    for a, b in zip(ours.parameters(), theirs.parameters()):
        assert torch.equal(a, b)
        assert a.grad is None
