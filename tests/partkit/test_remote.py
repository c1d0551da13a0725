"""coursekit.partkit.remote: what a worker's answers mean, and the student's functions inside a graph."""

from __future__ import annotations

import pytest
import torch

from coursekit.partkit.local import LocalWorker
from coursekit.partkit.part import ExperimentFailed
from coursekit.partkit.remote import gradients, raised, remote_function, returned, tensor


def test_answers_read_as_the_judges_expect():
    worker = LocalWorker({"f": lambda x: x * 2, "n": lambda x: 3, "bad": lambda x: 1 / 0,
                          "todo": lambda x: (_ for _ in ()).throw(NotImplementedError())})
    assert torch.equal(returned(worker.ask("call", target=["f"], args=[torch.ones(2)])), torch.full((2,), 2.0))
    assert returned(worker.ask("call", target=["n"], args=[torch.ones(1)])) == {"type": "float", "text": "3.0"}
    assert "ZeroDivisionError" in returned(worker.ask("call", target=["bad"], args=[torch.ones(1)]))["error"]
    assert raised(worker.ask("call", target=["bad"], args=[torch.ones(1)])) == "ZeroDivisionError"
    assert raised(worker.ask("call", target=["f"], args=[torch.ones(1)])) == "no error"
    with pytest.raises(ExperimentFailed, match="还没有完成"):
        tensor(worker.ask("call", target=["todo"], args=[torch.ones(1)]), "todo")
    with pytest.raises(ExperimentFailed, match="形状"):
        tensor(worker.ask("call", target=["f"], args=[torch.ones(2)]), "f", torch.Size([3]))


def test_a_remote_function_is_a_node_of_the_graph():
    worker = LocalWorker({"square": lambda x: x * x})
    x = torch.tensor([1.0, -2.0], requires_grad=True)
    remote_function(worker, "square", x).sum().backward()
    assert torch.equal(x.grad, torch.tensor([2.0, -4.0]))
    kept = worker.ask("call", target=["square"], args=[torch.tensor([3.0])], keep=True)
    assert torch.equal(gradients(worker, kept)[0], torch.tensor([6.0]))


def test_a_cut_graph_stops_the_experiment():
    worker = LocalWorker({"cut": lambda x: x.detach() * 2})
    x = torch.ones(2, requires_grad=True)
    with pytest.raises(ExperimentFailed, match="不能反向传播"):
        remote_function(worker, "cut", x).sum().backward()
