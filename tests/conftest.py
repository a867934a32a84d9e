"""Shared fixtures. Real-data tests need ``MNISTKIT_DATA_DIR``; without it they fail, never skip.

Every test that reads the real files, through the fixtures in :data:`REAL_DATA_FIXTURES`
(directly or through another fixture), is marked ``data`` here; the quick tier,
``pytest -m "not data"``, runs the rest without the data sets. Those tests may use
:func:`synthetic_data_root`: small, well-formed IDX files written for the session.
"""

from __future__ import annotations

import gzip
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

# the browser tests' fixtures: the built site, a local server, headless Chromium
from _browser import base_url, browser, site  # noqa: F401

from mnistkit import datasets
from mnistkit.datasets import DatasetSplits

#: Fixtures that read the real data sets (from ``MNISTKIT_DATA_DIR``). A test that uses one,
#: however indirectly, is marked ``data``. ``mnist_digits`` is tests/test_imaging.py's;
#: ``site`` is the documentation site, built by running the gallery on the real data.
REAL_DATA_FIXTURES = frozenset({"data_root", "mnist", "fashion", "mnist_digits", "site"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        # fixturenames holds every fixture the test needs, those of its fixtures included
        if REAL_DATA_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.data)


def _data_root() -> Path:
    value = os.environ.get("MNISTKIT_DATA_DIR")
    if not value:
        pytest.fail(
            "MNISTKIT_DATA_DIR is not set: the tests run on the real MNIST and Fashion-MNIST "
            "files. Point it at a folder holding mnist/ and fashion-mnist/ (see README.md)."
        )
    root = Path(value)
    for name in ("mnist", "fashion-mnist"):
        if not (root / name).is_dir():
            pytest.fail(f"MNISTKIT_DATA_DIR={value!r} has no {name}/ folder.")
    return root


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The real data folder from ``MNISTKIT_DATA_DIR``."""
    return _data_root()


@pytest.fixture(scope="session")
def mnist(data_root: Path) -> DatasetSplits:
    """Real MNIST, loaded once per test session (tests must not modify it)."""
    return datasets.load("mnist", root=data_root, download=False)


@pytest.fixture(scope="session")
def fashion(data_root: Path) -> DatasetSplits:
    """Real Fashion-MNIST, loaded once per test session."""
    return datasets.load("fashion-mnist", root=data_root, download=False)


#: What the gzip bomb holds: an IDX header declaring 60,000 labels, then this many zero bytes.
BOMB_HEADER = b"\x00\x00\x08\x01" + (60_000).to_bytes(4, "big")
BOMB_ZEROS = 1 << 30


def write_gzip_bomb(path: Path, header: bytes, zeros: int, *, step: int = 1 << 20) -> None:
    """Write a valid one-member gzip file of ``header`` and then ``zeros`` zero bytes.

    Compressing a gigabyte takes seconds; this takes a fraction of one. Each step of zeros
    is compressed after a full flush, which restarts deflate from an empty history, so that
    step's compressed form stands alone and is written again for every later step. Only the
    CRC-32 in the trailer is computed over all the content.
    """
    if zeros % step:
        raise ValueError(f"zeros ({zeros}) must be a multiple of step ({step})")
    deflate = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)  # raw deflate, no framing
    block = bytes(step)
    crc = zlib.crc32(header)
    with path.open("wb") as out:
        # gzip member header: magic, deflate, no flags, no mtime, no extra flags, OS unknown.
        out.write(b"\x1f\x8b\x08\x00" + bytes(4) + b"\x00\xff")
        out.write(deflate.compress(header) + deflate.flush(zlib.Z_FULL_FLUSH))
        step_deflated = deflate.compress(block) + deflate.flush(zlib.Z_FULL_FLUSH)
        for _ in range(zeros // step):
            out.write(step_deflated)
            crc = zlib.crc32(block, crc)
        out.write(deflate.flush())  # the final, empty block
        out.write(struct.pack("<II", crc, (len(header) + zeros) & 0xFFFFFFFF))


@pytest.fixture(scope="session")
def gzip_bomb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``train-labels-idx1-ubyte.gz``, about 1 MB, that decompresses to 1 GiB + 8 bytes: a
    valid header declaring 60,000 labels followed by 1 GiB of zeros."""
    path = tmp_path_factory.mktemp("bomb") / "train-labels-idx1-ubyte.gz"
    write_gzip_bomb(path, BOMB_HEADER, BOMB_ZEROS)
    return path


# --------------------------------------------------------------------------- synthetic data
#: Examples per class in each split of the synthetic data sets.
SYNTHETIC_PER_CLASS = {"train": 40, "test": 10}
_SYNTHETIC_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def idx_bytes(array: npt.NDArray[np.uint8]) -> bytes:
    """``array`` (uint8, any number of dimensions) as the bytes of an IDX file."""
    dims = b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    return b"\x00\x00\x08" + bytes([array.ndim]) + dims + np.ascontiguousarray(array).tobytes()


def synthetic_split(
    split: str, *, seed: int = 0
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8]]:
    """Images (N, 28, 28) and labels (N,) of a learnable toy split, ten classes in turn.

    Class ``k`` is a bright horizontal bar at rows ``2k + 4`` and ``2k + 5`` over faint noise,
    so a small model tells the classes apart within an epoch or two.
    """
    rng = np.random.default_rng([seed, 0 if split == "train" else 1])
    count = 10 * SYNTHETIC_PER_CLASS[split]
    labels = (np.arange(count) % 10).astype(np.uint8)
    images = rng.integers(0, 40, size=(count, 28, 28), dtype=np.uint8)
    for index, label in enumerate(labels):
        row = 2 * int(label) + 4
        images[index, row : row + 2, 4:24] = rng.integers(200, 256, size=(2, 20), dtype=np.uint8)
    return images, labels


def write_synthetic_data_set(folder: Path, *, seed: int = 0) -> None:
    """Write the four gzip-compressed IDX files of a synthetic data set into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for split, (images_stem, labels_stem) in _SYNTHETIC_FILES.items():
        images, labels = synthetic_split(split, seed=seed)
        (folder / f"{images_stem}.gz").write_bytes(gzip.compress(idx_bytes(images), mtime=0))
        (folder / f"{labels_stem}.gz").write_bytes(gzip.compress(idx_bytes(labels), mtime=0))


@pytest.fixture(scope="session")
def synthetic_data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder holding ``mnist/`` and ``fashion-mnist/`` of small synthetic IDX files.

    400 training and 100 test images of 28x28 in each (see :func:`synthetic_split`): the
    real files' format, not their content, so load them with ``verify=False`` (their
    SHA-256 and sizes are not the registry's, and ``verify=True`` refuses them). Tests must
    not modify the folder; copy it first.
    """
    root = tmp_path_factory.mktemp("synthetic-data")
    write_synthetic_data_set(root / "mnist", seed=0)
    write_synthetic_data_set(root / "fashion-mnist", seed=1)
    return root


@pytest.fixture(scope="session")
def synthetic_mnist(synthetic_data_root: Path) -> DatasetSplits:
    """The synthetic "mnist" of :func:`synthetic_data_root`, loaded (tests must not modify it)."""
    return datasets.load("mnist", root=synthetic_data_root, download=False, verify=False)
