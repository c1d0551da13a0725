"""The numbers the notebook's text quotes, measured: each claim names the words the student reads
(which must be in the source notebook) and checks them against a run at the profile it names.

The runs are the course's own experiments with the tests' reference network, at the ``cpu`` profile
with its pinned thread count and seeds 0-4 (the text says "cpu 规模种子 0" or "种子 0–4"), and at
``grading`` for the graded death check. A change of a setting that breaks a claim fails here; a
change of the text that drops a claim's figure fails too.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
import torch

from coursekit.config import load_config
from dlcourse import experiments as E
from dlcourse.data import load_mnist
from dlcourse.lab2 import PARTS
from dlcourse.training import flatten
from tests.lab.test_experiments import Network

ROOT = Path(__file__).resolve().parents[2]

TEXT = "\n".join(cell.source for cell in nbformat.read(ROOT / "source" / "lab2" / "lab2.ipynb", as_version=4).cells)
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def cpu_profile():
    """The cpu profile's settings, with torch on its pinned thread count for the module."""
    profile = load_config(ROOT / "course.toml").profiles["cpu"]
    assert profile.threads, "the cpu profile pins its thread count (its numbers depend on it)"
    before = torch.get_num_threads()
    torch.set_num_threads(profile.threads)
    yield profile
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def train(data_root):
    return load_mnist(train=True, root=data_root)


class Kept(Network):
    """The reference network, kept after the run so its weights can be read."""

    last: dict[str, Kept] = {}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        Kept.last[args[2]] = self


def quoted(*fragments: str) -> None:
    for fragment in fragments:
        assert fragment in TEXT, f"the notebook no longer says {fragment!r}: update the claim and its check together"


@pytest.fixture(scope="module")
def vanishing(cpu_profile, train):
    """The vanishing experiment at the cpu profile, by seed and num_layers, each run once."""
    runs: dict[tuple[int, int], E.VanishingResult] = {}

    def run(seed: int, layers: int = 6) -> E.VanishingResult:
        if (seed, layers) not in runs:
            runs[seed, layers] = E.run_gradient_vanishing(Network, train, {**cpu_profile.vanishing, "num_layers": layers},
                                                          seed=seed, device=CPU)
        return runs[seed, layers]
    return run


def test_gradient_ratio_is_about_2000_with_7_activations_and_about_20_with_3(vanishing):
    quoted("约是 **2000 倍**（`cpu` 规模种子 0–4：2,100–2,800 倍）", "约是 sigmoid 网络的 20 倍\n（`cpu` 规模种子 0–4：16–19 倍）")
    for seed in range(5):
        assert 2100 <= vanishing(seed).ratio("relu") <= 2800
        assert 16 <= vanishing(seed, 2).ratio("relu") <= 19


def test_the_sigmoid_network_erases_its_input_on_the_forward_pass(vanishing):
    quoted("各单元在图像间的标准差平均约 $2\\times10^{-4}$，ReLU 网络约 0.3", "sigmoid 网络把**全部**图像判成同一类（训练准确率约 11%",
           "训练准确率 ReLU 90.7%、tanh 89.6%，两者相当")
    run = vanishing(0)
    assert 1e-4 <= run.spread["sigmoid"] <= 3e-4 and 0.25 <= run.spread["relu"] <= 0.4
    assert run.top_class["sigmoid"] == 1.0 and run.top_class["relu"] < 0.2 and run.top_class["tanh"] < 0.2
    assert 0.10 <= run.train_acc["sigmoid"][-1] <= 0.12
    assert round(100 * run.train_acc["relu"][-1], 1) == pytest.approx(90.7, abs=0.3)
    assert round(100 * run.train_acc["tanh"][-1], 1) == pytest.approx(89.6, abs=0.3)
    # its output layer's gradient is as large as ReLU's: it is not "training only its last layers"
    assert run.layer_means("sigmoid")[-1] > 0.3 * run.layer_means("relu")[-1]


