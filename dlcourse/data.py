"""MNIST for the lab: provisioning, in-memory loading and fast batching.

* :func:`ensure_mnist` makes sure ``<root>/MNIST/raw/`` holds the four genuine MNIST files
  (torchvision's layout), copying them from a local mirror or downloading them with
  torchvision. Every file is checked against :data:`MNIST_FILES` (SHA-256). A failed attempt
  leaves the data root exactly as it was.
* :func:`load_mnist` reads a whole split once, straight from the IDX files (a 16- or 8-byte header,
  then the bytes; the values torchvision's MNIST reader gives, without importing torchvision, which
  costs a grading kernel ≈ 1 s), into one normalised float tensor kept for the rest of the process.
* :func:`balanced_subset` picks the first ``n`` examples with the same count in every class.
* :func:`iterate_batches` cuts shuffled mini-batches out of in-memory tensors; it is several
  times faster than a ``DataLoader`` over ``datasets.MNIST`` with ``ToTensor``/``Normalize``
  (see ``benchmarks/data_pipeline.py``) and gives the same values.

Randomness only ever comes from a ``torch.Generator`` the caller passes in; nothing here
touches the global torch RNG.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.error import URLError

from coursekit.config import DataError

if TYPE_CHECKING:  # torch is imported where tensors are made: provisioning needs none of it, and
    import torch   # `coursekit grade`/`setup-data` start ≈ 2 s sooner without it
    from torch import Tensor

__all__ = [
    "DEFAULT_MEAN",
    "DEFAULT_STD",
    "MNIST_FILES",
    "DataError",
    "balanced_subset",
    "ensure_mnist",
    "iterate_batches",
    "load_mnist",
]

DEFAULT_MEAN = 0.1307
DEFAULT_STD = 0.3081
NUM_CLASSES = 10

#: The four raw MNIST files (uncompressed IDX, torchvision's names) and their SHA-256.
MNIST_FILES: dict[str, str] = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}

_STAMP_NAME = ".coursekit-verified.json"  # in MNIST/raw/: what was verified, and when
_STAGING_PREFIX = ".mnist-staging-"
_CHUNK = 1 << 20
_SETUP_HINT = "`python -m coursekit setup-data`"
_MIRROR_HINT = ("set COURSE_DATA_MIRROR to a folder holding MNIST/raw/*-ubyte (torchvision's layout)")


# --- hashing and the verification stamp ----------------------------------------------

def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _stat_key(path: Path) -> dict[str, int]:
    """What must stay the same for an earlier verification of ``path`` to still count."""
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "ino": st.st_ino,
            "ctime_ns": st.st_ctime_ns}


def _read_stamp(raw: Path) -> dict[str, dict]:
    try:
        stamp = json.loads((raw / _STAMP_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return stamp if isinstance(stamp, dict) else {}


def _write_stamp(raw: Path, stamp: dict[str, dict]) -> None:
    """Write the stamp atomically; a folder we may not write to only costs re-hashing later."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=_STAMP_NAME + ".", dir=raw)
    except OSError:
        return
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(stamp, handle, indent=1, sort_keys=True)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; the data files are not
        os.replace(tmp, raw / _STAMP_NAME)
    except OSError:
        Path(tmp).unlink(missing_ok=True)


def _check_root(raw: Path) -> tuple[list[str], dict[str, tuple[str, str]]]:
    """Return (missing file names, {corrupt name: (expected, actual)}) for ``raw``.

    A file whose size, mtime, inode and ctime match the stamp is not hashed again; any other
    file is hashed, and the stamp is rewritten when something new was verified.
    """
    stamp = _read_stamp(raw)
    new_stamp: dict[str, dict] = {}
    missing: list[str] = []
    corrupt: dict[str, tuple[str, str]] = {}
    changed = False
    for name, expected in MNIST_FILES.items():
        path = raw / name
        if not path.is_file():
            missing.append(name)
            continue
        key = _stat_key(path)
        entry = stamp.get(name)
        if isinstance(entry, dict) and entry == {**key, "sha256": expected}:
            new_stamp[name] = entry
            continue
        actual = _sha256(path)
        if actual != expected:
            corrupt[name] = (expected, actual)
            continue
        new_stamp[name] = {**_stat_key(path), "sha256": expected}
        changed = True
    if changed or set(new_stamp) != set(stamp):
        if new_stamp:
            _write_stamp(raw, new_stamp)
        elif stamp:
            try:
                (raw / _STAMP_NAME).unlink(missing_ok=True)
            except OSError:
                pass
    return missing, corrupt


