"""Data fixtures shared by the tests: the local MNIST mirror and a provisioned data root."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from dlcourse.data import MNIST_FILES, ensure_mnist


@pytest.fixture(scope="session")
def mnist_mirror() -> Path:
    """The read-only MNIST mirror: $COURSE_DATA_MIRROR, else ../shared/datasets. Never write here."""
    env = os.environ.get("COURSE_DATA_MIRROR")
    mirror = Path(env).expanduser().resolve() if env else (
        Path(__file__).resolve().parents[2] / "shared" / "datasets")
    missing = [name for name in MNIST_FILES if not (mirror / "MNIST" / "raw" / name).is_file()]
    if missing:
        pytest.fail(f"MNIST mirror {mirror} lacks MNIST/raw/{', '.join(missing)}: set "
                    f"COURSE_DATA_MIRROR to a folder holding MNIST/raw/*-ubyte (torchvision's layout).")
    return mirror


@pytest.fixture(scope="session")
def data_root(tmp_path_factory: pytest.TempPathFactory, mnist_mirror: Path) -> Path:
    """A data root in a temporary folder, provisioned from the mirror once per session."""
    return ensure_mnist(tmp_path_factory.mktemp("data-root"), mnist_mirror)


@pytest.fixture
def alembic_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """This interpreter's bin folder first on PATH: nbgrader runs `alembic` from PATH when it creates a
    gradebook, and `make test` runs the venv's python without activating the venv."""
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
