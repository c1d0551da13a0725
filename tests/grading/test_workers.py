"""coursekit.grading.workers and coursekit.partkit.serve: workers answer calls, each with only its own cells."""

import pytest
import torch

from dlcourse.lab2.activations import RULE
from coursekit.grading.workers import Workers, WorkerGone

SETUP = "import torch\nfrom torch import nn\n"


@pytest.fixture(scope="module")
def workers():
    pool = Workers(None)  # no sandbox: this process's own zygote
    yield pool
    pool.close()


def test_a_worker_answers_calls_of_its_cells(workers):
    worker = workers.start("one", [("setup", SETUP), ("a", "def double(x):\n    return 2 * x\n")])
    answer = worker.ask("call", target=["double"], args=[torch.tensor([1.0, -2.0])])
    assert torch.equal(answer["value"], torch.tensor([2.0, -4.0]))
    assert worker.ask("call", target=["missing"], args=[torch.ones(1)])["value"]["ename"] == "NameError"


def test_code_in_one_worker_does_not_reach_another(workers):
    planted = workers.start("planted", [("setup", SETUP), ("a", "torch.ones = lambda *a, **k: torch.zeros(1)\n")])
    clean = workers.start("clean", [("setup", SETUP), ("b", "def make(x):\n    return torch.ones(2)\n")])
    assert torch.equal(clean.ask("call", target=["make"], args=[torch.zeros(1)])["value"], torch.ones(2))
    assert planted.cells[1] == {"name": "a"}


def test_forbidden_calls_are_seen_however_they_are_reached(workers):
    cell = "_f = {'r': getattr(torch, 're' + 'lu')}\nclass MyReLU:\n    def __call__(self, x):\n        return _f['r'](x)\n"
    worker = workers.start("alias", [("setup", SETUP), ("activations", cell)])
    answer = worker.ask("call", target=["MyReLU", "__call__"], args=[torch.randn(3)], record=sorted(RULE.recorded))
    assert answer["calls"] == ["relu"]
    overload = "class MySigmoid:\n    def __call__(self, x):\n        return torch.ops.aten.sigmoid.default(x)\n"
    worker = workers.start("overload", [("setup", SETUP), ("activations", overload)])
    answer = worker.ask("call", target=["MySigmoid", "__call__"], args=[torch.randn(3)], record=sorted(RULE.recorded))
    assert answer["calls"] == ["sigmoid"]


def test_magics_and_display_run_as_in_a_notebook(workers):
    worker = workers.start("habits", [("setup", SETUP), ("a", "%timeit -n1 -r1 1 + 1\ndisplay(torch.ones(2))\nx = 1\n")])
    assert worker.cells[1] == {"name": "a"}


def test_a_worker_that_kills_itself_is_reported(workers, tmp_path):
    runs = tmp_path / "runs"
    cell = f"open({str(runs)!r}, 'a').write('x')\nimport os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n"
    with pytest.raises(WorkerGone, match="停止了响应"):
        workers.start("dies", [("a", cell)])
    assert runs.read_text() == "xx"  # started once more, afresh, and the cell killed it again


def test_a_worker_lost_once_while_it_starts_costs_nothing(workers, tmp_path):
    marker = tmp_path / "lost-once"
    cell = (f"import os, pathlib\nif not pathlib.Path({str(marker)!r}).exists():\n"
            f"    pathlib.Path({str(marker)!r}).touch()\n    os._exit(1)\ndef one(x):\n    return x + 1\n")
    worker = workers.start("flaky", [("setup", SETUP), ("a", cell)])
    assert torch.equal(worker.ask("call", target=["one"], args=[torch.zeros(1)])["value"], torch.ones(1))


def test_a_cell_interrupted_at_the_time_limit_runs_once_and_names_itself(tmp_path):
    runs = tmp_path / "runs"
    pool = Workers(None, cell_timeout=0.5)
    try:
        cell = f"open({str(runs)!r}, 'a').write('x')\nwhile True:\n    try:\n        pass\n    except BaseException:\n        pass\n"
        worker = pool.start("stuck", [("a", cell), ("b", "undefined_name\n")])
    finally:
        pool.close()
    assert runs.read_text() == "x"
    assert worker.cells[0]["name"] == "a" and "CellTimeout" in worker.cells[0]["error"]
    assert worker.cells[1]["name"] == "b" and "NameError" in worker.cells[1]["error"]


def test_stdin_is_not_the_connection(workers):
    cell = "import sys\ntry:\n    input()\nexcept EOFError:\n    pass\nsys.stdin.close()\ndef two(x):\n    return 2 * x\n"
    worker = workers.start("stdin", [("setup", SETUP), ("a", cell)])
    assert worker.cells[1] == {"name": "a"}
    assert torch.equal(worker.ask("call", target=["two"], args=[torch.ones(1)])["value"], 2 * torch.ones(1))


def test_backward_gives_the_inputs_gradients(workers):
    worker = workers.start("grad", [("setup", SETUP), ("a", "def square(w):\n    return (w ** 2).sum() / 2\n")])
    w = torch.tensor([1.0, -3.0])
    answer = worker.ask("call", target=["square"], args=[w], keep=True)
    back = worker.ask("backward", handle=answer["handle"], grad=torch.tensor(1.0))
    assert torch.equal(back["grads"][0], w)