# --- putting files in place ----------------------------------------------------------

def _mirror_raw(mirror: Path) -> Path | None:
    """The folder of ``mirror`` that holds the raw files: MNIST/raw, raw, or itself."""
    for candidate in (mirror / "MNIST" / "raw", mirror / "raw", mirror):
        if any((candidate / name).is_file() for name in MNIST_FILES):
            return candidate
    return None


def _copy_hashing(src: Path, dst: Path) -> str:
    """Copy ``src`` to ``dst`` and return the SHA-256 of the bytes actually written."""
    digest = hashlib.sha256()
    with open(src, "rb") as fin, open(dst, "xb") as fout:
        while chunk := fin.read(_CHUNK):
            digest.update(chunk)
            fout.write(chunk)
        fout.flush()
        os.fsync(fout.fileno())
    return digest.hexdigest()


def _link_or_copy(src: Path, dst: Path) -> str:
    """Hard-link ``src`` to ``dst`` when that is safe, else copy; return the SHA-256.

    A hard link shares the file with the mirror, so a write through the data root would
    change the mirror too. We link only when the mirror file is read-only *for us*
    (``os.access``; never true for root, who can write anything), so such a write fails.
    Any link error (another filesystem, protected_hardlinks, ...) falls back to a copy.
    """
    if not os.access(src, os.W_OK):
        try:
            os.link(src, dst)
        except OSError:
            pass
        else:
            return _sha256(dst)
    return _copy_hashing(src, dst)


class _Staging:
    """A temporary folder inside ``root`` for files on their way into ``raw``.

    Used as a context manager. On leaving, the temporary folder is removed; on failure,
    every folder created on the way (the root itself, ``MNIST/``, ``MNIST/raw/``) is removed
    again if still empty, so the data root is left exactly as it was.
    """

    def __init__(self, root: Path, raw: Path) -> None:
        self.root = root
        self.raw = raw
        self.created: list[Path] = []  # deepest first
        self.path = root  # replaced by the temporary folder in __enter__

    def _mkdirs(self, path: Path) -> None:
        missing = [p for p in (path, *path.parents) if not p.exists()]
        path.mkdir(parents=True, exist_ok=True)
        self.created = missing + self.created

    def __enter__(self) -> _Staging:
        try:
            self._mkdirs(self.root)
            self.path = Path(tempfile.mkdtemp(prefix=_STAGING_PREFIX, dir=self.root))
        except BaseException as err:
            self.__exit__(type(err), err, None)  # `with` does not call it when this fails
            raise
        return self

    def install(self, staged: dict[str, tuple[Path, str]]) -> None:
        """Move verified files {name: (staged path, sha256)} into ``raw`` and stamp them.

        Each ``os.replace`` is an atomic rename on the same filesystem, so every file in
        ``raw`` is at all times either the old one or a verified new one.
        """
        self._mkdirs(self.raw)
        stamp = _read_stamp(self.raw)
        for name, (path, sha) in staged.items():
            os.replace(path, self.raw / name)
            stamp[name] = {**_stat_key(self.raw / name), "sha256": sha}
        _write_stamp(self.raw, stamp)

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if self.path != self.root:
            shutil.rmtree(self.path, ignore_errors=True)
        if exc_type is not None:
            for folder in self.created:
                try:
                    folder.rmdir()  # only if still empty: never removes anybody else's files
                except OSError:
                    pass


def _write_error(root: Path, err: OSError) -> DataError:
    return DataError(
        f"could not write MNIST into {root}: {err}. Make the folder writable or choose another "
        f"[data] root in course.toml; the data root was left unchanged.")


