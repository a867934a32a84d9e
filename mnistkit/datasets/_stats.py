"""The pixel mean and standard deviation of each data set's training images (private).

The models' :class:`~mnistkit.models.Normalize` layer shifts and scales pixels by these two
numbers. They are measured, not typed in: on the first load of a data set's training split
they are computed from its images and stored next to the data set's folder, in
``<data folder>/<name>-normalization.json`` (the data set's own folder keeps exactly the
published files), with the size and modification time of the file they were measured on,
so a replaced file is measured again. To four decimals, the precision such
constants are quoted at; for MNIST and Fashion-MNIST that gives exactly the published
values the registry keeps for machines without the files.
"""

from __future__ import annotations

import json
import logging
import math
import os
from pathlib import Path

import numpy as np
import numpy.typing as npt

from mnistkit._io import write_json
from mnistkit.datasets._registry import DatasetInfo
from mnistkit.exceptions import MnistkitError

__all__ = ["pixel_stats", "recall", "record", "stats_file"]

_LOGGER = logging.getLogger(__name__)

#: Statistics measured in this process on verified training files, by data set name. The
#: verified files are the published ones, so these are facts, not state of one folder.
_MEASURED: dict[str, tuple[float, float]] = {}

_DECIMALS = 4


def stats_file(info: DatasetInfo, base: Path) -> Path:
    """Where the statistics of ``info`` are stored: in the data folder ``base``, beside the
    data set's own folder."""
    return base / f"{info.name}-normalization.json"


def pixel_stats(images: npt.NDArray[np.uint8]) -> tuple[float, float]:
    """Mean and (population) standard deviation of ``uint8`` pixels on the [0, 1] scale.

    Counted through a 256-bin histogram, so that memory stays small and the sums exact,
    then rounded to four decimals.
    """
    counts = np.bincount(images.reshape(-1), minlength=256).astype(np.float64)
    total = counts.sum()
    if total == 0:
        raise ValueError("no pixels to measure")
    values = np.arange(256, dtype=np.float64) / 255.0
    mean = float((counts * values).sum() / total)
    variance = float((counts * (values - mean) ** 2).sum() / total)
    return round(mean, _DECIMALS), round(math.sqrt(variance), _DECIMALS)


def _source_facts(source: Path) -> dict[str, object]:
    stat = source.stat()
    return {"file": source.name, "bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def record(
    info: DatasetInfo,
    base: Path,
    source: Path,
    images: npt.NDArray[np.uint8],
    *,
    verified: bool,
) -> tuple[float, float]:
    """The statistics of the training images read from ``source``: stored ones if fresh,
    else measured on ``images`` and stored. ``verified`` says the files passed the
    registry's checks; only then are the numbers used for ``Normalize.for_dataset``."""
    stored = _read(info, base, source)
    # the same file (by size and time) that was verified before is still the verified file
    if stored is not None and (stored[2] or not verified):
        mean, std, verified = stored
    else:
        mean, std = pixel_stats(images)
        facts = {
            "dataset": info.name,
            "mean": mean,
            "std": std,
            "verified": verified,
            "measured_on": _source_facts(source),
        }
        try:
            write_json(stats_file(info, base), facts)
        except (OSError, MnistkitError) as exc:  # a read-only data folder: measure each time
            _LOGGER.info("Could not store %s's statistics in %s: %s", info.name, base, exc)
    if verified:
        _MEASURED[info.name] = (mean, std)
    return mean, std


def _read(info: DatasetInfo, base: Path, source: Path) -> tuple[float, float, bool] | None:
    path = stats_file(info, base)
    try:
        facts = json.loads(path.read_text(encoding="utf-8"))
        fresh = facts["measured_on"] == _source_facts(source)
        mean, std, verified = float(facts["mean"]), float(facts["std"]), facts["verified"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not fresh or not isinstance(verified, bool) or not (std > 0 and math.isfinite(mean)):
        return None
    return mean, std, verified


def recall(info: DatasetInfo, base: Path, source: Path | None) -> tuple[float, float] | None:
    """Statistics known without reading images: measured in this process, or stored in
    ``base`` for verified files (``source`` being the training images file)."""
    if info.name in _MEASURED:
        return _MEASURED[info.name]
    if source is None or not os.path.isfile(source):
        return None
    stored = _read(info, base, source)
    if stored is None or not stored[2]:
        return None
    return stored[0], stored[1]
