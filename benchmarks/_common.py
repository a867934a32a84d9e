"""Helpers shared by the benchmark scripts: data folders, environment facts, tables, JSON.

Not part of the library: the scripts in this folder import it as a sibling module
(``python benchmarks/bench_data.py`` puts ``benchmarks/`` on ``sys.path``).
"""

from __future__ import annotations

import datetime as _dt
import gzip
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from mnistkit.datasets import Split

__all__ = [
    "IDX_FILES",
    "RESULTS_DIR",
    "environment",
    "format_table",
    "median",
    "prepare_torchvision_root",
    "resolve_data_root",
    "synchronize",
    "write_json",
]

#: Where the scripts write their JSON unless told otherwise (ignored by git).
RESULTS_DIR = Path(__file__).resolve().parent / "results"

#: The four IDX files of MNIST, without the ``.gz`` suffix.
IDX_FILES: tuple[str, ...] = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


def resolve_data_root(data_dir: str | None) -> Path:
    """The folder holding ``mnist/``: ``--data-dir``, else ``$MNISTKIT_DATA_DIR``.

    Benchmarks never download: a missing folder is an error that says what to set.
    """
    value = data_dir or os.environ.get("MNISTKIT_DATA_DIR")
    if not value:
        raise SystemExit(
            "No data folder: pass --data-dir or set MNISTKIT_DATA_DIR to a folder holding "
            "mnist/ with the four IDX files (the benchmarks never download)."
        )
    root = Path(value).expanduser()
    if not (root / "mnist").is_dir():
        raise SystemExit(f"Data folder {str(root)!r} has no mnist/ sub-folder.")
    return root


def validation_split(
    dataset: str, data_dir: str | None, limit: int | None = None
) -> tuple[Split, Split]:
    """The (train, validation) splits every selection script compares on.

    10% of ``dataset``'s training images, stratified (``train_val_split(seed=0)``), are the
    validation split; the test set is not read. ``limit`` keeps only the first ``limit``
    training images (for smoke runs).
    """
    from mnistkit import datasets, train_val_split

    data = datasets.load(dataset, root=resolve_data_root(data_dir), download=False)
    train, val = train_val_split(data.train, val_fraction=0.1, seed=0)
    if limit:
        train = train.subset(slice(0, limit))
    return train, val


def prepare_torchvision_root(data_root: Path, target: Path) -> Path:
    """Lay out MNIST the way ``torchvision.datasets.MNIST(download=False)`` reads it.

    torchvision looks for the *uncompressed* IDX files in ``<root>/MNIST/raw/`` (its
    ``_check_exists`` tests the names without ``.gz``, and ``read_image_file`` opens them
    directly); only ``download=True`` would extract ``.gz`` files, and that path may touch
    the network. So the files are decompressed (or copied) here, offline.

    Returns
    -------
    Path
        The ``root`` to pass to ``torchvision.datasets.MNIST``.
    """
    raw = target / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    source = data_root / "mnist"
    for name in IDX_FILES:
        destination = raw / name
        if destination.exists():
            continue
        plain, packed = source / name, source / f"{name}.gz"
        if plain.exists():
            shutil.copyfile(plain, destination)
        elif packed.exists():
            with gzip.open(packed, "rb") as fin, destination.open("wb") as fout:
                shutil.copyfileobj(fin, fout)
        else:
            raise SystemExit(f"Neither {plain} nor {packed} exists.")
    return target


def synchronize(device: torch.device) -> None:
    """Wait for queued kernels, so wall-clock times cover the work (a no-op on the CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def _package_version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def _uptime() -> str | None:
    try:
        done = subprocess.run(["uptime"], capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None


def environment(device: torch.device | None = None) -> dict[str, Any]:
    """Facts that decide how far the numbers can be trusted or compared."""
    try:
        affinity: int | None = len(os.sched_getaffinity(0))
    except AttributeError:  # not on every platform
        affinity = None
    info: dict[str, Any] = {
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": affinity,
        "torch": torch.__version__,
        "torchvision": _package_version("torchvision"),
        "mnistkit": _package_version("mnistkit"),
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "uptime": _uptime(),
        # what PyTorch's CPU kernels may use, and the caps that emulate an older CPU
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "kernel_caps": {
            name: os.environ[name]
            for name in ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA")
            if name in os.environ
        },
    }
    if device is not None:
        info["device"] = str(device)
        if device.type == "cuda":
            info["device_name"] = torch.cuda.get_device_name(device)
    return info


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain-text table: first column left-aligned, the others right-aligned."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]

    def line(cells: Sequence[str]) -> str:
        parts = [
            cell.ljust(width) if i == 0 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(row) for row in rows)])


def write_json(path: Path, payload: dict[str, Any]) -> Path:
    """Write ``payload`` as indented JSON, creating the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path