def _provision_from_mirror(root: Path, raw: Path, mirror: Path, names: list[str]) -> None:
    mirror = mirror.expanduser()
    source = _mirror_raw(mirror) if mirror.is_dir() else None
    if source is None:
        what = "does not exist" if not mirror.exists() else "holds no MNIST/raw/*-ubyte files"
        raise DataError(
            f"MNIST mirror {mirror} {what}: {_MIRROR_HINT}, or unset it and connect to the "
            f"internet and rerun {_SETUP_HINT}. The data root {root} was left unchanged.")
    # 1. Verify every needed mirror file before touching the data root.
    for name in names:
        src = source / name
        if not src.is_file():
            raise DataError(
                f"MNIST mirror {source} lacks {name}: {_MIRROR_HINT}, holding all four files. "
                f"The data root {root} was left unchanged.")
        actual = _sha256(src)
        if actual != MNIST_FILES[name]:
            raise DataError(
                f"MNIST mirror file {src} is corrupt: SHA-256 expected {MNIST_FILES[name]}, "
                f"got {actual}. Replace it with a genuine copy (checksums in MNIST/SHA256SUMS) "
                f"or {_MIRROR_HINT} with intact files. The data root {root} was left unchanged.")
    # 2. Stage inside the root (same filesystem, so the final moves are atomic renames).
    try:
        with _Staging(root, raw) as staging:
            staged: dict[str, tuple[Path, str]] = {}
            for name in names:
                dst = staging.path / name
                actual = _link_or_copy(source / name, dst)
                if actual != MNIST_FILES[name]:
                    raise DataError(
                        f"MNIST mirror file {source / name} changed while being copied "
                        f"(SHA-256 {actual}, expected {MNIST_FILES[name]}); rerun {_SETUP_HINT}. "
                        f"The data root {root} was left unchanged.")
                staged[name] = (dst, actual)
            staging.install(staged)
    except OSError as err:
        raise _write_error(root, err) from err


def _provision_by_download(root: Path, raw: Path, names: list[str]) -> None:
    from torchvision import datasets  # imported here: only needed for a download

    try:
        with _Staging(root, raw) as staging:
            try:
                datasets.MNIST(staging.path, train=True, download=True)
            except (RuntimeError, URLError, OSError) as err:
                lines = str(err).strip().splitlines()
                raise DataError(
                    f"MNIST not found in {root} and no mirror set: {_MIRROR_HINT}, or connect "
                    f"to the internet and rerun {_SETUP_HINT} "
                    f"(the download failed: {lines[-1] if lines else type(err).__name__}). "
                    f"The data root {root} was left unchanged.") from err
            staged: dict[str, tuple[Path, str]] = {}
            for name in names:
                path = staging.path / "MNIST" / "raw" / name
                actual = _sha256(path)
                if actual != MNIST_FILES[name]:
                    raise DataError(
                        f"downloaded {name} does not match: SHA-256 expected {MNIST_FILES[name]}, "
                        f"got {actual}. Retry later or {_MIRROR_HINT}. "
                        f"The data root {root} was left unchanged.")
                staged[name] = (path, actual)
            staging.install(staged)
    except OSError as err:
        raise _write_error(root, err) from err


def ensure_mnist(root: Path, mirror: Path | None = None, download: bool = True) -> Path:
    """Make sure ``root/MNIST/raw/`` holds the four verified MNIST files; return ``root``.

    Files already in place are checked against :data:`MNIST_FILES`; a stamp file remembers
    what was verified, so a repeat call only ``stat``s the files. Missing files come from
    ``mirror`` (a folder holding ``MNIST/raw/*-ubyte``) when given, each verified by SHA-256
    before the data root is touched, else from torchvision's download (when ``download``).
    A corrupt file in the root is replaced from the mirror; without a mirror it is an error.
    Files are staged in a temporary folder inside ``root`` and moved into place with atomic
    renames; on any failure the data root is left exactly as it was.

    Raises:
        DataError: the files cannot be provided; the message says what to do.
    """
    root = Path(root).expanduser()
    raw = root / "MNIST" / "raw"
    missing, corrupt = _check_root(raw) if raw.is_dir() else (list(MNIST_FILES), {})
    if not missing and not corrupt:
        return root
    needed = [name for name in MNIST_FILES if name in missing or name in corrupt]
    if mirror is not None:
        _provision_from_mirror(root, raw, Path(mirror), needed)
    elif corrupt:
        name, (expected, actual) = next(iter(corrupt.items()))
        raise DataError(
            f"MNIST file {raw / name} is corrupt: SHA-256 expected {expected}, got {actual}. "
            f"Delete it and rerun {_SETUP_HINT} to download it again, or {_MIRROR_HINT} "
            f"to replace it from there.")
    elif not download:
        raise DataError(
            f"MNIST not found in {root} (missing {', '.join(missing)}) and no mirror set: "
            f"{_MIRROR_HINT}, or connect to the internet and rerun {_SETUP_HINT}.")
    else:
        _provision_by_download(root, raw, needed)
    missing, corrupt = _check_root(raw)
    if missing or corrupt:  # only if someone changed the files meanwhile
        raise DataError(f"MNIST in {raw} changed while being provisioned; rerun {_SETUP_HINT}.")
    return root


