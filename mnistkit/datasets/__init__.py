"""The MNIST family: a registry, verified IDX reading, and downloads from mirrors.

:func:`load` returns a :class:`DatasetSplits` whose ``.train`` and ``.test`` are
:class:`Split` objects: the whole split as one ``uint8`` tensor of images (N×28×28) and one
``int64`` tensor of labels, plus the class names and the data set's registry name;
:func:`load_split` reads one split by name (QMNIST's ``"test50k"``, say).

The data sets (:func:`list_datasets`): MNIST, Fashion-MNIST, Kuzushiji-MNIST, QMNIST and
the six EMNIST variants. Each is a small declaration in the registry (files, mirrors,
checksums, sizes, classes, licence, citation); the reading is shared.

Where the files are looked for, in order:

1. the ``root`` argument,
2. the ``MNISTKIT_DATA_DIR`` environment variable,
3. a per-user cache folder (``$XDG_CACHE_HOME/mnistkit`` or ``~/.cache/mnistkit``).

Inside that folder, ``<root>/<name>/`` holds the data set's files under their published
names, compressed or not (``train-images-idx3-ubyte[.gz]`` and so on); the six EMNIST
variants share ``<root>/emnist/`` and its one archive, ``gzip.zip``.

The mirrors and the MD5 sums of the published files are those torchvision publishes for
its ``MNIST`` family of classes, kept in mnistkit's registry as data (a test checks that
they still agree). The file reading is mnistkit's own (``mnistkit.datasets.idx``): every
malformed, truncated or mismatched file is a :class:`~mnistkit.CorruptFileError` that names
the file and what is wrong, and, where mnistkit has measured it on the real files (MNIST,
Fashion-MNIST), the content is verified by SHA-256. Files are read as streams, header first,
with memory bounded by the size the header declares (and by the registry's sizes for a known
data set), so a "gzip bomb" is refused at once; an archive's members are read the same way,
one at a time, never unpacked.

The package's modules, one concept each: ``_registry`` (what is known about each data set),
``_cache`` (where the files live), ``idx`` (the file format), ``_archive`` (members of a zip
archive), ``_stats`` (the pixel statistics for normalising), ``split`` (the in-memory
splits), ``_fetch`` and ``_download`` (downloads, checked); this module loads and verifies
a data set with them.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch

from mnistkit.datasets import _stats
from mnistkit.datasets._archive import read_idx_member
from mnistkit.datasets._cache import DATA_DIR_ENV, data_dir, find_file
from mnistkit.datasets._fetch import _GZIP_ALLOWANCE, download_missing, present
from mnistkit.datasets._registry import _REGISTRY as _REGISTRY
from mnistkit.datasets._registry import (
    DatasetInfo,
    SplitFiles,
    get_info,
    idx_file_size,
    list_datasets,
)
from mnistkit.datasets.idx import MAX_IDX_BYTES, read_idx
from mnistkit.datasets.split import DatasetSplits, Split
from mnistkit.exceptions import ConfigError, CorruptFileError, DatasetError, DatasetNotFoundError

__all__ = [
    "DATA_DIR_ENV",
    "MAX_IDX_BYTES",
    "DatasetInfo",
    "DatasetSplits",
    "Split",
    "SplitFiles",
    "data_dir",
    "files_present",
    "get_info",
    "list_datasets",
    "load",
    "load_split",
    "normalization",
    "read_idx",
    "verify",
]


def _source(info: DatasetInfo, folder: Path, stem: str, suffix: str) -> Path | None:
    """The loose file ``stem`` in ``folder``, else the archive holding it, else ``None``."""
    loose = find_file(folder, stem, suffix)
    if loose is not None:
        return loose
    if info.archive is not None and (folder / info.archive).is_file():
        return folder / info.archive
    return None


def _read_file(
    info: DatasetInfo, folder: Path, stem: str, suffix: str, *, check: bool
) -> tuple[np.ndarray, Path]:
    """Read the IDX file ``stem`` of ``info`` from ``folder`` (loose or from the archive)."""
    source = _source(info, folder, stem, suffix)
    if source is None:
        raise DatasetNotFoundError(
            f"{folder / stem}[{suffix}] not found. Pass download=True, or put the files "
            f"of {info.title} in {folder} (see mnistkit.datasets.data_dir)."
        )
    # Checked files must have the registry's exact sizes; verify=False admits a modified copy.
    size = idx_file_size(info, stem) if check else MAX_IDX_BYTES
    sha256 = info.sha256.get(stem) if check else None
    if info.archive is not None and source.name == info.archive:
        array = read_idx_member(
            source,
            f"{info.member_folder}{stem}{suffix}",
            max_bytes=size,
            max_stored=size + _GZIP_ALLOWANCE,
            sha256=sha256,
        )
        return array, source
    return read_idx(source, sha256=sha256, max_bytes=size), source


def _load_split(info: DatasetInfo, folder: Path, split: str, *, check: bool) -> Split:
    files: SplitFiles = info.files[split]
    images, images_path = _read_file(info, folder, files.images, files.suffix, check=check)
    table, labels_path = _read_file(info, folder, files.labels, files.suffix, check=check)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise CorruptFileError(
            f"{images_path}: expected uint8 images of shape (N, rows, cols) but the header "
            f"declares {images.dtype} of shape {images.shape}."
        )
    columns = info.label_columns
    if columns and (table.ndim != 2 or table.shape[1] != len(columns)):
        raise CorruptFileError(
            f"{labels_path}: expected a label table of {len(columns)} columns "
            f"({', '.join(columns)}) but the header declares shape {table.shape}."
        )
    if not columns and table.ndim != 1:
        raise CorruptFileError(
            f"{labels_path}: expected a 1-D label file but the header declares shape {table.shape}."
        )
    if images.shape[0] != table.shape[0]:
        raise CorruptFileError(
            f"{images_path} holds {images.shape[0]} images but {labels_path} holds "
            f"{table.shape[0]} labels; the counts must agree."
        )
    if files.rows is not None:
        start, stop = files.rows
        if images.shape[0] < stop:
            raise CorruptFileError(
                f"{images_path}: {info.title} {split} is rows {start} to {stop} of the file, "
                f"but it holds only {images.shape[0]}."
            )
        images, table = images[start:stop], table[start:stop]
    expected_n = info.sizes[split]
    if check and images.shape[0] != expected_n:
        raise CorruptFileError(
            f"{images_path}: {info.title} {split} has {expected_n} images but the file holds "
            f"{images.shape[0]}."
        )
    labels = (table[:, 0] if columns else table).astype(np.int64) - info.label_offset
    if labels.size and (int(labels.min()) < 0 or int(labels.max()) >= len(info.classes)):
        bad = int(labels.min()) if int(labels.min()) < 0 else int(labels.max())
        shift = f" after subtracting {info.label_offset}" if info.label_offset else ""
        raise CorruptFileError(
            f"{labels_path}: label {bad + info.label_offset} is out of range for "
            f"{len(info.classes)} classes (labels {info.label_offset} to "
            f"{info.label_offset + len(info.classes) - 1}{shift})."
        )
    # EMNIST stores each image transposed (column by column); turn it upright.
    pixels = images.transpose(0, 2, 1) if info.transposed else images
    label_columns = None
    if columns:
        label_columns = {
            column: torch.from_numpy(table[:, index].astype(np.int64))
            for index, column in enumerate(columns)
        }
    return Split(
        torch.from_numpy(np.ascontiguousarray(pixels).copy()),
        torch.from_numpy(labels),
        info.classes,
        name=f"{info.name}/{split}",
        dataset=info.name,
        label_columns=label_columns,
    )


def _prepare(
    info: DatasetInfo,
    root: str | os.PathLike[str] | None,
    splits: tuple[str, ...],
    *,
    download: bool,
    progress: bool,
    mirrors: Sequence[str] | None,
) -> tuple[Path, Path]:
    """The data folder and the data set's folder, with the files downloaded if asked."""
    base = data_dir(root)
    folder = base / info.subfolder
    if download:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DatasetError(f"{folder}: cannot create the data folder ({exc}).") from None
        chosen = tuple(mirrors) if mirrors is not None else info.mirrors
        download_missing(info, folder, mirrors=chosen, progress=progress, splits=splits)
    elif not folder.is_dir():
        raise DatasetNotFoundError(
            f"{folder}: no such folder for {info.title}. Pass download=True, point root= or "
            f"${DATA_DIR_ENV} at a folder holding '{info.subfolder}/' with its files."
        )
    return base, folder


