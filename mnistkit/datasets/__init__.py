"""MNIST and Fashion-MNIST: a registry, verified IDX reading, and downloads from mirrors.

:func:`load` returns a :class:`DatasetSplits` whose ``.train`` and ``.test`` are
:class:`Split` objects: the whole split as one ``uint8`` tensor of images (N×28×28) and one
``int64`` tensor of labels, plus the class names and the data set's registry name.

Where the files are looked for, in order:

1. the ``root`` argument,
2. the ``MNISTKIT_DATA_DIR`` environment variable,
3. a per-user cache folder (``$XDG_CACHE_HOME/mnistkit`` or ``~/.cache/mnistkit``).

Inside that folder, ``<root>/<name>/`` holds the four standard IDX files, gzip-compressed or not
(``train-images-idx3-ubyte[.gz]`` and so on).

The mirrors and the MD5 sums of the canonical ``.gz`` files are those torchvision publishes
for its ``MNIST``/``FashionMNIST`` classes, kept in mnistkit's registry as data (a test checks
that they still agree). The file reading is mnistkit's own (``mnistkit.datasets.idx``):
every malformed, truncated or mismatched file is a :class:`~mnistkit.CorruptFileError` that
names the file and what is wrong, and the content is verified by SHA-256. Files are read as
streams, header first, with memory bounded by the size the header declares (and by the
registry's sizes for a known data set), so a "gzip bomb" is refused at once.

The package's modules, one concept each: ``_registry`` (what is known about each data set),
``_cache`` (where the files live), ``idx`` (the file format),
``split`` (the in-memory splits), ``_fetch`` and ``_download``
(downloads, checked); this module loads and verifies a data set with them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from mnistkit.datasets._cache import DATA_DIR_ENV, data_dir, find_file
from mnistkit.datasets._fetch import download_missing
from mnistkit.datasets._registry import _REGISTRY as _REGISTRY
from mnistkit.datasets._registry import (
    SPLIT_FILES,
    DatasetInfo,
    get_info,
    idx_file_size,
    list_datasets,
)
from mnistkit.datasets.idx import MAX_IDX_BYTES, read_idx
from mnistkit.datasets.split import DatasetSplits, Split
from mnistkit.exceptions import CorruptFileError, DatasetError, DatasetNotFoundError

__all__ = [
    "DATA_DIR_ENV",
    "MAX_IDX_BYTES",
    "DatasetInfo",
    "DatasetSplits",
    "Split",
    "data_dir",
    "get_info",
    "list_datasets",
    "load",
    "read_idx",
    "verify",
]


def _load_split(info: DatasetInfo, folder: Path, split: str, *, check: bool) -> Split:
    images_stem, labels_stem = SPLIT_FILES[split]
    paths = []
    for stem in (images_stem, labels_stem):
        found = find_file(folder, stem)
        if found is None:
            raise DatasetNotFoundError(
                f"{folder / stem}[.gz] not found. Pass download=True, or put the four IDX files "
                f"of {info.title} in {folder} (see mnistkit.datasets.data_dir)."
            )
        paths.append(found)
    images_path, labels_path = paths
    # Checked files must have the registry's exact sizes; verify=False admits a modified copy.
    images = read_idx(
        images_path,
        sha256=info.sha256.get(images_stem) if check else None,
        max_bytes=idx_file_size(info, images_stem) if check else MAX_IDX_BYTES,
    )
    labels = read_idx(
        labels_path,
        sha256=info.sha256.get(labels_stem) if check else None,
        max_bytes=idx_file_size(info, labels_stem) if check else MAX_IDX_BYTES,
    )
    if images.ndim != 3 or images.dtype != np.uint8:
        raise CorruptFileError(
            f"{images_path}: expected uint8 images of shape (N, rows, cols) but the header "
            f"declares {images.dtype} of shape {images.shape}."
        )
    if labels.ndim != 1:
        raise CorruptFileError(
            f"{labels_path}: expected a 1-D label file but the header declares shape "
            f"{labels.shape}."
        )
    if images.shape[0] != labels.shape[0]:
        raise CorruptFileError(
            f"{images_path} holds {images.shape[0]} images but {labels_path} holds "
            f"{labels.shape[0]} labels; the counts must agree."
        )
    expected_n = info.sizes[split]
    if check and images.shape[0] != expected_n:
        raise CorruptFileError(
            f"{images_path}: {info.title} {split} has {expected_n} images but the file holds "
            f"{images.shape[0]}."
        )
    if labels.size and int(labels.max()) >= len(info.classes):
        raise CorruptFileError(
            f"{labels_path}: label {int(labels.max())} is out of range for "
            f"{len(info.classes)} classes."
        )
    return Split(
        torch.from_numpy(images.copy()),
        torch.from_numpy(labels.astype(np.int64)),
        info.classes,
        name=f"{info.name}/{split}",
        dataset=info.name,
    )


def load(
    name: str = "mnist",
    *,
    root: str | os.PathLike[str] | None = None,
    download: bool = True,
    verify: bool = True,
    progress: bool = True,
    mirrors: Sequence[str] | None = None,
) -> DatasetSplits:
    """Load a data set's train and test splits into memory.

    Parameters
    ----------
    name : {"mnist", "fashion-mnist"}, default="mnist"
        Which data set; see :func:`list_datasets`.
    root : path-like, optional
        The data folder; files are read from ``<root>/<name>/``. Defaults to
        ``$MNISTKIT_DATA_DIR``, then to ``~/.cache/mnistkit``.
    download : bool, default=True
        Fetch missing files from the mirrors. With ``False``, missing files raise
        :class:`~mnistkit.DatasetNotFoundError` (for offline use).
    verify : bool, default=True
        Check each file's content SHA-256 and the split sizes (about 0.2 s for MNIST).
    progress : bool, default=True
        Show a progress bar while downloading.
    mirrors : sequence of str, optional
        Base URLs to download from, in order, instead of the registry's (e.g. a mirror inside
        your organisation). A file is fetched from ``mirror + "/" + file name``.

    Returns
    -------
    DatasetSplits
        With ``.train`` and ``.test`` :class:`Split` objects.

    Raises
    ------
    ConfigError
        Unknown ``name``.
    DatasetNotFoundError
        Files missing and ``download=False``.
    DownloadError
        Every mirror failed.
    CorruptFileError
        A file fails verification; the message names the file.

    Examples
    --------
    >>> from mnistkit import datasets
    >>> mnist = datasets.load("mnist")  # doctest: +SKIP
    >>> mnist.train.images.shape  # doctest: +SKIP
    torch.Size([60000, 28, 28])
    """
    info = get_info(name)
    base = data_dir(root)
    folder = base / info.name
    if download:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DatasetError(f"{folder}: cannot create the data folder ({exc}).") from None
        chosen = tuple(mirrors) if mirrors is not None else info.mirrors
        download_missing(info, folder, mirrors=chosen, progress=progress)
    elif not folder.is_dir():
        raise DatasetNotFoundError(
            f"{folder}: no such folder for {info.title}. Pass download=True, point root= or "
            f"${DATA_DIR_ENV} at a folder holding '{info.name}/' with its four IDX files."
        )
    return DatasetSplits(
        info=info,
        train=_load_split(info, folder, "train", check=verify),
        test=_load_split(info, folder, "test", check=verify),
        root=base,
    )


def verify(name: str = "mnist", *, root: str | os.PathLike[str] | None = None) -> dict[str, str]:
    """Verify the files of a data set on disk without keeping them in memory.

    Parameters
    ----------
    name : str, default="mnist"
        A name from :func:`list_datasets`.
    root : path-like, optional
        The data folder (see :func:`data_dir`).

    Returns
    -------
    dict
        File path to ``"ok"`` for each of the four files.

    Raises
    ------
    DatasetNotFoundError, CorruptFileError
        For the first missing or bad file.
    """
    info = get_info(name)
    folder = data_dir(root) / info.name
    result: dict[str, str] = {}
    for split in SPLIT_FILES:
        _load_split(info, folder, split, check=True)
        for stem in SPLIT_FILES[split]:
            found = find_file(folder, stem)
            result[str(found)] = "ok"
    return result
