"""coursekit.lab.experiments: each measurement means what the lab says it means."""

from __future__ import annotations

import math

import pytest

import torch
from torch import nn

from coursekit.lab import experiments as E
from coursekit.lab.data import load_mnist

SETTINGS_WD = {"num_epochs": 100, "batch_size": 5, "lr": 0.003, "lambd": 3.0}


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


def test_dead_fraction_counts_units_silent_on_every_probe_example():
    net = Network(6, 2, "relu", num_layers=1)
    with torch.no_grad():
        net.input_layer.bias[:3] = -1e6   # three units can never fire
        net.input_layer.bias[3:] = 1e6    # the others always do (a random unit may be silent on 50 examples)
        net.layers[0].weight.zero_()
        net.layers[0].bias[:] = 1.0       # no unit of the next layer is ever 0
    fractions = E.dead_fractions(net, torch.randn(50, 6))
    assert fractions == pytest.approx([0.03, 0.0])


def test_gradient_statistics_follow_forward_order_whatever_the_registration_order():
    net = Network(784, 10, "relu", num_layers=2, hidden_first=True)
    assert [name for name, _ in E.forward_linears(net)] == ["input", "hidden1", "hidden2", "output"]
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
    data = E.synthetic_regression(seed=0)
    scratch = E.train_regression(data, SETTINGS_WD, lambd=3.0, seed=0, penalty=lambda w: (w ** 2).sum() / 2)
    concise = E.train_regression(data, SETTINGS_WD, lambd=3.0, seed=0)
    plain = E.train_regression(data, SETTINGS_WD, lambd=0.0, seed=0, penalty=lambda w: (w ** 2).sum() / 2)
    assert math.isclose(scratch.weight_norm, concise.weight_norm, rel_tol=1e-4)
    assert scratch.weight_norm < 0.5 * plain.weight_norm
    assert scratch.gap < plain.gap
    assert len(scratch.train_loss) == 100


def test_vanishing_and_death_on_real_mnist(data_root):
    train = load_mnist(train=True, root=data_root)
    vanishing = E.run_gradient_vanishing(
        Network, train, {"num_layers": 6, "num_hiddens": 100, "num_train": 512, "num_epochs": 1, "batch_size": 64, "lr": 0.01},
        seed=0, device=torch.device("cpu"))
    assert vanishing.layer_names[0] == "input" and len(vanishing.layer_names) == 8
    assert vanishing.grad_means["relu"].shape == (8, 8)  # 8 steps x 8 weight matrices
    assert vanishing.first_layer_mean("sigmoid") * 100 < vanishing.first_layer_mean("relu")
    death = E.run_relu_death(
        Network, train, {"num_layers": 2, "num_hiddens": 100, "num_train": 2048, "num_epochs": 1, "batch_size": 64, "lr": 0.6,
                         "num_probe": 512}, seed=0, device=torch.device("cpu"))
    assert death.steps["relu"][0] == 0 and death.steps["relu"][-1] == 32
    assert death.final_dead_units("tanh") == 0 and death.final_dead_units("relu") >= 3


def test_dropout_runs_share_initial_weights_and_batch_order(data_root):
    train, test = load_mnist(True, data_root), load_mnist(False, data_root)
    settings = {"num_train": 64, "num_test": 64, "num_epochs": 2, "batch_size": 32, "lr": 0.1, "p": 0.5,
                "num_evals": 0}

    def make(p):
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 32), nn.ReLU(), nn.Dropout(p), nn.Linear(32, 10))

    runs = E.run_dropout(make, train, test, settings, seed=0, device=torch.device("cpu"), rates=(0.0, 0.0))
    assert list(runs) == [0.0]  # the same rate twice is one run
    twice = E.run_dropout(make, train, test, settings, seed=0, device=torch.device("cpu"), rates=(0.0,))
    assert runs[0.0] == twice[0.0]
    assert runs[0.0].epochs == [1, 2]
