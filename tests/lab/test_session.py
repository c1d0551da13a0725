"""coursekit.lab: the notebook's first call chooses and prints the profile, and loads MNIST once."""

from __future__ import annotations

import torch

from coursekit.lab import start


def test_start_prints_profile_and_device_once(capsys, monkeypatch):
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    monkeypatch.delenv("COURSE_PROFILE", raising=False)
    threads = torch.get_num_threads()
    try:
        session = start()
        out = capsys.readouterr().out
        assert out.count("\n") == 1 and "profile = grading" in out and "device = cpu" in out
        assert session.profile.name == "grading" and session.seed == session.profile.seed
        assert torch.get_num_threads() == session.profile.threads
    finally:
        torch.set_num_threads(threads)


def test_mnist_is_loaded_once_and_normalised(monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "cpu")
    session = start(quiet=True)
    (X_train, y_train), (X_test, y_test) = session.mnist()
    assert X_train.shape == (60000, 1, 28, 28) and X_test.shape == (10000, 1, 28, 28)
    assert abs(X_train.mean().item()) < 0.01 and abs(X_train.std().item() - 1) < 0.01
    assert session.mnist()[0][0] is X_train


def test_importing_the_lab_package_leaves_torch_to_start():
    """`coursekit grade` reads MNIST's files through coursekit.lab.data: no torch import for that."""
    import subprocess
    import sys
    code = "import sys, coursekit.lab, coursekit.lab.data; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"
