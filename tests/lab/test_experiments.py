"""dlcourse.experiments: each measurement means what the lab says it means."""

from __future__ import annotations

import math

import pytest

import torch
from torch import nn

from dlcourse import experiments as E
from dlcourse.data import load_mnist

SETTINGS_WD = {"num_epochs": 100, "batch_size": 15, "lr": 0.02, "lambd": 1.0}


class Network(nn.Module):
    """The lab's network, built on torch's own activations (the tests' reference)."""

    ACTS = {"relu": torch.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh}

    def __init__(self, input_dim, output_dim, activation_name, num_layers=2, num_hiddens=100, hidden_first=False):
        super().__init__()
        if hidden_first:  # the lab's original class registered its hidden layers before the input layer
            self.layers = nn.ModuleList([nn.Linear(num_hiddens, num_hiddens) for _ in range(num_layers)])
        self.input_layer = nn.Linear(input_dim, num_hiddens)
        if not hidden_first:
            self.layers = nn.ModuleList([nn.Linear(num_hiddens, num_hiddens) for _ in range(num_layers)])
        self.output_layer = nn.Linear(num_hiddens, output_dim)
        self.activation = self.ACTS[activation_name]

    def forward(self, X):
        h = self.activation(self.input_layer(X))
        for layer in self.layers:
            h = self.activation(layer(h))
        return self.output_layer(h)


def test_hidden_outputs_pass_activated_values_forward():
    net = Network(6, 2, "relu", num_layers=2)
    X = torch.randn(5, 6)
    outputs = E.hidden_outputs(net, X)
    assert len(outputs) == 3 and all((h >= 0).all() for h in outputs)
    expected = torch.relu(net.layers[1](torch.relu(net.layers[0](torch.relu(net.input_layer(X))))))
    assert torch.equal(outputs[-1], expected)


def test_dead_units_are_silent_on_every_image():
    net = Network(6, 2, "relu", num_layers=1)
    with torch.no_grad():
        net.input_layer.bias[:3] = -1e6   # three units can never fire
        net.input_layer.bias[3:] = 1e6    # the others always do (a random unit may be silent on 50 examples)
        net.layers[0].weight.zero_()
        net.layers[0].bias[:] = 1.0       # no unit of the next layer is ever 0
    masks = E.dead_masks(E.hidden_outputs(net, torch.randn(50, 6)))
    assert E.unit_shares(masks) == pytest.approx([0.03, 0.0])
    assert masks[0][:3].all() and not masks[0][3:].any()
    # what counts as silent can be chosen: a unit with small outputs only (0.25 and 0.5 here)
    h = torch.tensor([[1.0, 0.0, 0.25], [2.0, 0.0, 0.5]])
    assert [m.tolist() for m in E.dead_masks([h])] == [[False, True, False]]
    assert [m.tolist() for m in E.dead_masks([h], silent=lambda out: out <= 0.5)] == [[False, True, True]]


def test_flat_shares_are_zero_outputs_for_relu_and_saturation_for_tanh():
    relu_h = torch.tensor([[0.0, 1.0], [0.0, 0.0]])
    assert E.flat_shares([relu_h], "relu") == [0.75]
    tanh_h = torch.tensor([[0.999, -0.999, 0.5, 0.0]])
    assert E.flat_shares([tanh_h], "tanh") == [0.5]   # |h| > 0.995: slope 1 - h^2 < 1%
    assert E.flat_shares([torch.tensor([[0.5, 0.001]])], "sigmoid") == [0.5]


def test_gradient_statistics_follow_forward_order_whatever_the_registration_order():
    net = Network(784, 10, "relu", num_layers=2, hidden_first=True)
    assert [name for name, _ in E.forward_linears(net)] == ["input_layer", "layers[0]", "layers[1]", "output_layer"]
    net(torch.randn(3, 784)).sum().backward()
    means = E.weight_gradient_means(net)
    assert torch.isclose(means[0], net.input_layer.weight.grad.abs().mean())
    assert torch.isclose(means[-1], net.output_layer.weight.grad.abs().mean())


def test_synthetic_regression_follows_the_labs_formula():
    data = E.synthetic_regression(seed=1)
    assert data.X_train.shape == (20, 200) and data.X_test.shape == (100, 200)
    residual = torch.cat([data.y_train, data.y_test]) - (torch.cat([data.X_train, data.X_test]) @ data.true_w + 0.05)
    assert 0.005 < residual.std().item() < 0.015
    again = E.synthetic_regression(seed=1)
    assert torch.equal(again.X_train, data.X_train)
    assert not torch.equal(E.synthetic_regression(seed=2).X_train, data.X_train)


def test_from_scratch_penalty_and_optimizer_weight_decay_are_the_same_rule():
    data = E.synthetic_regression(n_train=150, noise=0.1, seed=0)
    scratch = E.train_regression(data, SETTINGS_WD, lambd=1.0, seed=0, init="zero", penalty=lambda w: (w ** 2).sum() / 2)
    concise = E.train_regression(data, SETTINGS_WD, lambd=1.0, seed=0, init="zero")
    assert math.isclose(scratch.weight_norm, concise.weight_norm, rel_tol=1e-4)
    assert len(scratch.train_loss) == 100 and scratch.weights.shape == (200,)
    assert (scratch.init, scratch.lambd) == ("zero", 1.0)