# --- in memory -------------------------------------------------------------------------

_CACHE: dict[tuple[str, bool], tuple[Tensor, Tensor]] = {}
_CACHE_LOCK = threading.Lock()


def load_mnist(train: bool = True, root: Path | None = None) -> tuple[Tensor, Tensor]:
    """Return a whole MNIST split as in-memory tensors ``(X, y)``.

    ``X`` is float32 of shape (N, 1, 28, 28), normalised as
    ``(pixel / 255 - DEFAULT_MEAN) / DEFAULT_STD`` (the values ``ToTensor()`` then
    ``Normalize((0.1307,), (0.3081,))`` give); ``y`` is int64 of shape (N,). The raw IDX files of
    ``<root>/MNIST/raw/`` are read directly (:func:`read_idx`): the same values as torchvision's
    ``datasets.MNIST(root, train=train, download=False)``, without importing torchvision.

    With ``root=None`` the course configuration decides: MNIST is provisioned with
    :func:`ensure_mnist` into ``load_config().data_root`` (from its mirror if set).
    An explicit ``root`` must already hold the files.

    Each (root, split) is loaded once per process; later calls return the *same* tensors.
    Do not modify them in place (``X.sub_(...)``, ``X[i] = ...``): take ``X.clone()`` first.
    """
    import torch

    if root is None:
        from coursekit.config import load_config

        cfg = load_config()
        root = cfg.data_root
        key = (str(Path(root).resolve()), bool(train))
        if key in _CACHE:
            return _CACHE[key]
        ensure_mnist(cfg.data_root, cfg.data_mirror)
    key = (str(Path(root).expanduser().resolve()), bool(train))
    with _CACHE_LOCK:
        if key not in _CACHE:
            raw = Path(key[0]) / "MNIST" / "raw"
            prefix = "train" if train else "t10k"
            pixels = read_idx(raw / f"{prefix}-images-idx3-ubyte", dims=3)
            labels = read_idx(raw / f"{prefix}-labels-idx1-ubyte", dims=1)
            if labels.shape[0] != pixels.shape[0]:
                raise DataError(f"{raw}: {pixels.shape[0]} images but {labels.shape[0]} labels in the "
                                f"{prefix} files; {_SETUP_HINT} provisions genuine MNIST.")
            images = pixels.unsqueeze(1).to(torch.float32).div_(255)
            images.sub_(DEFAULT_MEAN).div_(DEFAULT_STD)
            _CACHE[key] = (images, labels.to(torch.int64))
        return _CACHE[key]


def read_idx(path: Path, dims: int) -> Tensor:
    """An uncompressed IDX file of unsigned bytes (MNIST's format) as a uint8 tensor of its shape.

    The header is two zero bytes, the type 0x08 (unsigned byte), the number of dimensions, then each
    dimension as a big-endian 32-bit integer; the data follow. Anything else is a :class:`DataError`
    naming the file."""
    import torch

    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise DataError(f"MNIST not found in {Path(path).parent} ({err}): run ensure_mnist() on that "
                        f"folder first, or {_SETUP_HINT}.") from err
    header = 4 + 4 * dims
    if len(data) < header or data[:3] != b"\x00\x00\x08" or data[3] != dims:
        raise DataError(f"{path} is not an IDX file of unsigned bytes with {dims} dimension(s)")
    shape = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims)]
    size = 1
    for n in shape:
        size *= n
    if len(data) != header + size:
        raise DataError(f"{path}: the header says {shape} ({size} bytes) but the file holds "
                        f"{len(data) - header} bytes of data")
    return torch.frombuffer(bytearray(memoryview(data)[header:]), dtype=torch.uint8).view(*shape)


def _largest_balanced(counts: list[int]) -> int:
    """The largest n that :func:`balanced_subset` can serve with these per-class counts."""
    q = min(counts)
    r = 0
    while r < NUM_CLASSES - 1 and counts[r] > q:
        r += 1
    return NUM_CLASSES * q + r


