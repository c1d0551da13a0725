"""What the notebook calls first: choose the run profile and device, load MNIST once.

    from dlcourse import start
    session = start()                  # prints the profile, why, and the device
    train, test = session.mnist()      # in-memory tensors, loaded once
    settings = session.profile.dropout # the numbers for one experiment
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from coursekit.config import CourseConfig, Profile, load_config
from coursekit.environment import ENV_THREADS
from dlcourse.data import load_mnist

if TYPE_CHECKING:  # torch is imported by start(): `import dlcourse` alone (the grader's
    import torch   # `coursekit grade` reads MNIST's files through it) starts ≈ 1-2 s sooner without it


@dataclass
class LabSession:
    """The run profile, the device, and the course configuration of one notebook run."""

    config: CourseConfig
    profile: Profile
    reason: str
    device: torch.device
    _mnist: tuple | None = field(default=None, repr=False)

    @property
    def seed(self) -> int:
        return self.profile.seed

    def mnist(self) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
        """((X_train, y_train), (X_test, y_test)): normalised images (N, 1, 28, 28) and labels."""
        if self._mnist is None:
            root = self.config.data_root
            from dlcourse.data import ensure_mnist
            ensure_mnist(root, self.config.data_mirror)
            self._mnist = (load_mnist(train=True, root=root), load_mnist(train=False, root=root))
        return self._mnist


def show_figures_inline() -> None:
    """In a Jupyter kernel, draw figures inline even if MPLBACKEND names another backend
    (an inherited MPLBACKEND=Agg would silently drop every figure from the notebook and
    from the feedback)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is not None and shell.__class__.__name__ == "ZMQInteractiveShell":
        shell.run_line_magic("matplotlib", "inline")


def start(quiet: bool = False) -> LabSession:
    """Choose profile and device (printed once), set torch's thread count, make figures show
    inline, and return the session."""
    import torch

    from coursekit.partkit.profiles import choose_device, select_profile
    show_figures_inline()
    config = load_config()
    choice = select_profile(config)
    device = choose_device()
    # COURSE_THREADS (set by `coursekit grade` for parallel workers) wins over the profile.
    threads = int(os.environ.get(ENV_THREADS, "0") or 0) or choice.profile.threads
    if threads:
        torch.set_num_threads(threads)
    if not quiet:
        print(f"运行配置 profile = {choice.profile.name}（{choice.reason}）；设备 device = {device}")
    return LabSession(config=config, profile=choice.profile, reason=choice.reason, device=device)
