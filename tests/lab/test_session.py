"""dlcourse: the notebook's first call chooses and prints the profile, and loads MNIST once."""

from __future__ import annotations

import pytest
import torch

from dlcourse import start


@pytest.mark.parametrize("cuda", [None, False, True], ids=["this-machine", "no-gpu", "gpu"])
def test_start_prints_profile_and_device_once(capsys, monkeypatch, cuda):
    """The device is cuda when torch sees a GPU, else cpu: on this machine as it is, and on one with and
    one without a GPU (torch's answer stood in for)."""
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    monkeypatch.delenv("COURSE_PROFILE", raising=False)
    if cuda is not None:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    expected = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    threads = torch.get_num_threads()
    try:
        session = start()
        out = capsys.readouterr().out
        assert out.count("\n") == 1 and "profile = grading" in out and out.rstrip().endswith(f"device = {expected}")
        assert session.device == expected
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
    """`coursekit grade` reads MNIST's files through dlcourse.data: no torch import for that."""
    import subprocess
    import sys
    code = "import sys, dlcourse, dlcourse.data; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"
