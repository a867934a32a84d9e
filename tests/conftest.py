"""Shared fixtures. Real-data tests need ``MNISTKIT_DATA_DIR``; without it they fail, never skip."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

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