def _train_source(info: DatasetInfo, folder: Path) -> Path | None:
    files = info.files["train"]
    return _source(info, folder, files.images, files.suffix)


def _measure(
    info: DatasetInfo, base: Path, folder: Path, train: Split, *, check: bool
) -> DatasetInfo:
    source = _train_source(info, folder)
    if source is None:  # removed since it was read a moment ago: nothing to record
        return info
    pixels: npt.NDArray[np.uint8] = train.images.numpy()
    mean, std = _stats.record(info, base, source, pixels, verified=check)
    return dataclasses.replace(info, mean=mean, std=std)


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
    name : str, default="mnist"
        Which data set, e.g. ``"mnist"``, ``"fashion-mnist"``, ``"kmnist"``, ``"qmnist"``,
        ``"emnist-letters"``; see :func:`list_datasets`.
    root : path-like, optional
        The data folder; files are read from ``<root>/<name>/`` (``<root>/emnist/`` for the
        EMNIST variants). Defaults to ``$MNISTKIT_DATA_DIR``, then to ``~/.cache/mnistkit``.
    download : bool, default=True
        Fetch missing files from the mirrors. With ``False``, missing files raise
        :class:`~mnistkit.DatasetNotFoundError` (for offline use).
    verify : bool, default=True
        Check the split sizes, and each file's content SHA-256 where mnistkit knows it
        (about 0.2 s for MNIST).
    progress : bool, default=True
        Show a progress bar while downloading.
    mirrors : sequence of str, optional
        Base URLs to download from, in order, instead of the registry's (e.g. a mirror inside
        your organisation). A file is fetched from ``mirror + "/" + file name``.

    Returns
    -------
    DatasetSplits
        With ``.train`` and ``.test`` :class:`Split` objects; its ``info`` carries the pixel
        mean and standard deviation measured on the training images (see
        :func:`normalization`).

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
    base, folder = _prepare(
        info, root, ("train", "test"), download=download, progress=progress, mirrors=mirrors
    )
    train = _load_split(info, folder, "train", check=verify)
    test = _load_split(info, folder, "test", check=verify)
    measured = _measure(info, base, folder, train, check=verify)
    return DatasetSplits(info=measured, train=train, test=test, root=base)