def test_dead_h1_units_stay_dead_and_deeper_ones_come_back(cpu_profile, train):
    quoted("结束时只剩 18%，有 52 个单元死过又活了过来", "h1 的曲线只升不降")
    death = E.run_relu_death(Kept, train, cpu_profile.relu_death, seed=0, device=CPU)
    fractions = torch.tensor(death.fractions["relu"])
    assert death.revived["relu"][0] == 0 and bool((fractions[1:, 0] >= fractions[:-1, 0]).all())
    assert fractions[:, 2].max() >= 0.45 and round(100 * death.final("relu")[2]) == 18
    assert death.revived["relu"][2] == 52
    # through the weights: the dead units' bias is hardly more negative, and w.x <= 0 without it
    quoted("h1 的 17 个死亡单元平均偏置 −0.05，活单元 −0.03；把偏置改成 0，其中 16 个", "背景像素是 −0.42")
    weight, bias = (t.detach() for t in (Kept.last["relu"].input_layer.weight, Kept.last["relu"].input_layer.bias))
    X = flatten(train[0][: cpu_profile.relu_death["num_train"]])
    dead = (death.train_outputs["relu"][0] == 0).all(dim=0)
    assert int(dead.sum()) == 17 == death.killed["relu"][0]
    assert round(float(bias[dead].mean()), 2) == -0.05 and round(float(bias[~dead].mean()), 2) == -0.03
    assert int(((X @ weight.T)[:, dead] <= 0).all(dim=0).sum()) == 16
    assert round(float(train[0].min()), 2) == -0.42


def test_the_death_check_needs_the_large_learning_rate(train):
    """The graded criterion at the grading profile: lr 0.6 kills h1 units, lr 0.01 none (seeds 0-2 here;
    benchmarks/experiment_robustness.py runs 20 through the judge)."""
    quoted("用小学习率（如 0.01）训练时一个也没有")
    grading = load_config(ROOT / "course.toml").profiles["grading"]
    settings, before = grading.relu_death, torch.get_num_threads()
    torch.set_num_threads(grading.threads)  # as the grader runs it
    try:
        for seed in range(3):
            large = E.run_relu_death(Network, train, settings, seed=seed, device=CPU, activations=("relu",))
            small = E.run_relu_death(Network, train, {**settings, "lr": 0.01}, seed=seed, device=CPU,
                                     activations=("relu",))
            least = PARTS["test_relu_death"].settings.min_killed
            assert large.killed["relu"][0] >= least > small.killed["relu"][0] == 0
    finally:
        torch.set_num_threads(before)


def test_weight_decay_figures_of_the_model_answer(cpu_profile):
    """Q4's model answer and the section's text (the experiment is the same at every profile; seed 0)."""
    quoted("测试损失却很高（约 0.09），‖w‖ 约 0.33", "测试损失降到约 0.03", "‖w‖ 约 0.2", "‖w‖ 缩小到约 0.1",
           "测试损失降到约 0.02", "$0.58\\sqrt{50/200} \\approx 0.3$")
    wd = cpu_profile.weight_decay
    data = E.synthetic_regression(d=wd["num_inputs"], n_train=wd["num_train"], n_test=wd["num_test"], noise=wd["noise"],
                                  seed=0)
    runs = {(run.init, run.lambd > 0): run for run in
            E.run_weight_decay(data, wd, penalty=lambda w: (w ** 2).sum() / 2, seed=0).values()}
    default, plain, penalised = runs[("default", False)], runs[("zero", False)], runs[("zero", True)]
    assert round(default.test_loss[-1], 2) == 0.09 and round(default.weight_norm, 2) == 0.33
    assert round(plain.test_loss[-1], 2) == 0.03 and round(plain.weight_norm, 1) == 0.2
    assert round(penalised.weight_norm, 1) == 0.1 and round(penalised.test_loss[-1], 2) == 0.02
    start = E.train_regression(data, {**wd, "num_epochs": 0}, lambd=0.0, seed=0).weights
    unseen = torch.linalg.svd(data.X_train, full_matrices=True)[2][wd["num_train"]:]
    assert round(float(start.norm()), 2) == 0.58 and round(float((unseen @ start).norm()), 1) == 0.3


def test_the_graded_cells_state_the_settings_their_judges_use():
    """Each experiment cell's docstring states its pass criterion: the number is its part's setting, with
    course.toml's overrides (coursekit.partkit.settings)."""
    from coursekit.partkit.settings import from_config
    from dlcourse.lab2 import ASSIGNMENT
    parts = from_config(ASSIGNMENT, load_config(ROOT / "course.toml")).by_id
    quoted(f"至少是 sigmoid 网络的 {parts['test_gradient_vanishing'].settings.ratio:g} 倍",
           f"至少杀死 {parts['test_relu_death'].settings.min_killed} 个 h1 单元",
           f"测试损失不超过 λ = 0 时的 {parts['test_weight_decay'].settings.test_gain:g} 倍")