def balanced_subset(X: Tensor, y: Tensor, n: int) -> tuple[Tensor, Tensor]:
    """The first ``n`` examples of ``(X, y)`` with (almost) equal counts per class.

    Walking the data in order, examples are taken until each of the 10 classes has
    ``n // 10`` of them; the first ``n % 10`` classes by label (0, 1, ...) get one more.
    The result keeps the original order. Deterministic: no randomness at all.

    Raises:
        ValueError: ``n`` is negative, or some class has too few examples.
    """
    import torch

    if len(X) != len(y):
        raise ValueError(f"balanced_subset: X has {len(X)} examples but y has {len(y)}.")
    if n < 0:
        raise ValueError(f"balanced_subset: n must be >= 0, got {n}.")
    per, extra = divmod(n, NUM_CLASSES)
    labels = y.detach().to("cpu")
    counts = torch.bincount(labels[(labels >= 0) & (labels < NUM_CLASSES)],
                            minlength=NUM_CLASSES).tolist()
    picks = []
    for cls in range(NUM_CLASSES):
        quota = per + (1 if cls < extra else 0)
        if counts[cls] < quota:
            raise ValueError(
                f"balanced_subset: n={n} needs {quota} examples of class {cls} but there are "
                f"only {counts[cls]} among {len(y)}; the largest balanced n here is "
                f"{_largest_balanced(counts)}.")
        picks.append(torch.nonzero(labels == cls).flatten()[:quota])
    index = torch.cat(picks).sort().values.to(y.device)
    return X[index.to(X.device)], y[index]


def iterate_batches(
    X: Tensor,
    y: Tensor,
    batch_size: int,
    generator: torch.Generator | None = None,
    shuffle: bool = True,
    device: torch.device | str | None = None,
) -> Iterator[tuple[Tensor, Tensor]]:
    """Yield mini-batches ``(X_batch, y_batch)`` covering ``(X, y)`` once (one epoch).

    With ``shuffle``, the order is one ``torch.randperm(len(X), generator=generator)``,
    drawn when this function is *called* (so the generator advances once per call, whenever
    the batches are consumed); the same seed gives the same batches. The last batch may be
    smaller than ``batch_size``. Each batch is gathered with one ``index_select`` into a new
    contiguous tensor (measured on MNIST: about 4x faster than gathering the whole permuted
    split at once, and no second copy of the split in memory); without shuffling, batches
    are views. With ``device``, batches are moved there (no copy if already there).
    """
    import torch

    if batch_size < 1:
        raise ValueError(f"iterate_batches: batch_size must be >= 1, got {batch_size}.")
    if len(X) != len(y):
        raise ValueError(f"iterate_batches: X has {len(X)} examples but y has {len(y)}.")
    order = None
    if shuffle:
        order = torch.randperm(len(X), generator=generator,
                               device=generator.device if generator is not None else "cpu")
    return _batches(X, y, batch_size, order, device)


def _batches(X: Tensor, y: Tensor, batch_size: int, order: Tensor | None,
             device: torch.device | str | None) -> Iterator[tuple[Tensor, Tensor]]:
    x_order = y_order = order
    if order is not None:
        x_order, y_order = order.to(X.device), order.to(y.device)
    for start in range(0, len(X), batch_size):
        if x_order is None or y_order is None:
            xb, yb = X[start:start + batch_size], y[start:start + batch_size]
        else:
            xb = X.index_select(0, x_order[start:start + batch_size])
            yb = y.index_select(0, y_order[start:start + batch_size])
        if device is not None:
            xb, yb = xb.to(device), yb.to(device)
        yield xb, yb


def preload_mnist() -> None:
    """Both splits into this process's memory, as every kernel's session loads them (the grading
    zygote calls it once: the kernels forked from it then share the tensors copy-on-write)."""
    from coursekit.config import load_config
    root = load_config().data_root
    for train in (True, False):
        load_mnist(train=train, root=root)


def provision(config) -> str:
    """The course's data hook (``Assignment.provision``): MNIST into the course's data folder, verified."""
    where = f"the mirror {config.data_mirror}" if config.data_mirror else "torchvision's download"
    ensure_mnist(config.data_root, config.data_mirror)
    return f"MNIST is ready in {config.data_root} (from {where}; verified by SHA-256)"