def load_split(
    name: str,
    split: str = "test",
    *,
    root: str | os.PathLike[str] | None = None,
    download: bool = True,
    verify: bool = True,
    progress: bool = True,
    mirrors: Sequence[str] | None = None,
) -> Split:
    """Load one split of a data set, downloading only the files it needs.

    Parameters
    ----------
    name : str
        A name from :func:`list_datasets`.
    split : str, default="test"
        One of the data set's splits (``DatasetInfo.splits``): ``"train"`` and ``"test"``
        for every data set; QMNIST adds ``"test10k"`` (its reconstruction of MNIST's test
        set), ``"test50k"`` (the 50,000 test digits MNIST never released) and ``"nist"``
        (all 402,953 NIST digits).
    root : path-like, optional
        The data folder, as for :func:`load`.
    download : bool, default=True
        Fetch the split's missing files, as for :func:`load`.
    verify : bool, default=True
        Check the files' sizes and hashes, as for :func:`load`.
    progress : bool, default=True
        Show download progress, as for :func:`load`.
    mirrors : sequence of str, optional
        The addresses to try, as for :func:`load`.

    Returns
    -------
    Split
        The split; for QMNIST, ``split.label_columns`` holds the extended labels (NIST
        series, writer, ...) as a table of columns beside the class labels.

    Raises
    ------
    ConfigError
        Unknown ``name`` or ``split``.
    DatasetNotFoundError, DownloadError, CorruptFileError
        As for :func:`load`.

    Examples
    --------
    >>> from mnistkit import datasets
    >>> lost = datasets.load_split("qmnist", "test50k")  # doctest: +SKIP
    >>> len(lost), sorted(lost.label_columns)[:2]  # doctest: +SKIP
    (50000, ['class', 'duplicate'])
    """
    info = get_info(name)
    if split not in info.files:
        raise ConfigError(
            f"Argument 'split' must be one of {', '.join(map(repr, info.splits))} for "
            f"{info.name} but got {split!r}."
        )
    base, folder = _prepare(
        info, root, (split,), download=download, progress=progress, mirrors=mirrors
    )
    loaded = _load_split(info, folder, split, check=verify)
    if split == "train":
        _measure(info, base, folder, loaded, check=verify)
    return loaded


