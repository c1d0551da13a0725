"""TODO ``dropout_layer``: inverted dropout — five parts (keep rate, scaling, edges, fresh masks, the
contract) and the dropout experiment on the course's CNN.

The statistical checks are Hoeffding bounds (:class:`Statistics`): a correct answer fails any of them
with probability < 1e-9 in all. Masks must come from torch's generator: the grader seeds it before each call.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any

import torch

from dlcourse import experiments
from dlcourse.lab2.common import compare, fail, finite, gen, no_builtin, output_like
from coursekit.partkit.checks import assert_unchanged, short
from coursekit.partkit.part import Asker, Context, Experiment, Part, Rule, call_seed
from coursekit.partkit.remote import raised, remote_function, returned

RULE = Rule(
    label="现成的 dropout",
    words=("dropout",),
    what="任何形式的现成 dropout（torch.dropout、nn.functional.dropout 及其变体、nn.Dropout，"
         "包括换个名字导入或调用的情形）",
    recorded=frozenset({"dropout", "dropout_", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout",
                        "alpha_dropout_", "feature_dropout", "feature_dropout_", "feature_alpha_dropout",
                        "feature_alpha_dropout_", "native_dropout"}),
)


@dataclass(frozen=True)
class Statistics:
    """The settings of a statistical check (the keep rate, the masks' independence). Each is a Hoeffding
    bound: among n independent draws the share that comes out one way is within t = √(ln(2/δ) / 2n) of
    its probability except with probability <= δ, so a correct answer fails one check with probability
    at most ``failure_probability`` (δ). With n = 32768 draws, t ≈ 0.02."""

    failure_probability: float = 1e-11

    def __post_init__(self) -> None:
        if not 0 < self.failure_probability < 1:
            raise ValueError(f"failure_probability must be in (0, 1), got {self.failure_probability}")

    def tolerance(self, draws: int) -> float:
        return math.sqrt(math.log(2 / self.failure_probability) / (2 * draws))


KEEP_HINT = "提示：每个元素独立地以 1 − dropout 的概率保留，例如掩码 torch.rand(X.shape, device=X.device) > dropout。"


def dropout_input(size: tuple[int, ...], dtype: torch.dtype, seed: int) -> torch.Tensor:
    """Values in [1, 2): an output element is 0 exactly when it was dropped."""
    return torch.rand(size, generator=gen(seed), dtype=dtype) + 1.0


@dataclass(frozen=True)
class DropoutPart(Part):
    """One of the dropout parts: ``kind`` is keep_rate, scaling, contract, fresh_masks or edges."""

    kind: str = ""

    def cases(self, which: str, secret: bytes | None = None) -> list[Any]:
        base = self.hidden_seed(secret)
        if self.kind in ("keep_rate", "scaling"):
            # Not p = 0.5 where a student can see it: there keeping with rand < p (keep and drop swapped) and
            # scaling by 1/p both give the right answer.
            rates = [(0.2, (128, 256), torch.float32), (0.7, (128, 256), torch.float32)]
            if which == "hidden":
                rates += [(0.5, (128, 256), torch.float32), (0.9, (128, 256), torch.float32),
                          (0.5, (8, 32, 32), torch.float64)]
            return [(p, dropout_input(size, dtype, 1000 * i + (7 if which == "visible" else base)))
                    for i, (p, size, dtype) in enumerate(rates)]
        if self.kind == "contract":
            shapes = [((4, 6), torch.float64)]
            if which == "hidden":
                shapes += [((3, 5, 7), torch.float32), ((9,), torch.float64)]
            return [(0.5, dropout_input(size, dtype, 50 + i + (0 if which == "visible" else base)))
                    for i, (size, dtype) in enumerate(shapes)]
        if self.kind == "fresh_masks":
            return [dropout_input((128, 256), torch.float32, 77 if which == "visible" else base)]
        return [dropout_input((3, 5), torch.float64, 5), torch.tensor(2.0)]  # edges

    def measure(self, worker: Asker, which: str, secret: bytes | None = None) -> dict[str, Any]:
        calls: set[str] = set()
        counter = iter(range(10**6))

        def call(X: torch.Tensor, p: float, seed: int | None | bool = True) -> dict[str, Any]:
            chosen = call_seed(secret, self.grade_id, next(counter)) if seed is True else seed
            answer = worker.ask("call", target=[self.definition], args=[X, p], seed=chosen, record=sorted(RULE.recorded))
            calls.update(answer["calls"])
            return answer

        result: dict[str, Any]
        if self.kind in ("keep_rate", "scaling", "contract"):
            result = {"outputs": [], "inputs_after": []}
            for p, X in self.cases(which, secret):
                answer = call(X, p)
                result["outputs"].append(returned(answer))
                result["inputs_after"].append(answer["after"][0])
        elif self.kind == "fresh_masks":
            X = self.cases(which, secret)[0]
            seed = call_seed(secret, self.grade_id, "seed")
            first = returned(call(X, 0.5, seed))
            second = returned(call(X, 0.5, None))  # the generator goes on: a fresh mask
            result = {"outputs": [first, second], "same_seed": [first, returned(call(X, 0.5, seed))],
                      "other_seed": returned(call(X, 0.5, seed + 1))}
        else:  # edges
            X, scalar = self.cases(which, secret)
            result = {"p0": returned(call(X, 0.0)), "p1": returned(call(X, 1.0)), "scalar": returned(call(scalar, 0.5)),
                      "errors": {str(bad): raised(call(X, bad)) for bad in (-0.1, 1.5)}}
        result["builtin_calls"] = sorted(calls)
        return result

    def judge(self, data: dict[str, Any], which: str, secret: bytes | None = None) -> None:
        no_builtin("dropout_layer", data["builtin_calls"], "本练习要求用 torch.rand 等随机数自己生成掩码，")
        if self.kind in ("keep_rate", "scaling", "contract"):
            for (p, X), got, after in zip(self.cases(which, secret), data["outputs"], data["inputs_after"], strict=True):
                what = f"dropout_layer(X, {p})（X 形状 {tuple(X.shape)}、{str(X.dtype).removeprefix('torch.')}）"
                out = output_like(what, got, X)
                if self.kind == "contract":
                    assert_unchanged("dropout_layer", X, after)
                    continue
                kept = out != 0
                if self.kind == "keep_rate":
                    fraction = kept.double().mean().item()
                    tolerance = self.settings.tolerance(X.numel())
                    if abs(fraction - (1 - p)) >= tolerance:
                        fail(f"{what}：保留下来的比例应接近 1 − p = {1 - p:.2f}（容差 {tolerance:.3f}），实际为 {fraction:.4f}。"
                             + KEEP_HINT)
                else:
                    compare(f"{what} 中保留下来的元素", out[kept], X[kept] / (1 - p), X[kept],
                            "保留的元素应等于 X / (1 - dropout)：忘记除以 (1 - dropout) 时期望值会变小。")
        elif self.kind == "fresh_masks":
            X = self.cases(which, secret)[0]
            first, second = (output_like("dropout_layer(X, 0.5)", got, X) != 0 for got in data["outputs"])
            if torch.equal(first, second):
                fail("两次调用 dropout_layer 得到了完全相同的掩码：每次调用都应重新生成随机掩码（不要固定随机种子或复用掩码）。")
            if (first == first[0]).all():
                fail("dropout_layer 的掩码在每一行都相同：掩码要与 X 形状相同，每个元素独立抽样，而不是只对一行抽样再广播。")
            _judge_randomness(data, X, self.settings)
        else:
            X, scalar = self.cases(which, secret)
            p0 = output_like("dropout_layer(X, 0.0)", data["p0"], X)
            if not torch.equal(p0, X):
                fail(f"dropout_layer(X, 0.0) 应原样返回 X，得到 {short(p0)}。")
            p1 = output_like("dropout_layer(X, 1.0)", data["p1"], X)
            if not torch.equal(p1, torch.zeros_like(X)):
                fail(f"dropout_layer(X, 1.0) 应返回全 0 张量，得到 {short(p1)}。")
            got = output_like("dropout_layer(tensor(2.), 0.5)", data["scalar"], scalar)
            if not got.item() >= 0:  # 0 when dropped; the scaling of what is kept has a part of its own
                fail(f"dropout_layer(tensor(2.), 0.5) 应返回 0 维张量（丢弃时为 0，保留时为放大后的正数），得到 {short(got)}。")
            for bad, what_raised in data["errors"].items():
                if what_raised != "ValueError":
                    fail(f"dropout_layer(X, {bad}) 应抛出 ValueError（dropout 必须在 [0, 1] 内），实际：{what_raised}。")


def _judge_randomness(data: dict[str, Any], X: torch.Tensor, settings: Statistics) -> None:
    """The mask comes from torch's generator, and its entries are independent across positions and calls: at
    p = 0.5, whether two independent entries agree is a fair coin (pairs of neighbours in a row, or of one
    position in two calls)."""
    same = [output_like("dropout_layer(X, 0.5)", got, X) for got in data["same_seed"]]
    if not torch.equal(same[0], same[1]):
        fail("torch.manual_seed 相同时，dropout_layer 应得到相同的掩码：掩码要用 PyTorch 的随机数发生器生成"
             "（如 torch.rand(X.shape, device=X.device)），不要用自己的随机数序列或 Python 的 random 模块。")
    other = output_like("dropout_layer(X, 0.5)", data["other_seed"], X)
    if torch.equal(same[0] != 0, other != 0):
        fail("换一个 torch.manual_seed，dropout_layer 仍得到同样的掩码：掩码没有用 PyTorch 的随机数发生器，"
             "而是每次按固定的规律生成。要用 torch.rand 之类的随机数。")
    first, second = (output_like("dropout_layer(X, 0.5)", got, X) != 0 for got in data["outputs"])
    neighbours = first[:, 1:] == first[:, :-1]
    across = first == second
    for agree, what in ((neighbours, "同一行相邻两个元素"), (across, "两次调用中同一位置")):
        share, tolerance = agree.double().mean().item(), settings.tolerance(agree.numel())
        if abs(share - 0.5) >= tolerance:
            fail(f"dropout_layer(X, 0.5) 的掩码不是独立抽样的：{what}的保留/丢弃结果相同的比例是 {share:.3f}，"
                 f"独立抽样时应接近 0.5（容差 {tolerance:.3f}）。每个元素要各自独立地随机保留，"
                 f"例如 torch.rand(X.shape, device=X.device) > dropout。")


def _fingerprint(train, test, settings: dict[str, Any]) -> str:
    """What the dropout experiment's data is: a digest of exactly the images and labels it uses."""
    digest = hashlib.sha256()
    for (X, y), n in ((train, settings["num_train"]), (test, settings["num_test"])):
        digest.update(X[:n].contiguous().numpy().tobytes())
        digest.update(y[:n].contiguous().numpy().tobytes())
    return digest.hexdigest()


@dataclass(frozen=True)
class DropoutExperiment(Experiment):
    def run(self, worker: Asker, context: Context) -> Any:
        """The run with the student's dropout_layer first (an unfinished one fails at once); the run
        without dropout is the course's alone, the same for every submission: kept in the grader's cache."""
        import dataclasses

        from dlcourse import training
        from dlcourse.data import load_mnist
        root = context.config.data_root
        train, test = load_mnist(train=True, root=root), load_mnist(train=False, root=root)
        settings, seed = context.profile.dropout, context.profile.seed
        counter = iter(range(10**9))

        def dropout(X: torch.Tensor, p: float) -> torch.Tensor:
            if p == 0:
                return X  # the run without dropout is the course's baseline, not the student's
            return remote_function(worker, "dropout_layer", X, p, seed=context.seed("dropout experiment", next(counter)))

        def runs(rates):
            return experiments.run_dropout(lambda p1, p2: experiments.DropoutCNN(p1, p2, dropout=dropout), train, test,
                                           settings, seed=seed, device=torch.device("cpu"), rates=rates)
        pair = (settings["dropout1"], settings["dropout2"])
        students = runs([pair])[pair]
        baseline = context.cached("dropout-baseline", [settings, seed, _fingerprint(train, test, settings)],
                                  lambda: runs([(0.0, 0.0)])[(0.0, 0.0)], dump=dataclasses.asdict,
                                  load=lambda d: training.History(**d), code=(experiments, training))
        return {(0.0, 0.0): baseline, pair: students}

    def measurement(self, result: Any) -> dict[str, Any]:
        return {"gaps": [history.loss_gap() for history in result.values()],
                "rates": [[float(p) for p in pair] for pair in result]}

    def judge(self, data: dict[str, Any], which: str, secret: bytes | None = None) -> None:
        (gap0, gap_p), (p1, p2) = data["gaps"], data["rates"][-1]
        finite("Dropout 实验的损失", [gap0, gap_p])
        if not gap_p < gap0:
            fail(f"加了 dropout（展平特征上 {p1:g}、fc1 输出上 {p2:g}）后，测试损失与训练损失之差（{gap_p:.3f}）"
                 f"应小于不加时（{gap0:.3f}）。检查 dropout_layer 是否真的随机丢弃了元素、是否按 1/(1 - p) 缩放。")

    def figure(self, result: Any) -> Any:
        from dlcourse import plotting
        return plotting.plot_dropout({f"dropout_layer {p1:g}/{p2:g}": h for (p1, p2), h in result.items()})


PARTS = (
    DropoutPart("test_dropout_keep_rate", "dropout_layer", "dropout_layer", "dropout_layer 的保留比例", kind="keep_rate",
                settings=Statistics()),
    DropoutPart("test_dropout_scaling", "dropout_layer", "dropout_layer", "dropout_layer 的 1/(1-p) 缩放", kind="scaling"),
    DropoutPart("test_dropout_edges", "dropout_layer", "dropout_layer", "dropout_layer 的 p = 0、p = 1 和报错", kind="edges"),
    DropoutPart("test_dropout_fresh_masks", "dropout_layer", "dropout_layer", "dropout_layer 的随机掩码", kind="fresh_masks",
                settings=Statistics()),
    DropoutPart("test_dropout_contract", "dropout_layer", "dropout_layer", "dropout_layer 的形状、dtype、设备和输入不变",
                kind="contract"),
    DropoutExperiment("test_dropout_experiment", "dropout_layer", "dropout_layer", "Dropout 实验",
                      uses=("test_dropout_scaling", "test_dropout_keep_rate")),
)
