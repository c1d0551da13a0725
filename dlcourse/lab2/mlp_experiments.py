"""The two experiments on the student's MLP: vanishing gradients and ReLU death.

Both run the course's own training code (:mod:`dlcourse.experiments`) on MNIST with the
student's ``Network`` and activations, in a worker that ran the activations and network TODOs; the
grader's profile sets their sizes. Their thresholds are stated in the notebook next to each cell.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from dlcourse import experiments
from dlcourse.lab2.common import fail, finite
from dlcourse.lab2.network import remote_network
from coursekit.partkit.part import Context, Experiment



@dataclass(frozen=True)
class VanishingSettings:
    """ratio: ReLU's mean input-layer gradient must be >= ratio × sigmoid's (the reference: about 1000 × and more)."""

    ratio: float = 100.0


@dataclass(frozen=True)
class DeathSettings:
    """min_killed: training at the profile's large learning rate must kill >= min_killed units of h1 (alive
    before, then 0 on every training image; the reference: >= 6 on 20 seeds, none at lr 0.1 or 0.01)."""

    min_killed: int = 3


def train_images(context: Context):
    from dlcourse.data import load_mnist
    return load_mnist(train=True, root=context.config.data_root)


@dataclass(frozen=True)
class GradientVanishing(Experiment):
    def run(self, worker, context: Context) -> Any:
        return experiments.run_gradient_vanishing(remote_network(worker), train_images(context),
                                                  context.profile.vanishing, seed=context.profile.seed,
                                                  device=torch.device("cpu"))

    def measurement(self, result: Any) -> dict[str, Any]:
        return {"first_layer": {act: result.first_layer_mean(act) for act in ("relu", "sigmoid", "tanh")},
                "hidden_layers": len(result.layer_names) - 2}

    def judge(self, data: dict[str, Any], which: str, secret: bytes | None = None) -> None:
        grads = data["first_layer"]
        finite("梯度统计", list(grads.values()))
        relu, sigmoid = grads["relu"], grads["sigmoid"]
        ratio = self.settings.ratio
        if not (relu > 0 and sigmoid > 0) or relu < ratio * sigmoid:
            fail(f"在 {data['hidden_layers']} 个隐藏层的网络里，ReLU 输入层的梯度（{relu:.2e}）应至少是 sigmoid（{sigmoid:.2e}）"
                 f"的 {ratio:g} 倍（参考实现约 1000 倍以上），实际只有 {relu / sigmoid if sigmoid else float('inf'):.1f} 倍。"
                 f"检查 Network.forward 是否在输入层和每个隐藏层之后都接了激活函数、输出层之后没有接。")

    def figure(self, result: Any) -> Any:
        from dlcourse import plotting
        return plotting.plot_vanishing(result)


@dataclass(frozen=True)
class ReluDeath(Experiment):
    def run(self, worker, context: Context) -> Any:
        return experiments.run_relu_death(remote_network(worker), train_images(context), context.profile.relu_death,
                                          seed=context.profile.seed, device=torch.device("cpu"))

    def measurement(self, result: Any) -> dict[str, Any]:
        return {"dead_units": {act: result.final_dead_units(act) for act in result.fractions},
                "killed": {act: result.killed[act] for act in result.fractions}, "lr": result.lr,
                "final_loss": {act: float(result.final_loss[act]) for act in result.fractions}}

    def judge(self, data: dict[str, Any], which: str, secret: bytes | None = None) -> None:
        dead, killed = data["dead_units"], data["killed"]
        if dead.get("tanh", 0) != 0:
            fail(f"tanh 网络不应有死亡单元，却量到 {dead['tanh']} 个。检查 MyTanh 是否只在输入为 0 时输出 0。")
        loss = data.get("final_loss", {}).get("relu", math.nan)
        if not math.isfinite(loss):  # a diverged network's units are all "silent": that is not death by a large step
            fail(f"用 lr = {data['lr']:g} 训练时 ReLU 网络发散了（最后一个小批量的损失是 {loss}），死亡单元的统计没有意义。"
                 f"检查 Network.forward 是否在输入层和每个隐藏层之后都接了激活函数、输出层之后没有接。")
        h1 = killed.get("relu", [0])[0]
        least = self.settings.min_killed
        if h1 < least:
            fail(f"用 lr = {data['lr']:g} 训练后，ReLU 网络的 h1 里只有 {h1} 个单元是被训练杀死的（训练前还活着，训练后对每一张"
                 f"训练图像都输出 0），应至少 {least} 个（参考实现在 20 个随机种子下都至少 6 个；lr = 0.1 或 0.01 时一个也没有）。"
                 f"检查 MyReLU 是否对负输入输出 0，以及 Network.forward 是否逐层使用激活函数。")

    def figure(self, result: Any) -> Any:
        from dlcourse import plotting
        return plotting.plot_relu_death(result)


PARTS = (
    GradientVanishing("test_gradient_vanishing", "network", "Network", "梯度消失实验", group="experiments_mlp",
                      uses=("test_relu", "test_sigmoid", "test_tanh", "test_network_forward"), settings=VanishingSettings()),
    ReluDeath("test_relu_death", "network", "Network", "ReLU 死亡实验", group="experiments_mlp",
              uses=("test_relu", "test_tanh", "test_network_forward"), settings=DeathSettings()),
)
