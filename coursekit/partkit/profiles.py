"""Run profiles: how large the lab's experiments are on this machine, and on which device.

One function, :func:`select_profile`, decides:

1. an explicit choice wins: the environment variable ``COURSE_PROFILE``, else
   ``[profiles] default`` in course.toml when it is not ``auto``;
2. otherwise ``grading`` while nbgrader executes the notebook (nbgrader sets
   ``NBGRADER_EXECUTION`` to ``autograde`` or ``validate``);
3. otherwise ``full`` when a CUDA GPU is available, else ``cpu``.

The numbers of each profile live in course.toml (``[profiles.NAME.*]``), never in a notebook.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import torch

from coursekit.config import (ENV_EXECUTION, ENV_PROFILE, PROFILE_NAMES, CourseConfig, Profile, ProfileError,
                              load_config)


@contextlib.contextmanager
def environment(**values: str | None) -> Iterator[None]:
    """Set (or, for None, remove) environment variables for the duration of a block."""
    saved = {key: os.environ.get(key) for key in values}
    for key, value in values.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@dataclass(frozen=True)
class Choice:
    """The profile chosen and why (shown to the student once)."""

    profile: Profile
    reason: str


def select_profile(config: CourseConfig | None = None,
                   environ: Mapping[str, str] | None = None,
                   cuda_available: bool | None = None) -> Choice:
    """Pick the run profile by the rules in this module's docstring."""
    config = config or load_config()
    environ = os.environ if environ is None else environ
    if cuda_available is None:
        cuda_available = torch.cuda.is_available()

    explicit = environ.get(ENV_PROFILE, "").strip()
    if explicit:
        source = f"{ENV_PROFILE}={explicit}"
    elif config.default_profile != "auto":
        explicit, source = config.default_profile, f"course.toml profiles.default = {config.default_profile}"
    if explicit:
        if explicit not in PROFILE_NAMES:
            raise ProfileError(
                f"unknown run profile '{explicit}' (from {source}); choose one of "
                f"{', '.join(PROFILE_NAMES)}, or unset it to choose automatically.")
        return Choice(config.profiles[explicit], f"chosen by {source}")

    execution = environ.get(ENV_EXECUTION, "")
    if execution in ("autograde", "validate"):
        return Choice(config.profiles["grading"], f"nbgrader is executing the notebook ({ENV_EXECUTION}={execution})")
    if cuda_available:
        return Choice(config.profiles["full"], "a CUDA GPU is available")
    return Choice(config.profiles["cpu"], "no GPU found: the lighter CPU settings")


def choose_device(cuda_available: bool | None = None) -> torch.device:
    """cuda when available, else cpu."""
    if cuda_available is None:
        cuda_available = torch.cuda.is_available()
    return torch.device("cuda" if cuda_available else "cpu")


def is_grading(environ: Mapping[str, str] | None = None) -> bool:
    """True while nbgrader executes the notebook (autograde or validate)."""
    environ = os.environ if environ is None else environ
    return environ.get(ENV_EXECUTION, "") in ("autograde", "validate")
