"""dlcourse.lectures: the code behind the lecture notebooks, and the effects they teach."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib
import pytest
import torch
from torch import nn

from dlcourse import lectures
from coursekit.authoring.lectures import render_html
from coursekit.config import ConfigError, load_config
from dlcourse.data import balanced_subset, load_mnist
from dlcourse.training import generator

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parents[2]
COURSE_TOML = ROOT / "course.toml"


def fake_images(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = generator(seed)
    return torch.randn(n, 1, 28, 28, generator=gen), torch.randint(0, 10, (n,), generator=gen)


@pytest.fixture(scope="module")
def mnist_batch(data_root: Path) -> tuple[torch.Tensor, torch.Tensor]:
    X, y = load_mnist(train=True, root=data_root)
    return balanced_subset(X, y, 512)


# --- dropout ------------------------------------------------------------------------------

def test_dropout_layer_edge_cases_and_input_untouched():
    X = torch.arange(16, dtype=torch.float64).reshape(2, 8)
    before = X.clone()
    same = lectures.dropout_layer(X, 0.0)
    assert torch.equal(same, X) and same is not X
    assert torch.equal(lectures.dropout_layer(X, 1.0), torch.zeros_like(X))
    out = lectures.dropout_layer(X, 0.5, generator(0))
    assert out.dtype == torch.float64 and out.shape == X.shape
    assert torch.equal(X, before), "the input must not be modified"
    for p in (-0.1, 1.5):
        with pytest.raises(ValueError, match="dropout probability"):
            lectures.dropout_layer(X, p)


@pytest.mark.parametrize("p", [0.2, 0.5, 0.8])
def test_dropout_layer_keeps_one_minus_p_and_rescales(p):
    X = torch.ones(200_000)
    out = lectures.dropout_layer(X, p, generator(1))
    kept = out != 0
    # Keep rate: binomial std is sqrt(p(1-p)/n) < 0.0012; 0.01 is more than 8 std away.
    assert abs(kept.float().mean().item() - (1 - p)) < 0.01
    assert torch.allclose(out[kept], torch.full_like(out[kept], 1 / (1 - p)))
    unscaled = lectures.dropout_layer(X, p, generator(1), rescale=False)
    assert torch.equal(unscaled != 0, kept), "same generator state, same mask"
    assert torch.all(unscaled[kept] == 1)


def test_dropout_layer_is_reproducible_with_a_generator():
    X = torch.randn(64, 32, generator=generator(3))
    assert torch.equal(lectures.dropout_layer(X, 0.5, generator(7)),
                       lectures.dropout_layer(X, 0.5, generator(7)))


@pytest.mark.parametrize("p", [0.2, 0.5, 0.8])
def test_without_rescaling_the_mean_is_off_by_one_minus_p(p):
    """The lecture's claim: inverted dropout keeps E[h'] = h; without rescaling the training-time
    mean is (1 - p) times the test-time mean. With 2000 masks of 64x256 elements the Monte Carlo
    error of either ratio is below 0.002; the tolerance is 0.02."""
    h = torch.relu(torch.randn(64, 256, generator=generator(0)))
    means = lectures.dropout_means(h, p, 2000, generator(1))
    assert means.test == pytest.approx(h.mean().item())
    assert abs(means.inverted_ratio - 1) < 0.02
    assert abs(means.unscaled_ratio - (1 - p)) < 0.02
    with pytest.raises(ValueError):
        lectures.dropout_means(h, p, 0, generator(1))


def test_dropout_module_only_in_training():
    layer = lectures.Dropout(0.5, generator(0))
    X = torch.ones(10, 100)
    layer.eval()
    assert torch.equal(layer(X), X)
    layer.train()
    assert (layer(X) == 0).any()
    assert "p=0.5" in repr(layer)
    with pytest.raises(ValueError):
        lectures.Dropout(1.2)


def test_scratch_and_concise_mlps():
    X, _ = fake_images(5)
    scratch = lectures.DropoutMLP(784, 10, 32, 16, 0.2, 0.5, generator(0))
    concise = lectures.concise_mlp(784, 10, 32, 16, 0.2, 0.5)
    assert [m.p for m in concise if isinstance(m, nn.Dropout)] == [0.2, 0.5]
    for net in (scratch, concise):
        assert net(X).shape == (5, 10)
        net.eval()
        assert torch.equal(net(X), net(X)), "eval mode is deterministic"
    scratch.train()
    assert not torch.equal(scratch(X), scratch(X)), "train mode draws fresh masks"


def test_mc_dropout_predict_restores_modes_and_measures_spread():
    X, _ = fake_images(20)
    net = lectures.concise_mlp(784, 10, 64, 64, 0.5, 0.5)
    net.eval()
    mean, std = lectures.mc_dropout_predict(net, X, 25)
    assert mean.shape == std.shape == (20, 10)
    assert torch.allclose(mean.sum(dim=1), torch.ones(20))
    assert (std > 0).any()
    assert not any(m.training for m in net.modules()), "modes restored"
    no_dropout = lectures.concise_mlp(784, 10, 64, 64, 0.0, 0.0)
    _, std0 = lectures.mc_dropout_predict(no_dropout, X, 5)
    assert torch.all(std0 == 0)
    assert no_dropout.training, "modes restored"


def test_dropout_sweep_runs_every_p_from_the_same_start():
    train, test = fake_images(64, 0), fake_images(32, 1)
    runs = lectures.dropout_sweep([0.0, 0.5], train, test, num_hiddens=16, num_epochs=2, lr=0.1,
                                  batch_size=16, seed=0, device=torch.device("cpu"))
    assert list(runs) == [0.0, 0.5]
    assert all(h.epochs == [1, 2] for h in runs.values())
    again = lectures.dropout_sweep([0.5], train, test, num_hiddens=16, num_epochs=2, lr=0.1,
                                   batch_size=16, seed=0, device=torch.device("cpu"))
    assert again[0.5].test_loss == runs[0.5].test_loss, "reproducible"
    fig = lectures.plot_dropout_sweep(runs)
    assert len(fig.axes) == 2


def test_dropout_figures():
    h = torch.rand(8, 8, generator=generator(0))
    means = [lectures.dropout_means(h, p, 10, generator(0)) for p in (0.2, 0.5)]
    assert len(lectures.plot_dropout_means(means).axes) == 1


# --- numerical stability ---------------------------------------------------------------

def test_sigmoid_gradient_is_at_most_a_quarter():
    x = torch.linspace(-8, 8, 161)
    y, grad = lectures.sigmoid_with_grad(x)
    assert torch.allclose(grad, y * (1 - y), atol=1e-7)
    assert grad.max().item() == pytest.approx(0.25, abs=1e-7)
    assert x[grad.argmax()].abs().item() < 1e-6
    assert len(lectures.plot_sigmoid_grad(x, y, grad).axes) == 1


def test_product_of_random_matrices_explodes():
    norms = lectures.matrix_product_norms(100, 4, generator(0))
    assert norms.shape == (100,)
    assert norms[-1] > 1e10 and norms[-1] > 1e6 * norms[9]
    assert torch.equal(norms, lectures.matrix_product_norms(100, 4, generator(0)))
    assert len(lectures.plot_matrix_products(norms).axes) == 1


def test_identical_units_stay_identical_unless_dropout_breaks_the_tie():
    X, y = fake_images(64)
    same = lectures.symmetry_demo(X, y, num_hiddens=2, num_steps=10, lr=0.5, value=0.01)
    assert len(same.differences) == 10
    assert same.max_difference == 0.0
    broken = lectures.symmetry_demo(X, y, num_hiddens=2, num_steps=10, lr=0.5, value=0.01,
                                    dropout=0.5)
    assert broken.max_difference > 1e-4


def test_deep_mlp_and_init_schemes():
    net = lectures.deep_mlp(784, 256, 10, 10, "identity")
    linears = [m for m in net.modules() if isinstance(m, nn.Linear)]
    assert len(linears) == 10 and linears[0].in_features == 784 and linears[-1].out_features == 10
    lectures.init_network(net, "xavier", generator(0))
    w = linears[1].weight
    assert w.var().item() == pytest.approx(2 / (256 + 256), rel=0.05)
    assert torch.all(linears[1].bias == 0)
    lectures.init_network(net, "small", generator(0), small_std=0.01)
    assert w.std().item() == pytest.approx(0.01, rel=0.05)
    lectures.init_network(net, "default", generator(0))
    assert w.var().item() == pytest.approx(1 / (3 * 256), rel=0.05)
    with pytest.raises(ValueError):
        lectures.init_network(net, "zeros", generator(0))
    with pytest.raises(ValueError):
        lectures.deep_mlp(784, 256, 10, 10, "softsign")
    with pytest.raises(ValueError):
        lectures.deep_mlp(784, 256, 1, 10)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_xavier_keeps_variance_where_small_init_collapses(mnist_batch, seed):
    """The lecture's criterion, on 512 MNIST images and a 10-layer 256-wide MLP without
    activation function (Xavier's own assumption): with Xavier, max/min over the 9 hidden
    layers of both the output variance and the gradient variance is at most 2 (measured about
    1.05-1.2); with N(0, 0.01^2) the last hidden layer's output variance is below 1e-6 of the
    first's (measured about 2e-13); PyTorch's default decays too (spread > 10, measured > 100).
    With tanh, Xavier still keeps the last layer's variance above 1% of the first's while the
    small initialisation collapses."""
    X, y = mnist_batch
    results = lectures.variance_by_depth(X, y, activations=("identity", "tanh"),
                                         schemes=lectures.INIT_SCHEMES, num_layers=10,
                                         num_hiddens=256, seed=seed)
    xavier, small, default = (results[("identity", s)] for s in ("xavier", "small", "default"))
    assert len(xavier.activations) == len(xavier.gradients) == 9
    assert lectures.spread(xavier.activations) <= 2
    assert lectures.spread(xavier.gradients) <= 2
    assert small.activations[-1] / small.activations[0] < 1e-6
    assert small.gradients[0] / small.gradients[-1] < 1e-6
    assert lectures.spread(default.activations) > 10
    tanh_xavier, tanh_small = results[("tanh", "xavier")], results[("tanh", "small")]
    assert tanh_xavier.activations[-1] / tanh_xavier.activations[0] > 1e-2
    assert tanh_small.activations[-1] / tanh_small.activations[0] < 1e-6
    assert len(lectures.plot_variance_by_depth(results).axes) == 4


def test_device_generator():
    gen = lectures.device_generator(5, "cpu")
    assert gen.device == torch.device("cpu")
    assert torch.equal(torch.rand(3, generator=gen), torch.rand(3, generator=generator(5)))


def test_take_uses_the_whole_split_or_a_balanced_subset():
    y = torch.tensor([0, 0, 0, 1] * 5 + list(range(2, 10)) * 3)
    X = torch.arange(len(y))
    assert lectures.take(X, y, len(y))[0] is X and lectures.take(X, y, 10_000)[0] is X
    _, y_small = lectures.take(X, y, 10)
    assert torch.equal(torch.bincount(y_small, minlength=10), torch.ones(10, dtype=torch.long))


def test_spread_and_table():
    assert lectures.spread([1.0, 2.0, 4.0]) == 4.0
    md = lectures.table(["a", "b"], [[1, 0.123456], ["x", 1e-13]]).data
    assert md.splitlines() == ["| a | b |", "|---|---|", "| 1 | 0.123 |", "| x | 1e-13 |"]


def test_show_source_shows_the_lecture_code():
    """What the lecture shows is the code it runs: compiled on its own, it defines a dropout_layer and a
    Dropout that give the package's results, mask for mask."""
    import inspect

    code = lectures.show_source(lectures.dropout_layer, lectures.Dropout)
    assert code.data == inspect.getsource(lectures.dropout_layer) + "\n\n" + inspect.getsource(lectures.Dropout)
    shown: dict = {"torch": torch, "nn": nn, "Tensor": torch.Tensor}
    exec(compile(code.data, "<shown in the lecture>", "exec"), shown)
    assert shown["dropout_layer"] is not lectures.dropout_layer, "defined by the shown text, not imported"
    X = torch.randn(64, 32, generator=generator(1))
    for p, rescale in ((0.0, True), (0.3, True), (0.3, False), (1.0, True)):
        assert torch.equal(shown["dropout_layer"](X, p, generator(2), rescale),
                           lectures.dropout_layer(X, p, generator(2), rescale)), (p, rescale)
    with pytest.raises(ValueError):
        shown["dropout_layer"](X, 1.5)
    ours, theirs = shown["Dropout"](0.5, generator(3)), lectures.Dropout(0.5, generator(3))
    assert torch.equal(ours(X), theirs(X)) and repr(ours) == repr(theirs)
    assert ours.eval()(X) is X


# --- configuration ------------------------------------------------------------------------

def test_every_profile_has_lecture_sizes_and_they_grow_with_the_profile():
    config = load_config(COURSE_TOML)
    tables = {name: profile.lectures for name, profile in config.profiles.items()}
    for lectures_table in tables.values():
        assert set(lectures_table) == {"dropout", "sweep", "stability"}
        assert all(0 <= p < 1 for p in lectures_table["sweep"]["ps"])
    full, cpu, grading = tables["full"], tables["cpu"], tables["grading"]
    # full uses d2l's settings on the whole training set
    assert full["dropout"]["num_train"] == 60000 and full["dropout"]["num_epochs"] == 10
    assert (full["dropout"]["lr"], full["dropout"]["num_hiddens"]) == (0.5, 256)
    assert (full["dropout"]["dropout1"], full["dropout"]["dropout2"]) == (0.2, 0.5)
    assert full["stability"]["num_layers"] == 10
    for key in ("num_train", "num_epochs"):
        for part in ("dropout", "sweep"):
            assert grading[part][key] <= cpu[part][key] <= full[part][key]


@pytest.mark.parametrize("old, new, expected", [
    ("[profiles.grading.lectures.sweep]\n", "[profiles.grading.lectures.sweep]\nps = [0.0, 1.0]\n",
     r"'profiles\.grading\.lectures\.sweep\.ps' must be a dropout probability in \[0, 1\), got a number 1\.0"),
    ("[profiles.grading.lectures.stability]\n", "[profiles.grading.lectures.stability]\nnum_hiddens = \"wide\"\n",
     r"'profiles\.grading\.lectures\.stability\.num_hiddens' must be a whole number"),
])
def test_bad_lecture_keys_are_reported(tmp_path, old, new, expected):
    text = COURSE_TOML.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"test setup: {old!r} occurs {text.count(old)} times"
    path = tmp_path / "course.toml"
    path.write_text(text.replace(old, new), encoding="utf-8")
    with pytest.raises(ConfigError, match=expected):
        load_config(path)


# --- rendering -----------------------------------------------------------------------------

def test_render_html_executes_a_notebook(tmp_path, monkeypatch):
    import nbformat
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

    notebook = tmp_path / "tiny.ipynb"
    nbformat.write(new_notebook(cells=[new_markdown_cell("保留概率 $1-p$，放大 $\\dfrac{1}{1-p}$ 倍"), new_code_cell(
        "import os\nprint('profile', os.environ['COURSE_PROFILE'])")]), notebook)
    monkeypatch.setenv("COURSE_PROFILE", "grading")
    written = render_html([notebook], tmp_path / "html", profile="cpu", timeout=120)
    assert written == [tmp_path / "html" / "tiny.html"]
    page = written[0].read_text(encoding="utf-8")
    assert "profile cpu" in page
    assert page.count("<math") == 2 and "<script" not in page, "formulas as MathML, nothing loaded from a CDN"
    assert nbformat.read(notebook, as_version=4).cells[1].outputs == [], "source left unexecuted"
    assert os.environ["COURSE_PROFILE"] == "grading", "environment restored"


def test_html_without_executing(tmp_path):
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    from coursekit.authoring.lectures import main

    notebook = tmp_path / "tiny.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell("print('was' + ' run')")]), notebook)
    assert main(["html", "--no-execute", "--out", str(tmp_path / "html"), str(notebook)]) == 0
    page = (tmp_path / "html" / "tiny.html").read_text(encoding="utf-8")
    assert "print" in page and "was run" not in page, "the code is shown, not run"