def test_without_penalty_the_unseen_directions_keep_their_initial_values():
    """With n < d and lambda = 0, SGD changes w only inside the span of the training inputs: the
    projection of w on the other directions is the initialisation's, exactly (up to float error)."""
    data = E.synthetic_regression(n_train=150, noise=0.1, seed=0)
    start = E.train_regression(data, {**SETTINGS_WD, "num_epochs": 0}, lambd=0.0, seed=0).weights
    trained = E.train_regression(data, SETTINGS_WD, lambd=0.0, seed=0).weights
    _, _, V = torch.linalg.svd(data.X_train, full_matrices=True)
    unseen = V[150:]                                   # an orthonormal basis of the 50 unseen directions
    assert torch.allclose(unseen @ trained, unseen @ start, atol=1e-5)
    assert (unseen @ start).norm() > 0.2               # and they are not small: about sqrt(50/200) x 0.58
    from_zero = E.train_regression(data, SETTINGS_WD, lambd=0.0, seed=0, init="zero").weights
    assert (unseen @ from_zero).norm() < 1e-5


def test_l2_lowers_the_test_loss_even_from_zero_initialisation():
    data = E.synthetic_regression(n_train=150, noise=0.1, seed=0)
    plain = E.train_regression(data, SETTINGS_WD, lambd=0.0, seed=0, init="zero")
    penalised = E.train_regression(data, SETTINGS_WD, lambd=1.0, seed=0, init="zero", penalty=lambda w: (w ** 2).sum() / 2)
    default = E.train_regression(data, SETTINGS_WD, lambd=0.0, seed=0)
    assert penalised.test_loss[-1] < 0.8 * plain.test_loss[-1] < 0.8 * default.test_loss[-1]
    assert penalised.weight_norm < plain.weight_norm
    with pytest.raises(ValueError, match="init"):
        E.train_regression(data, SETTINGS_WD, lambd=0.0, seed=0, init="ones")


def test_vanishing_and_death_on_real_mnist(data_root):
    train = load_mnist(train=True, root=data_root)
    vanishing = E.run_gradient_vanishing(
        Network, train, {"num_layers": 6, "num_hiddens": 100, "num_train": 512, "num_epochs": 1, "batch_size": 64, "lr": 0.01},
        seed=0, device=torch.device("cpu"))
    assert vanishing.layer_names[0] == "input_layer" and len(vanishing.layer_names) == 8
    assert vanishing.grad_means["relu"].shape == (8, 8)  # 8 steps x 8 weight matrices
    assert vanishing.first_layer_mean("sigmoid") * 100 < vanishing.first_layer_mean("relu")
    death = E.run_relu_death(
        Network, train, {"num_layers": 2, "num_hiddens": 100, "num_train": 2048, "num_epochs": 1, "batch_size": 16,
                         "lr": 0.6}, seed=0, device=torch.device("cpu"))
    assert death.steps["relu"][0] == 0 and death.steps["relu"][-1] == 128
    assert death.final_dead_units("tanh") == 0 and death.killed["relu"][0] >= 3
    assert death.layer_names == ["h1", "h2", "h3"]
    outputs = death.train_outputs["relu"]
    assert [h.shape for h in outputs] == [(2048, 100)] * 3          # counted on the training images
    assert [(h == 0).all(dim=0).float().mean().item() for h in outputs] == pytest.approx(death.final("relu"))
    assert death.revived["relu"][0] == 0                            # a unit of h1 dead on every training image stays dead
    assert all(k <= round(100 * f) for k, f in zip(death.killed["relu"], death.final("relu")))
    assert set(death.flat) == {"relu", "tanh"} and all(0 <= s <= 1 for s in death.flat["tanh"])


def test_dropout_runs_share_initial_weights_and_batch_order(data_root):
    train, test = load_mnist(True, data_root), load_mnist(False, data_root)
    settings = {"num_train": 64, "num_test": 64, "num_epochs": 2, "batch_size": 32, "lr": 0.1, "dropout1": 0.2,
                "dropout2": 0.5, "num_evals": 0}

    def make(p1, p2):
        return nn.Sequential(nn.Flatten(), nn.Dropout(p1), nn.Linear(784, 32), nn.ReLU(), nn.Dropout(p2), nn.Linear(32, 10))

    runs = E.run_dropout(make, train, test, settings, seed=0, device=torch.device("cpu"), rates=((0.0, 0.0), (0.0, 0.0)))
    assert list(runs) == [(0.0, 0.0)]  # the same rates twice is one run
    twice = E.run_dropout(make, train, test, settings, seed=0, device=torch.device("cpu"), rates=((0.0, 0.0),))
    assert runs[(0.0, 0.0)] == twice[(0.0, 0.0)]
    assert runs[(0.0, 0.0)].epochs == [1, 2]
    assert list(E.run_dropout(make, train, test, {**settings, "num_epochs": 1}, seed=0, device=torch.device("cpu"))) == \
        [(0.0, 0.0), (0.2, 0.5)]
