"""The autograded parts of Lab 2: their cases and how each is judged.

A graded cell of the notebook is one call, ``check("test_relu", MyReLU)``. A part has three pieces:

* **cases** (:func:`cases`): the inputs. ``visible`` holds one case of every kind the part grades and
  is fixed; ``hidden`` adds more inputs (never another criterion), drawn while grading from the
  grader's secret, which no student has;
* **measure**: call the student's code on the cases and record only what came back: tensors,
  exception names, the PyTorch functions that were called. Here (``_measure_*``) for the notebook's
  own checks; while grading, the grader does it (``coursekit.grading.measure``), calling the student's
  functions in a worker on inputs it chose;
* **judge** (``_judge_*``): compare the measurement with references computed from its own copy of the
  cases, apply the thresholds and write the message.

While the student works, :func:`check` measures and judges in the notebook (the visible checks). While
nbgrader autogrades, graded cells are not run in the kernel at all: the grader measures and judges
in its own process (``coursekit.grading.judge``), with the same judges and the same messages.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from coursekit.lab.checks import (CheckFailed, assert_close, assert_tensor_like, assert_unchanged, forbidden_globals,
                                  record_builtin_calls, short)
from coursekit.lab.spec import (FRACTION_TOLERANCE, KEEP_RATE_TOLERANCE, MIN_KILLED_H1_UNITS, PARTS, VANISHING_RATIO,
                                WEIGHT_DECAY_TEST_GAIN, Part)

ACTIVATION_FUNCTIONS = {"relu": torch.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh}
ACTIVATION_REFERENCE = {"MyReLU": torch.relu, "MySigmoid": torch.sigmoid, "MyTanh": torch.tanh}
HINTS = {
    ("MyReLU", "value"): "ReLU(x) = max(0, x)：负数变 0，正数不变。",
    ("MyReLU", "derivative"): "x > 0 处导数为 1，x ≤ 0 处为 0（x = 0 处按 PyTorch 的约定取 0）。",
    ("MySigmoid", "value"): "σ(x) = 1/(1+e^(-x))；x < 0 时改写成 e^x/(1+e^x)，指数就不会溢出。注意 torch.where 两个分支都会计算。",
    ("MySigmoid", "derivative"): "σ'(x) = σ(x)·(1 − σ(x))，可以调用 self(x)。",
    ("MyTanh", "value"): "稳定写法：tanh(x) = sign(x)·(1 − e^(−2|x|)) / (1 + e^(−2|x|))。",
    ("MyTanh", "derivative"): "tanh'(x) = 1 − tanh(x)²，可以调用 self(x)。",
}


# --- cases: made the same way in the kernel and in the grader ----------------------------------

def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def hidden_base(secret: bytes | None, grade_id: str) -> int:
    """The seed of a part's hidden cases: from the grader's secret (``coursekit.grading.secret``), which
    no student has, else (a notebook run, the instructor's own checks) a fixed one."""
    import hashlib
    import hmac
    if secret is None:
        return 20261123
    return int.from_bytes(hmac.new(secret, grade_id.encode(), hashlib.sha256).digest()[:6], "big")


def _shape(gen: torch.Generator, dims: int, low: int = 1, high: int = 9) -> tuple[int, ...]:
    return tuple(int(n) for n in torch.randint(low, high, (dims,), generator=gen))


EDGE_VALUES = [-1e3, -300.0, -60.0, -20.0, -2.0, -0.5, -1e-4, 0.0, 1e-4, 0.5, 2.0, 20.0, 60.0, 300.0, 1e3]


def _activation_inputs(cases: str, base: int) -> list[torch.Tensor]:
    """Visible: ±1e3 and ordinary values in float32, a float64 vector, 0-d and empty. Hidden adds
    inputs of random shapes and scales (drawn from the part's hidden seed)."""
    edge = EDGE_VALUES
    inputs = [torch.tensor(edge), torch.tensor([-5.0, -1.0, 0.0, 0.25, 1.0, 5.0], dtype=torch.float64),
              torch.tensor(0.7), torch.empty(0)]
    if cases == "hidden":
        gen = _gen(base)
        for dtype in (torch.float32, torch.float64):
            scale = float(torch.empty(()).uniform_(10, 60, generator=gen))
            inputs += [torch.tensor(-3.0, dtype=dtype), torch.empty(3, 0, dtype=dtype),
                       torch.randn(_shape(gen, 1, 2, 40), generator=gen, dtype=dtype),
                       torch.randn(_shape(gen, 2), generator=gen, dtype=dtype) * 5,
                       torch.randn(_shape(gen, 3, 1, 6), generator=gen, dtype=dtype) * scale,
                       torch.tensor(edge, dtype=dtype)[torch.randperm(len(edge), generator=gen)]]
    return inputs


def _network_cases(cases: str) -> list[tuple[str, int]]:
    combos = [("relu", 2), ("sigmoid", 1), ("tanh", 0)]
    return combos if cases == "visible" else combos + [("relu", 0), ("relu", 3), ("sigmoid", 3), ("tanh", 1), ("tanh", 3)]


def _network_parameters(num_layers: int, seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(weight, bias) of every Linear in forward order for Network(12, 3, _, num_layers)."""
    gen = _gen(seed)
    shapes = [(100, 12), *[(100, 100)] * num_layers, (3, 100)]
    return [(torch.randn(shape, generator=gen) / math.sqrt(shape[1]), torch.randn(shape[0], generator=gen) * 0.1)
            for shape in shapes]


def _network_input(seed: int) -> torch.Tensor:
    return torch.randn(5, 12, generator=_gen(seed + 1))


def _l2_inputs(cases: str, base: int) -> list[torch.Tensor]:
    inputs = [torch.tensor([1.0, -2.0, 3.0]), torch.tensor([[0.5], [-1.5]], dtype=torch.float64), torch.tensor(2.0)]
    if cases == "hidden":
        gen = _gen(base)
        for shape, dtype in [(_shape(gen, 2, 1, 300), torch.float32), (_shape(gen, 2, 1, 300), torch.float64),
                             (_shape(gen, 3), torch.float32), (_shape(gen, 1, 1, 20), torch.float64),
                             ((0,), torch.float32), ((), torch.float64)]:
            inputs.append(torch.randn(shape, generator=gen, dtype=dtype) * 3)
    return inputs


def _hidden_layer(shape: tuple[int, int], dead: list[int], dtype: torch.dtype, seed: int, *, tanh: bool = False,
                  alive_once: tuple[int, ...] = ()) -> torch.Tensor:
    """Outputs of one hidden layer on a batch of images (rows: images, columns: units).

    Units in `dead` output 0 on every row; units in `alive_once` output 0 on every row but one.
    ReLU-like values are >= 0 with zeros scattered elsewhere; tanh-like values are in (-1, 1).
    """
    gen = _gen(seed)
    z = torch.randn(shape, generator=gen, dtype=dtype)
    H = torch.tanh(z) if tanh else torch.relu(z)
    for unit in alive_once:
        H[:, unit] = 0
        H[int(torch.randint(shape[0], (1,), generator=gen)), unit] = 0.5
    H[:, dead] = 0
    return H


def _dead_unit_cases(cases: str, base: int) -> list[torch.Tensor]:
    """Visible: ReLU-like with dead and once-alive units, tanh-like (negative values), none dead.
    Hidden: random shapes (never square, so rows and columns cannot be confused), random dead and
    once-alive units, float64, all dead, one row."""
    inputs = [_hidden_layer((6, 5), [1, 3], torch.float32, 1, alive_once=(4,)),
              _hidden_layer((4, 7), [2], torch.float64, 2, tanh=True),
              _hidden_layer((3, 4), [], torch.float32, 3)]
    if cases == "hidden":
        gen = _gen(base)
        for k, (dtype, tanh) in enumerate([(torch.float32, False), (torch.float64, False), (torch.float32, False),
                                           (torch.float32, True), (torch.float64, False)]):
            rows = int(torch.randint(2, 600, (), generator=gen))
            units = int(torch.randint(3, 150, (), generator=gen))
            units += int(units == rows)
            order = torch.randperm(units, generator=gen).tolist()
            dead = order[: int(torch.randint(0, units // 2 + 1, (), generator=gen))]
            once = tuple(order[len(dead): len(dead) + int(torch.randint(0, 4, (), generator=gen))])
            inputs.append(_hidden_layer((rows, units), dead, dtype, base + k, tanh=tanh, alive_once=once))
        units = int(torch.randint(2, 20, (), generator=gen))
        inputs += [_hidden_layer((units + 7, units), list(range(units)), torch.float32, base + 10),
                   _hidden_layer((1, units + 1), [units // 2], torch.float32, base + 11)]
    return inputs


def _dropout_input(shape: tuple[int, ...], dtype: torch.dtype, seed: int) -> torch.Tensor:
    """Values in [1, 2): an output element is 0 exactly when it was dropped."""
    return torch.rand(shape, generator=_gen(seed), dtype=dtype) + 1.0


def _dropout_statistical_cases(cases: str) -> list[tuple[float, tuple[int, ...], torch.dtype]]:
    # Not p = 0.5 where a student can see it: there keeping with rand < p (keep and drop swapped) and
    # scaling by 1/p both give the right answer.
    visible = [(0.2, (128, 256), torch.float32), (0.7, (128, 256), torch.float32)]
    return visible if cases == "visible" else visible + [(0.5, (128, 256), torch.float32),
                                                         (0.9, (128, 256), torch.float32),
                                                         (0.5, (8, 32, 32), torch.float64)]


def cases(grade_id: str, which: str, secret: bytes | None = None) -> list[Any]:
    """The inputs of one part's case set (``visible`` or ``hidden``). Visible cases are fixed; hidden
    ones add more, drawn from the part's hidden seed (:func:`hidden_base`)."""
    kind = PARTS[grade_id].kind
    base = hidden_base(secret, grade_id)
    if kind in ("value", "derivative"):
        return _activation_inputs(which, base)
    if kind == "forward":
        return [(name, layers, (100 * i + layers) if which == "visible" or secret is None else base + i)
                for i, (name, layers) in enumerate(_network_cases(which))]
    if kind == "l2":
        return _l2_inputs(which, base)
    if kind == "dead_units":
        return _dead_unit_cases(which, base)
    if kind in ("keep_rate", "scaling"):
        return [(p, _dropout_input(shape, dtype, 1000 * i + (7 if which == "visible" else base)))
                for i, (p, shape, dtype) in enumerate(_dropout_statistical_cases(which))]
    if kind == "contract":
        shapes = [((4, 6), torch.float64)] if which == "visible" else [((4, 6), torch.float64), ((3, 5, 7), torch.float32),
                                                                      ((9,), torch.float64)]
        return [(0.5, _dropout_input(shape, dtype, 50 + i + (0 if which == "visible" else base)))
                for i, (shape, dtype) in enumerate(shapes)]
    if kind == "fresh_masks":
        return [_dropout_input((128, 256), torch.float32, 77 if which == "visible" else base)]
    if kind == "edges":
        return [_dropout_input((3, 5), torch.float64, 5), torch.tensor(2.0)]
    return []


# --- measuring: in the student's kernel ---------------------------------------------------------

def _call(fn: Callable[[], Any]) -> Any:
    """What the student's code returned: a plain tensor, else a description of what came back."""
    try:
        out = fn()
    except NotImplementedError:
        return {"error": "NotImplementedError"}
    except Exception as err:  # student code can raise anything: it is recorded, never re-raised
        return {"error": f"{type(err).__name__}: {err}"[:300]}
    if type(out) is not torch.Tensor and type(out) is not torch.nn.Parameter:
        return {"type": type(out).__name__, "text": short(out)[:200]}
    return out.detach().to("cpu").clone()


def _measure_activation(cls: type, grade_id: str, which: str) -> dict[str, Any]:
    derivative = PARTS[grade_id].kind == "derivative"
    outputs, after = [], []
    with record_builtin_calls() as calls:
        for x in cases(grade_id, which):
            copy = x.clone()
            outputs.append(_call(lambda: cls().derivative(copy) if derivative else cls()(copy)))
            after.append(copy)
    return {"outputs": outputs, "inputs_after": after,
            "builtin_calls": sorted(set(calls) | set(forbidden_globals(cls)))}


def _measure_forward(network_cls: type, grade_id: str, which: str) -> dict[str, Any]:
    outputs = []
    for name, layers, seed in cases(grade_id, which):
        def run(name=name, layers=layers, seed=seed):
            net = network_cls(12, 3, name, num_layers=layers)
            linears = [net.input_layer, *net.layers, net.output_layer]
            with torch.no_grad():
                for linear, (weight, bias) in zip(linears, _network_parameters(layers, seed), strict=True):
                    linear.weight.copy_(weight)
                    linear.bias.copy_(bias)
            net.activation = ACTIVATION_FUNCTIONS[name]  # only the structure of forward is graded here
            return net(_network_input(seed))
        outputs.append(_call(run))
    return {"outputs": outputs}



def _measure_backward(network_cls: type, grade_id: str, which: str) -> dict[str, Any]:
    def gradient():
        net = network_cls(12, 3, "tanh", num_layers=2)
        net.activation = torch.tanh
        net(_network_input(3)).sum().backward()
        grad = net.input_layer.weight.grad
        return torch.zeros(0) if grad is None else grad
    try:
        network_cls(12, 3, "softmax", num_layers=1)
        unknown = "no error"
    except Exception as err:  # the constructor must raise ValueError; anything else is reported
        unknown = type(err).__name__
    return {"input_grad": _call(gradient), "unknown_activation": unknown}


def _measure_l2(fn: Callable, grade_id: str, which: str) -> dict[str, Any]:
    values, grads, after = [], [], []
    for w in cases(grade_id, which):
        copy = w.clone()
        values.append(_call(lambda: fn(copy)))
        after.append(copy)
        w_req = w.clone().requires_grad_(True)

        def grad(w_req=w_req):
            fn(w_req).backward()
            return w_req.grad if w_req.grad is not None else torch.zeros(0)
        grads.append(_call(grad))
    return {"values": values, "grads": grads, "inputs_after": after}


def _measure_dead_units(fn: Callable, grade_id: str, which: str) -> dict[str, Any]:
    outputs, after = [], []
    for H in cases(grade_id, which):
        copy = H.clone()

        def answer(copy=copy):
            out = fn(copy)  # a plain number (Python's or numpy's float) is a fine answer too: recorded as float64
            number = isinstance(out, (int, float)) and not isinstance(out, bool)
            return torch.tensor(float(out), dtype=torch.float64) if number else out
        outputs.append(_call(answer))
        after.append(copy)
    return {"outputs": outputs, "inputs_after": after}


def _measure_dropout(fn: Callable, grade_id: str, which: str) -> dict[str, Any]:
    kind = PARTS[grade_id].kind
    with record_builtin_calls("dropout") as calls:
        if kind in ("keep_rate", "scaling", "contract"):
            result: dict[str, Any] = {"outputs": [], "inputs_after": []}
            for p, X in cases(grade_id, which):
                copy = X.clone()
                result["outputs"].append(_call(lambda: fn(copy, p)))
                result["inputs_after"].append(copy)
        elif kind == "fresh_masks":
            X = cases(grade_id, which)[0]
            result = {"outputs": [_call(lambda: fn(X.clone(), 0.5)) for _ in range(2)]}
        else:  # edges
            X, scalar = cases(grade_id, which)
            errors = {}
            for bad in (-0.1, 1.5):
                try:
                    fn(X.clone(), bad)
                    errors[str(bad)] = "no error"
                except Exception as err:  # the task asks for ValueError; anything else is reported
                    errors[str(bad)] = type(err).__name__
            result = {"p0": _call(lambda: fn(X.clone(), 0.0)), "p1": _call(lambda: fn(X.clone(), 1.0)),
                      "scalar": _call(lambda: fn(scalar.clone(), 0.5)), "errors": errors}
    result["builtin_calls"] = sorted(set(calls) | set(forbidden_globals(fn, "dropout")))
    return result


def _measure_experiment(result: Any, grade_id: str, which: str) -> dict[str, Any]:
    kind = PARTS[grade_id].kind
    if kind == "vanishing":
        return {"first_layer": {act: result.first_layer_mean(act) for act in ("relu", "sigmoid", "tanh")},
                "hidden_layers": len(result.layer_names) - 2}
    if kind == "death":
        return {"dead_units": {act: result.final_dead_units(act) for act in result.fractions},
                "killed": {act: result.killed[act] for act in result.fractions}, "lr": result.lr,
                "final_loss": {act: float(result.final_loss[act]) for act in result.fractions}}
    if kind == "weight_decay":
        return {"runs": [{"init": run.init, "lambd": float(run.lambd), "weight_norm": run.weight_norm,
                          "test_loss": run.test_loss[-1] if run.test_loss else math.nan} for run in result.values()]}
    if kind == "dropout_experiment":
        return {"gaps": [history.loss_gap() for history in result.values()],
                "rates": [[float(p) for p in pair] for pair in result]}
    raise ValueError(kind)


MEASURES = {"value": _measure_activation, "derivative": _measure_activation, "forward": _measure_forward,
            "backward": _measure_backward, "l2": _measure_l2, "keep_rate": _measure_dropout,
            "scaling": _measure_dropout, "edges": _measure_dropout, "fresh_masks": _measure_dropout,
            "contract": _measure_dropout, "dead_units": _measure_dead_units, "vanishing": _measure_experiment, "death": _measure_experiment,
            "weight_decay": _measure_experiment, "dropout_experiment": _measure_experiment}


def measure(grade_id: str, subject: Any, which: str = "visible") -> dict[str, Any]:
    """Run the student's code (or read an experiment's result) on one case set; decide nothing."""
    part = PARTS[grade_id]
    return {"grade_id": grade_id, "cases": which, "data": MEASURES[part.kind](subject, grade_id, which)}


# --- judging ------------------------------------------------------------------------------------

def _fail(message: str) -> None:
    raise CheckFailed(message)


def _describe_bad(what: str, got: Any, inputs: str) -> str | None:
    if isinstance(got, dict) and "error" in got:
        if got["error"] == "NotImplementedError":
            return f"{what} 还没有实现：把 raise NotImplementedError() 换成你的代码。"
        return f"调用 {what} 时出错（输入 {inputs}）：{got['error']}"
    if not isinstance(got, torch.Tensor):
        kind = got.get("type", "?") if isinstance(got, dict) else type(got).__name__
        return f"{what} 应该返回一个 torch.Tensor，但对输入 {inputs} 返回了 {kind}。提示：检查函数是否有 return 语句。"
    return None


def _compare(what: str, got: Any, expected: torch.Tensor, x: torch.Tensor, hint: str = "") -> None:
    """`got` must be a plain tensor like `expected` (shape, dtype) and equal to it within the dtype's tolerance."""
    bad = _describe_bad(what, got, short(x))
    if bad:
        _fail(bad)
    assert_close(what, got, expected, x, hint=hint)


def _no_builtin(what: str, calls: list[str], allowed: str) -> None:
    if calls:
        _fail(f"{what} 调用了 PyTorch 现成的实现（{', '.join(calls)}）。{allowed}所以这一部分不得分。")


def _reference_derivative(fn: Callable, x: torch.Tensor) -> torch.Tensor:
    x_req = x.detach().clone().requires_grad_(True)
    fn(x_req).sum().backward()
    return x_req.grad.detach()


def _judge_activation(part: Part, data: dict[str, Any], which: str, secret: bytes | None = None) -> None:
    name, derivative = part.definition, part.kind == "derivative"
    reference = ACTIVATION_REFERENCE[name]
    what = f"{name}().derivative(x)" if derivative else f"{name}()(x)"
    _no_builtin(name, data["builtin_calls"], "本练习要求只用基本张量运算（如 torch.exp、torch.where、torch.clamp、比较运算）自己实现，")
    for x, got, after in zip(cases(part.grade_id, which, secret), data["outputs"], data["inputs_after"], strict=True):
        expected = _reference_derivative(reference, x) if derivative else reference(x)
        _compare(what, got, expected, x, HINTS[(name, part.kind)])
        assert_unchanged(f"{name}.{'derivative' if derivative else '__call__'}", x, after)


def _reference_forward(layers: int, seed: int, name: str) -> torch.Tensor:
    params = _network_parameters(layers, seed)
    act = ACTIVATION_FUNCTIONS[name]
    h = _network_input(seed)
    for weight, bias in params[:-1]:
        h = act(h @ weight.T + bias)
    weight, bias = params[-1]
    return h @ weight.T + bias


def _judge_forward(part: Part, data: dict[str, Any], which: str, secret: bytes | None = None) -> None:
    for (name, layers, seed), got in zip(cases(part.grade_id, which, secret), data["outputs"], strict=True):
        _compare(f"Network(12, 3, '{name}', num_layers={layers}).forward(X)", got,
                 _reference_forward(layers, seed, name), _network_input(seed),
                 "顺序应为：输入层 → 激活 → 每个隐藏层后接激活 → 输出层（输出层后不接激活）。")


def _judge_backward(part: Part, data: dict[str, Any], which: str, secret: bytes | None = None) -> None:
    grad = data["input_grad"]
    bad = _describe_bad("Network(12, 3, 'tanh', num_layers=2) 的前向和反向传播", grad, "形状 (5, 12) 的 X")
    if bad:
        _fail(bad)
    if grad.numel() == 0 or not torch.isfinite(grad).all() or not grad.abs().sum() > 0:
        _fail("Network.forward 的输出不能反向传播到输入层（输入层权重没有得到梯度）："
              "不要用 .detach()、.numpy()、torch.no_grad() 或 .data 切断计算图。")
    if data["unknown_activation"] != "ValueError":
        _fail(f"Network(..., activation_name='softmax') 应该抛出 ValueError，实际：{data['unknown_activation']}。"
              f"不要删掉构造函数里的检查。")


def _judge_l2(part: Part, data: dict[str, Any], which: str, secret: bytes | None = None) -> None:
    for w, value, grad, after in zip(cases(part.grade_id, which, secret), data["values"], data["grads"], data["inputs_after"],
                                     strict=True):
        _compare("l2_penalty(w)", value, (w ** 2).sum() / 2, w,
                 "L2 惩罚是所有元素平方和的一半，返回一个 0 维张量：torch.sum(w ** 2) / 2。")
        assert_unchanged("l2_penalty", w, after)
        _compare("l2_penalty 对 w 的梯度", grad, w, w, "½·Σw² 对 w 的梯度就是 w 本身；如果得到 2w，说明少了 1/2。")


def _judge_dead_units(part: Part, data: dict[str, Any], which: str, secret: bytes | None = None) -> None:
    for H, got, after in zip(cases(part.grade_id, which, secret), data["outputs"], data["inputs_after"], strict=True):
        what = f"dead_unit_fraction(H)（H 形状 {tuple(H.shape)}：{H.shape[0]} 张探针图像 × {H.shape[1]} 个单元）"
        bad = _describe_bad(what, got, short(H))
        if bad:
            _fail(bad.replace("应该返回一个 torch.Tensor", "应该返回一个数（0 维张量或 Python float）"))
        if got.numel() != 1 or not torch.isfinite(got).all():
            _fail(f"{what} 应返回一个 0 到 1 之间的数（0 维张量），得到 {short(got)}。")
        value, expected = float(got), float((H == 0).all(dim=0).double().mean())
        if abs(value - expected) > FRACTION_TOLERANCE:
            _fail(f"{what} 应为 {expected:.4f}，得到 {value:.4f}。{_dead_unit_hint(H, value)}")
        assert_unchanged("dead_unit_fraction", H, after)


def _dead_unit_hint(H: torch.Tensor, value: float) -> str:
    """Name the usual mistake when the wrong answer is what that mistake gives."""
    zero = H == 0
    mistakes = [
        ((zero.double().mean()), "你算的是 H 中等于 0 的元素所占的比例；死亡单元要对每一张探针图像都输出 0（对行方向用 .all(dim=0)）。"),
        ((zero.any(dim=0).double().mean()), "只要有一张图像输出 0 就算死亡是不对的：单元只是没被那张图激活，要对每一张都输出 0 才算。"),
        ((zero.all(dim=1).double().mean()), "方向反了：行是探针图像，列是单元，所以沿第 0 维（dim=0）判断。"),
        (((H <= 0).all(dim=0).double().mean()), "只有恰好输出 0 才算：tanh 这样的激活可以输出负数，那不是死亡。"),
        ((zero.all(dim=0).double().sum()), "这是死亡单元的个数；要返回的是比例：个数除以单元总数 H.shape[1]。"),
    ]
    for wrong, hint in mistakes:
        if abs(value - float(wrong)) <= FRACTION_TOLERANCE:
            return hint
    return "死亡单元：在所有探针图像上都输出 0 的单元（H 的一列全为 0）；返回它们占单元总数的比例。"


def _dropout_output(what: str, got: Any, X: torch.Tensor) -> torch.Tensor:
    bad = _describe_bad(what, got, short(X))
    if bad:
        _fail(bad)
    assert_tensor_like(what, got, X, short(X))
    return got


def _judge_dropout(part: Part, data: dict[str, Any], which: str, secret: bytes | None = None) -> None:
    _no_builtin("dropout_layer", data["builtin_calls"], "本练习要求用 torch.rand 等随机数自己生成掩码，")
    if part.kind in ("keep_rate", "scaling", "contract"):
        for (p, X), got, after in zip(cases(part.grade_id, which, secret), data["outputs"], data["inputs_after"], strict=True):
            what = f"dropout_layer(X, {p})（X 形状 {tuple(X.shape)}、{str(X.dtype).removeprefix('torch.')}）"
            if part.kind == "contract":
                _dropout_output(what, got, X)
                assert_unchanged("dropout_layer", X, after)
                continue
            out = _dropout_output(what, got, X)
            kept = out != 0
            if part.kind == "keep_rate":
                fraction = kept.double().mean().item()
                tolerance = KEEP_RATE_TOLERANCE[tuple(X.shape)]
                if abs(fraction - (1 - p)) >= tolerance:
                    _fail(f"{what}：保留下来的比例应接近 1 − p = {1 - p:.2f}（容差 {tolerance}），实际为 {fraction:.4f}。"
                          f"提示：每个元素独立地以 1 − dropout 的概率保留，例如掩码 torch.rand(X.shape, device=X.device) > dropout。")
            else:
                _compare(f"{what} 中保留下来的元素", out[kept], X[kept] / (1 - p), X[kept],
                         "保留的元素应等于 X / (1 - dropout)：忘记除以 (1 - dropout) 时期望值会变小。")
    elif part.kind == "fresh_masks":
        X = cases(part.grade_id, which, secret)[0]
        first, second = (_dropout_output("dropout_layer(X, 0.5)", got, X) != 0 for got in data["outputs"])
        if torch.equal(first, second):
            _fail("两次调用 dropout_layer 得到了完全相同的掩码：每次调用都应重新生成随机掩码（不要固定随机种子或复用掩码）。")
        if (first == first[0]).all():
            _fail("dropout_layer 的掩码在每一行都相同：掩码要与 X 形状相同，每个元素独立抽样，而不是只对一行抽样再广播。")
        if "same_seed" in data:  # measured by the grader, which seeds torch's generator before a call
            _judge_randomness(data, X)
    else:
        X, scalar = cases(part.grade_id, which, secret)
        p0 = _dropout_output("dropout_layer(X, 0.0)", data["p0"], X)
        if not torch.equal(p0, X):
            _fail(f"dropout_layer(X, 0.0) 应原样返回 X，得到 {short(p0)}。")
        p1 = _dropout_output("dropout_layer(X, 1.0)", data["p1"], X)
        if not torch.equal(p1, torch.zeros_like(X)):
            _fail(f"dropout_layer(X, 1.0) 应返回全 0 张量，得到 {short(p1)}。")
        got = _dropout_output("dropout_layer(tensor(2.), 0.5)", data["scalar"], scalar)
        if not got.item() >= 0:  # 0 when dropped; the scaling of what is kept has a part of its own
            _fail(f"dropout_layer(tensor(2.), 0.5) 应返回 0 维张量（丢弃时为 0，保留时为放大后的正数），得到 {short(got)}。")
        for bad, raised in data["errors"].items():
            if raised != "ValueError":
                _fail(f"dropout_layer(X, {bad}) 应抛出 ValueError（dropout 必须在 [0, 1] 内），实际：{raised}。")


#: Hoeffding: among n pairs of independent keep/drop draws at p = 0.5, the share that agree is
#: within RANDOMNESS_TOLERANCE of 1/2 except with probability <= 2 exp(-2 n t^2): n = 128 * 255 pairs
#: of neighbours in a row, t = 0.02: <= 9.5e-12; n = 32768 pairs of one position in two calls: <= 8.5e-12.
RANDOMNESS_TOLERANCE = 0.02


def _judge_randomness(data: dict[str, Any], X: torch.Tensor) -> None:
    """The mask comes from torch's generator, and its entries are independent across positions and calls."""
    same = [_dropout_output("dropout_layer(X, 0.5)", got, X) for got in data["same_seed"]]
    if not torch.equal(same[0], same[1]):
        _fail("torch.manual_seed 相同时，dropout_layer 应得到相同的掩码：掩码要用 PyTorch 的随机数发生器生成"
              "（如 torch.rand(X.shape, device=X.device)），不要用自己的随机数序列或 Python 的 random 模块。")
    other = _dropout_output("dropout_layer(X, 0.5)", data["other_seed"], X)
    if torch.equal(same[0] != 0, other != 0):
        _fail("换一个 torch.manual_seed，dropout_layer 仍得到同样的掩码：掩码没有用 PyTorch 的随机数发生器，"
              "而是每次按固定的规律生成。要用 torch.rand 之类的随机数。")
    first, second = (_dropout_output("dropout_layer(X, 0.5)", got, X) != 0 for got in data["outputs"])
    neighbours = (first[:, 1:] == first[:, :-1]).double().mean().item()
    across = (first == second).double().mean().item()
    for share, what in ((neighbours, "同一行相邻两个元素"), (across, "两次调用中同一位置")):
        if abs(share - 0.5) >= RANDOMNESS_TOLERANCE:
            _fail(f"dropout_layer(X, 0.5) 的掩码不是独立抽样的：{what}的保留/丢弃结果相同的比例是 {share:.3f}，"
                  f"独立抽样时应接近 0.5（容差 {RANDOMNESS_TOLERANCE}）。每个元素要各自独立地随机保留，"
                  f"例如 torch.rand(X.shape, device=X.device) > dropout。")


def _finite(name: str, values: list[float]) -> None:
    if not all(isinstance(v, float) and math.isfinite(v) for v in values):
        _fail(f"{name}中出现了 nan 或 inf：{values}。检查你的函数在大输入下是否数值稳定。")


def _judge_experiment(part: Part, data: dict[str, Any], which: str, secret: bytes | None = None) -> None:
    if part.kind == "vanishing":
        grads = data["first_layer"]
        _finite("梯度统计", list(grads.values()))
        relu, sigmoid = grads["relu"], grads["sigmoid"]
        if not (relu > 0 and sigmoid > 0) or relu < VANISHING_RATIO * sigmoid:
            _fail(f"在 {data['hidden_layers']} 个隐藏层的网络里，ReLU 输入层的梯度（{relu:.2e}）应至少是 sigmoid（{sigmoid:.2e}）"
                  f"的 {VANISHING_RATIO} 倍（参考实现约 1000 倍以上），实际只有 {relu / sigmoid if sigmoid else float('inf'):.1f} 倍。"
                  f"检查 Network.forward 是否在输入层和每个隐藏层之后都接了激活函数、输出层之后没有接。")
    elif part.kind == "death":
        dead, killed = data["dead_units"], data["killed"]
        if dead.get("tanh", 0) != 0:
            _fail(f"tanh 网络不应有死亡单元，却量到 {dead['tanh']} 个。检查 MyTanh 是否只在输入为 0 时输出 0。")
        loss = data.get("final_loss", {}).get("relu", math.nan)
        if not math.isfinite(loss):  # a diverged network's units are all "silent": that is not death by a large step
            _fail(f"用 lr = {data['lr']:g} 训练时 ReLU 网络发散了（最后一个小批量的损失是 {loss}），死亡单元的统计没有意义。"
                  f"检查 Network.forward 是否在输入层和每个隐藏层之后都接了激活函数、输出层之后没有接。")
        h1 = killed.get("relu", [0])[0]
        if h1 < MIN_KILLED_H1_UNITS:
            _fail(f"用 lr = {data['lr']:g} 训练后，ReLU 网络的 h1 里只有 {h1} 个单元是被训练杀死的（训练前还活着，训练后对每一张"
                  f"训练图像都输出 0），应至少 {MIN_KILLED_H1_UNITS} 个（参考实现在 20 个随机种子下都至少 6 个；lr = 0.1 或 0.01 时一个也没有）。"
                  f"检查 MyReLU 是否对负输入输出 0，以及 Network.forward 是否逐层使用激活函数。")
    elif part.kind == "weight_decay":
        runs = {(run["init"], run["lambd"] > 0): run for run in data["runs"]}
        plain, penalised = runs[("zero", False)], runs[("zero", True)]
        lambd = penalised["lambd"]
        _finite("权重衰减实验", [plain["weight_norm"], penalised["weight_norm"], plain["test_loss"], penalised["test_loss"]])
        if not penalised["weight_norm"] < plain["weight_norm"]:
            _fail(f"从 w = 0 出发，λ = {lambd:g} 时 ‖w‖ = {penalised['weight_norm']:.4f}，应小于 λ = 0 时的 "
                  f"{plain['weight_norm']:.4f}。检查 l2_penalty 是否真的对 w 求了平方和。")
        if not penalised["test_loss"] <= WEIGHT_DECAY_TEST_GAIN * plain["test_loss"]:
            _fail(f"从 w = 0 出发，λ = {lambd:g} 时的测试损失（{penalised['test_loss']:.4f}）应不超过 λ = 0 时"
                  f"（{plain['test_loss']:.4f}）的 {WEIGHT_DECAY_TEST_GAIN:g} 倍（参考实现在 20 个随机种子下都不到 0.7 倍）。"
                  f"检查 l2_penalty 的值和梯度。")
    else:
        (gap0, gap_p), (p1, p2) = data["gaps"], data["rates"][-1]
        _finite("Dropout 实验的损失", [gap0, gap_p])
        if not gap_p < gap0:
            _fail(f"加了 dropout（展平特征上 {p1:g}、fc1 输出上 {p2:g}）后，测试损失与训练损失之差（{gap_p:.3f}）"
                  f"应小于不加时（{gap0:.3f}）。检查 dropout_layer 是否真的随机丢弃了元素、是否按 1/(1 - p) 缩放。")


JUDGES = {"value": _judge_activation, "derivative": _judge_activation, "forward": _judge_forward,
          "backward": _judge_backward, "l2": _judge_l2, "keep_rate": _judge_dropout, "scaling": _judge_dropout,
          "edges": _judge_dropout, "fresh_masks": _judge_dropout, "contract": _judge_dropout,
          "dead_units": _judge_dead_units, "vanishing": _judge_experiment, "death": _judge_experiment, "weight_decay": _judge_experiment,
          "dropout_experiment": _judge_experiment}


def judge(measurement: dict[str, Any], secret: bytes | None = None) -> str | None:
    """None when the measured part passes, else the message for the student. ``secret``: the one the
    hidden cases were drawn with (:func:`cases`)."""
    part = PARTS[measurement["grade_id"]]
    try:
        JUDGES[part.kind](part, measurement["data"], measurement["cases"], secret)
    except CheckFailed as failed:
        return str(failed)
    except (KeyError, TypeError, ValueError, IndexError, AttributeError, RuntimeError) as err:
        # The measurement does not have the form the judge expects: it was not made by measure().
        return f"评分程序读不懂这一项的测量结果（{type(err).__name__}），这一项不得分。"
    return None


# --- the notebook's call ------------------------------------------------------------------------

def check(grade_id: str, subject: Any, cases: str = "visible") -> None:
    """The graded cell's call in the notebook: measure `subject` on the part's case set, then judge
    it; a failure raises CheckFailed with its message. (While nbgrader grades, the grader forms the
    verdict itself and this cell does not run.)"""
    findings = review_definition(grade_id, subject)
    if findings:
        _fail(findings)
    message = judge(measure(grade_id, subject, cases))
    if message:
        _fail(message)
    print(f"{PARTS[grade_id].title}：{'通过全部检查' if cases == 'hidden' else '自查通过'}。")


def rule_message(part: Part, forbidden: dict[str, str], tampering: dict[str, str]) -> str | None:
    """What a broken rule of the part's TODO costs it, in the words of the visible checks and the
    feedback alike (None when its definition keeps to the rules)."""
    if part.definition in tampering:
        return (f"答案单元格 {part.todo} 伸手去改评分进程或 Python 运行环境（{tampering[part.definition]}），"
                f"这个任务的各项不得分。请删掉这些代码后重新提交。")
    if part.definition in forbidden:
        return f"{part.definition} 用了不允许的写法：{forbidden[part.definition]}。这一项不得分。"
    return None


def review_definition(grade_id: str, subject: Any) -> str | None:
    """The notebook-side rule check: the review of the cell that defined the graded class or function."""
    import linecache

    from coursekit.lab.review import rules_broken
    part = PARTS[grade_id]
    if part.kind in ("vanishing", "death", "weight_decay", "dropout_experiment"):
        return None
    functions = [subject] if callable(subject) and hasattr(subject, "__code__") else \
        [v for v in vars(subject).values() if hasattr(v, "__code__")] if isinstance(subject, type) else []
    definitions = frozenset(p.definition for p in PARTS.values() if p.todo == part.todo)
    for function in functions:
        source = "".join(linecache.getlines(function.__code__.co_filename))
        if source:
            return rule_message(part, *rules_broken(source, part.todo, definitions)) or \
                _defined_elsewhere(part, functions, source)
    return None


def defined_elsewhere_message(name: str, todo: str) -> str:
    """A name an answer uses but its own cell does not define (the grader does not run that cell)."""
    return (f"{name} 没有定义在答案单元格 {todo} 里：评分时这个任务只运行它自己的答案单元格和课程的单元格，"
            f"你自己添加的单元格不运行。把 {name} 的定义移到答案单元格 {todo} 里。")


def _defined_elsewhere(part: Part, functions: list[Any], source: str) -> str | None:
    """The visible checks' warning for a graded definition that uses a function, class or value defined
    in a cell of the student's own: the notebook runs it, grading does not (the same words as the feedback)."""
    import ast
    import dis
    import types

    from coursekit.lab.review import _bound_names, python_source
    from coursekit.lab.spec import WORKERS, worker_of
    try:
        bound = _bound_names(ast.parse(python_source(source)))
    except SyntaxError:
        return None
    group = WORKERS[worker_of(part)]
    allowed = {p.definition for p in PARTS.values() if p.todo in group.answers} | {"_"}
    if group.reference:
        allowed |= {"MyReLU", "MySigmoid", "MyTanh"}

    def codes(code: types.CodeType):
        yield code
        for const in code.co_consts:
            if isinstance(const, types.CodeType):
                yield from codes(const)

    for function in functions:
        namespace = function.__globals__
        for code in codes(function.__code__):
            for instruction in dis.get_instructions(code):
                name = instruction.argval
                if instruction.opname not in ("LOAD_GLOBAL", "LOAD_NAME") or name in bound or name in allowed \
                        or name not in namespace:
                    continue
                value = namespace[name]
                mine = getattr(value, "__module__", None) == "__main__" if callable(value) else \
                    not isinstance(value, types.ModuleType) and type(value).__module__ in ("builtins", "torch", "numpy")
                if mine:
                    return defined_elsewhere_message(name, part.todo)
    return None