def normalization(name: str, *, root: str | os.PathLike[str] | None = None) -> tuple[float, float]:
    """The pixel mean and standard deviation a model of data set ``name`` normalises with.

    Measured on the data set's training images (on the [0, 1] scale, to four decimals) the
    first time they are loaded with verification, and stored in the data folder as
    ``<name>-normalization.json``; :class:`~mnistkit.models.Normalize.for_dataset` reads
    them here. In order: the numbers measured in this process, those stored beside verified
    files in the data folder, a measurement of the verified training files found there,
    and, for MNIST and Fashion-MNIST only, the published values (which the measurement
    reproduces exactly) when the files are not on this machine.

    Parameters
    ----------
    name : str
        A name from :func:`list_datasets`.
    root : path-like, optional
        The data folder (see :func:`data_dir`).

    Returns
    -------
    tuple of float
        ``(mean, std)``.

    Raises
    ------
    DatasetNotFoundError
        The data set's training files are not there and it has no published values: load
        it once (``mnistkit.datasets.load(name)``), or give ``Normalize(mean, std)``.
    """
    info = get_info(name)
    base = data_dir(root)
    folder = base / info.subfolder
    source = _train_source(info, folder)
    known = _stats.recall(info, base, source)
    if known is not None:
        return known
    if source is not None:
        try:
            train = _load_split(info, folder, "train", check=True)
        except DatasetError:
            pass  # not the published files: fall back to the published values, if any
        else:
            return _stats.record(info, base, source, train.images.numpy(), verified=True)
    if info.mean is not None and info.std is not None:
        return info.mean, info.std
    raise DatasetNotFoundError(
        f"{info.name}: its pixel mean and standard deviation are measured on its training "
        f"images, and no verified copy is in {folder}. Load it once "
        f"(mnistkit.datasets.load({info.name!r}), which downloads it), pass root=, or give "
        f"the numbers yourself with Normalize(mean, std)."
    )


def files_present(
    name: str, root: str | os.PathLike[str] | None = None, split: str | None = None
) -> bool:
    """Whether the files of a data set (or of one of its splits) are in the data folder.

    Only their presence is checked, not their content (see :func:`verify`).

    Parameters
    ----------
    name : str
        A name from :func:`list_datasets`.
    root : path-like, optional
        The data folder (see :func:`data_dir`).
    split : str, optional
        One split; all of them by default.

    Returns
    -------
    bool
        True when each file (or the archive holding them) is there.
    """
    info = get_info(name)
    if split is not None and split not in info.files:
        raise ConfigError(
            f"Argument 'split' must be one of {', '.join(map(repr, info.splits))} for "
            f"{info.name} but got {split!r}."
        )
    splits = info.splits if split is None else (split,)
    return present(info, data_dir(root) / info.subfolder, splits)


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
        File path to ``"ok"`` for each file (the archive, for EMNIST). The train and test
        files must be there; a further split's files (QMNIST's ``"nist"``) are verified
        when they are.

    Raises
    ------
    DatasetNotFoundError, CorruptFileError
        For the first missing or bad file.
    """
    info = get_info(name)
    folder = data_dir(root) / info.subfolder
    result: dict[str, str] = {}
    for split, files in info.files.items():
        if files.rows is not None:
            continue  # rows of another split's files, checked with them
        if split not in ("train", "test") and not present(info, folder, (split,)):
            continue  # an optional split not downloaded (QMNIST's "nist")
        _load_split(info, folder, split, check=True)
        for stem in (files.images, files.labels):
            found = _source(info, folder, stem, files.suffix)
            result[str(found)] = "ok"
    return result
