"""Tests of dlcourse.data: provisioning MNIST safely, loading it, balancing and batching.

Nothing here writes into the mirror: corrupt mirrors are built in tmp_path (symlinks to the
genuine files plus one altered copy), and files in a data root are only ever *replaced*
(a new file moved over the old name), never modified in place.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import socket
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import torchvision
from torchvision import datasets, transforms

import coursekit.config
import dlcourse.data as data
from dlcourse.data import (DEFAULT_MEAN, DEFAULT_STD, MNIST_FILES, DataError, balanced_subset,
                            ensure_mnist, iterate_batches, load_mnist)

ROOT_STATES = ["missing", "empty", "unrelated-file"]


# --- helpers ---------------------------------------------------------------------------

def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def listing(root: Path) -> list[tuple] | None:
    """Everything under `root` (paths, kinds, sizes, mtimes); None if it does not exist."""
    if not root.exists():
        return None
    entries = []
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        entries.append((str(path.relative_to(root)), path.is_dir(), st.st_size, st.st_mtime_ns))
    return entries


def make_root(tmp_path: Path, state: str) -> Path:
    root = tmp_path / "root"
    if state != "missing":
        root.mkdir()
    if state == "unrelated-file":
        (root / "notes.txt").write_text("keep me\n")
    return root


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to reach the network (or torchvision's downloader) fails at once."""
    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError("network disabled by the test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture
def corrupt_mirror(tmp_path: Path, mnist_mirror: Path) -> tuple[Path, str]:
    """A mirror in tmp_path: three files symlinked to the genuine ones, one with a byte flipped."""
    bad_name = "t10k-labels-idx1-ubyte"
    raw = tmp_path / "bad-mirror" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in MNIST_FILES:
        if name != bad_name:
            (raw / name).symlink_to(mnist_mirror / "MNIST" / "raw" / name)
    content = bytearray((mnist_mirror / "MNIST" / "raw" / bad_name).read_bytes())
    content[100] ^= 0xFF
    (raw / bad_name).write_bytes(bytes(content))
    return tmp_path / "bad-mirror", bad_name


def replace_with_corrupt_copy(path: Path) -> None:
    """Put a same-size, same-mtime copy with one byte flipped in place of `path` (no in-place write)."""
    st = path.stat()
    content = bytearray(path.read_bytes())
    content[len(content) // 2] ^= 0x01
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(bytes(content))
    os.utime(tmp, ns=(st.st_atime_ns, st.st_mtime_ns))
    os.replace(tmp, path)


# --- provisioning ----------------------------------------------------------------------

def test_checksums_match_the_mirrors_sha256sums(mnist_mirror: Path) -> None:
    sums = {}
    for line in (mnist_mirror / "MNIST" / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split()
        sums[name] = digest
    assert sums == MNIST_FILES


def test_mirror_is_verified_and_used_without_network(
        tmp_path: Path, mnist_mirror: Path, no_network: None, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_download(self: object) -> None:
        raise AssertionError("torchvision's download must not be used when a mirror is given")

    monkeypatch.setattr(torchvision.datasets.MNIST, "download", no_download)
    root = tmp_path / "root"
    assert ensure_mnist(root, mnist_mirror) == root
    raw = root / "MNIST" / "raw"
    for name, digest in MNIST_FILES.items():
        assert sha256(raw / name) == digest
    # Only MNIST/raw/ with the four files (and the verification stamp); no staging left over.
    assert [p.name for p in root.iterdir()] == ["MNIST"]
    assert {p.name for p in raw.iterdir()} == set(MNIST_FILES) | {data._STAMP_NAME}


@pytest.mark.parametrize("state", ROOT_STATES)
def test_corrupt_mirror_is_refused_and_root_left_unchanged(
        tmp_path: Path, corrupt_mirror: tuple[Path, str], state: str) -> None:
    mirror, bad_name = corrupt_mirror
    root = make_root(tmp_path, state)
    before = listing(root)
    with pytest.raises(DataError) as info:
        ensure_mnist(root, mirror)
    message = str(info.value)
    assert bad_name in message and "corrupt" in message
    assert MNIST_FILES[bad_name] in message  # the expected SHA-256
    assert sha256(mirror / "MNIST" / "raw" / bad_name) in message  # the actual one
    assert listing(root) == before


@pytest.mark.parametrize("state", ROOT_STATES)
def test_missing_mirror_folder_gives_advice_and_root_left_unchanged(tmp_path: Path, state: str) -> None:
    root = make_root(tmp_path, state)
    before = listing(root)
    with pytest.raises(DataError, match="set COURSE_DATA_MIRROR") as info:
        ensure_mnist(root, tmp_path / "no-such-mirror")
    assert str(tmp_path / "no-such-mirror") in str(info.value)
    assert listing(root) == before


@pytest.mark.parametrize("state", ROOT_STATES)
def test_no_mirror_and_no_network_gives_advice_and_leaves_nothing(
        tmp_path: Path, no_network: None, state: str) -> None:
    root = make_root(tmp_path, state)
    before = listing(root)
    with pytest.raises(DataError, match="connect to the internet") as info:
        ensure_mnist(root)
    assert "set COURSE_DATA_MIRROR" in str(info.value)
    assert listing(root) == before


def test_no_mirror_and_download_disabled(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="set COURSE_DATA_MIRROR"):
        ensure_mnist(tmp_path / "root", download=False)
    assert not (tmp_path / "root").exists()


def test_failure_while_copying_leaves_root_unchanged(
        tmp_path: Path, mnist_mirror: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = data._link_or_copy
    calls = []

    def failing(src: Path, dst: Path) -> str:
        calls.append(src.name)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        return real(src, dst)

    monkeypatch.setattr(data, "_link_or_copy", failing)
    root = make_root(tmp_path, "unrelated-file")
    before = listing(root)
    with pytest.raises(DataError, match="No space left on device"):
        ensure_mnist(root, mnist_mirror)
    assert len(calls) == 3
    assert listing(root) == before


def test_corrupt_file_in_root_is_detected_and_reprovisioned(tmp_path: Path, mnist_mirror: Path) -> None:
    root = ensure_mnist(tmp_path / "root", mnist_mirror)
    bad = root / "MNIST" / "raw" / "t10k-labels-idx1-ubyte"
    replace_with_corrupt_copy(bad)  # same size and mtime: the stamp must still notice
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte") as info:
        ensure_mnist(root)
    assert "corrupt" in str(info.value) and MNIST_FILES[bad.name] in str(info.value)
    ensure_mnist(root, mnist_mirror)
    assert sha256(bad) == MNIST_FILES[bad.name]
    assert not [p for p in root.iterdir() if p.name.startswith(data._STAGING_PREFIX)]


def test_repeat_call_is_fast_and_copies_nothing(
        data_root: Path, mnist_mirror: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    raw = data_root / "MNIST" / "raw"
    ensure_mnist(data_root, mnist_mirror)  # the stamp is in place
    before = {name: (raw / name).stat() for name in MNIST_FILES}

    def no_hashing(path: Path) -> str:
        raise AssertionError(f"{path} was hashed again although unchanged")

    monkeypatch.setattr(data, "_sha256", no_hashing)
    start = time.perf_counter()
    assert ensure_mnist(data_root, mnist_mirror) == data_root
    assert time.perf_counter() - start < 0.2
    after = {name: (raw / name).stat() for name in MNIST_FILES}
    for name in MNIST_FILES:
        assert (after[name].st_ino, after[name].st_mtime_ns) == (before[name].st_ino, before[name].st_mtime_ns)


# --- loading ---------------------------------------------------------------------------

@pytest.mark.parametrize("train", [True, False])
def test_in_memory_tensors_equal_torchvision_items(data_root: Path, train: bool) -> None:
    X, y = load_mnist(train=train, root=data_root)
    n = 60000 if train else 10000
    assert X.shape == (n, 1, 28, 28) and X.dtype == torch.float32
    assert y.shape == (n,) and y.dtype == torch.int64
    reference = datasets.MNIST(data_root, train=train, transform=transforms.Compose(
        [transforms.ToTensor(), transforms.Normalize((DEFAULT_MEAN,), (DEFAULT_STD,))]))
    indices = torch.randint(n, (20,), generator=torch.Generator().manual_seed(1)).tolist()
    for i in [0, n - 1, *indices]:
        image, label = reference[i]
        assert torch.allclose(X[i], image, atol=1e-6), i
        assert int(y[i]) == label, i


@pytest.mark.parametrize("train", [True, False])
def test_every_pixel_and_label_is_torchvisions(data_root: Path, train: bool) -> None:
    X, y = load_mnist(train=train, root=data_root)
    reference = datasets.MNIST(data_root, train=train)
    pixels = (X.squeeze(1) * DEFAULT_STD + DEFAULT_MEAN).mul_(255).round_().to(torch.uint8)
    assert torch.equal(pixels, reference.data) and torch.equal(y, reference.targets)


def test_the_reader_needs_no_torchvision(data_root: Path) -> None:
    script = ("import sys; from dlcourse.data import load_mnist; "
              f"load_mnist(train=False, root={str(data_root)!r}); "
              "assert 'torchvision' not in sys.modules, sorted(m for m in sys.modules if 'vision' in m)")
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]


@pytest.mark.parametrize("damage, message", [
    (lambda b: b[:10], "not an IDX file"),
    (lambda b: b"\x00\x00\x0d\x03" + b[4:], "not an IDX file"),      # float data, not bytes
    (lambda b: b[:-5], "the header says"),
])
def test_a_damaged_idx_file_is_a_data_error_naming_it(data_root: Path, tmp_path: Path, damage, message) -> None:
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        shutil.copyfile(data_root / "MNIST" / "raw" / name, raw / name)
    images = raw / "t10k-images-idx3-ubyte"
    images.write_bytes(damage(images.read_bytes()))
    with pytest.raises(DataError, match=message) as err:
        load_mnist(train=False, root=tmp_path)
    assert "t10k-images-idx3-ubyte" in str(err.value)


def test_load_is_cached(data_root: Path) -> None:
    first = load_mnist(train=False, root=data_root)
    start = time.perf_counter()
    second = load_mnist(train=False, root=data_root)
    assert time.perf_counter() - start < 0.05
    assert second[0] is first[0] and second[1] is first[1]


def test_load_without_root_uses_the_config(
        tmp_path: Path, mnist_mirror: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = SimpleNamespace(data_root=tmp_path / "data", data_mirror=mnist_mirror)
    monkeypatch.setattr(coursekit.config, "load_config", lambda: cfg)
    X, y = load_mnist(train=False)
    assert X.shape == (10000, 1, 28, 28) and len(y) == 10000
    assert sha256(tmp_path / "data" / "MNIST" / "raw" / "t10k-images-idx3-ubyte") == \
        MNIST_FILES["t10k-images-idx3-ubyte"]


def test_load_from_an_empty_root_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="ensure_mnist"):
        load_mnist(train=False, root=tmp_path)


# --- batching --------------------------------------------------------------------------

def small_data(n: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
    X = torch.arange(n, dtype=torch.float32).repeat_interleave(4).reshape(n, 1, 2, 2)
    return X, torch.arange(n)


def epoch_order(X: torch.Tensor, y: torch.Tensor, seed: int, batch_size: int = 64) -> torch.Tensor:
    batches = list(iterate_batches(X, y, batch_size, generator=torch.Generator().manual_seed(seed)))
    return torch.cat([yb for _, yb in batches])


def test_same_seed_same_order_different_seed_different_order() -> None:
    X, y = small_data()
    assert torch.equal(epoch_order(X, y, 0), epoch_order(X, y, 0))
    assert not torch.equal(epoch_order(X, y, 0), epoch_order(X, y, 1))


def test_each_example_once_per_epoch_last_partial_batch_kept() -> None:
    X, y = small_data(1000)
    generator = torch.Generator().manual_seed(3)
    orders = []
    for _ in range(2):  # one randperm per call: the two epochs differ
        batches = list(iterate_batches(X, y, 64, generator=generator))
        assert [len(xb) for xb, _ in batches] == [64] * 15 + [40]
        for xb, yb in batches:  # images and labels stay paired; batches are contiguous
            assert xb.is_contiguous() and torch.equal(xb[:, 0, 0, 0].long(), yb)
        order = torch.cat([yb for _, yb in batches])
        assert torch.equal(order.sort().values, y)
        orders.append(order)
    assert not torch.equal(orders[0], orders[1])


def test_no_shuffle_keeps_order_and_device_is_honoured() -> None:
    X, y = small_data(130)
    batches = list(iterate_batches(X, y, 64, shuffle=False, device="cpu"))
    assert [len(yb) for _, yb in batches] == [64, 64, 2]
    assert torch.equal(torch.cat([yb for _, yb in batches]), y)
    assert all(xb.device.type == "cpu" for xb, _ in batches)
    with pytest.raises(ValueError, match="batch_size"):
        iterate_batches(X, y, 0)


def test_batches_of_real_mnist_pair_images_with_labels(data_root: Path) -> None:
    X, y = load_mnist(train=False, root=data_root)
    seen = 0
    for _, yb in iterate_batches(X, y, 1000, generator=torch.Generator().manual_seed(0)):
        seen += len(yb)
    assert seen == len(X)
    xb, yb = next(iterate_batches(X, y, 8, generator=torch.Generator().manual_seed(5)))
    perm = torch.randperm(len(X), generator=torch.Generator().manual_seed(5))[:8]
    assert torch.equal(xb, X[perm]) and torch.equal(yb, y[perm])


# --- balanced subsets ------------------------------------------------------------------

def walk_first_balanced(labels: list[int], n: int) -> list[int]:
    """The reference: walk the data in order, taking examples while their class has room."""
    quota = [n // 10 + (1 if c < n % 10 else 0) for c in range(10)]
    taken = []
    for i, label in enumerate(labels):
        if quota[label] > 0:
            quota[label] -= 1
            taken.append(i)
    return taken


@pytest.mark.parametrize("n", [0, 10, 1000, 1005, 2049])
def test_balanced_subset_takes_the_first_examples_of_each_class(data_root: Path, n: int) -> None:
    X, y = load_mnist(train=True, root=data_root)
    ids = torch.arange(len(y))
    chosen, labels = balanced_subset(ids, y, n)
    expected = walk_first_balanced(y.tolist(), n)
    assert chosen.tolist() == expected  # same examples, original order
    assert torch.equal(labels, y[chosen])
    counts = torch.bincount(labels, minlength=10).tolist()
    assert counts == [n // 10 + (1 if c < n % 10 else 0) for c in range(10)]
    Xs, ys = balanced_subset(X, y, n)
    assert torch.equal(Xs, X[chosen]) and torch.equal(ys, labels)
    again = balanced_subset(X, y, n)
    assert torch.equal(again[0], Xs) and torch.equal(again[1], ys)


def test_balanced_subset_too_large_raises(data_root: Path) -> None:
    _, y = load_mnist(train=True, root=data_root)
    ids = torch.arange(len(y))
    counts = torch.bincount(y, minlength=10).tolist()
    largest = 10 * min(counts)
    while largest % 10 < 9 and counts[largest % 10] > min(counts):
        largest += 1
    assert len(balanced_subset(ids, y, largest)[0]) == largest
    with pytest.raises(ValueError, match=f"largest balanced n here is {largest}"):
        balanced_subset(ids, y, largest + 1)
    with pytest.raises(ValueError, match="n must be >= 0"):
        balanced_subset(ids, y, -1)
