"""Shared fixtures. Real-data tests need ``MNISTKIT_DATA_DIR``; without it they fail, never skip."""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import pytest

# the browser tests' fixtures: the built site, a local server, headless Chromium
from _browser import base_url, browser, site  # noqa: F401

from mnistkit import datasets
from mnistkit.datasets import DatasetSplits


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
