"""The registry: what mnistkit knows about each data set it can load (private).

Names, classes, the mirrors to download from, the checksums of the canonical files, the split
sizes and the normalisation constants are facts, written here as data. The mirrors and the
MD5 sums of the ``.gz`` files are those torchvision publishes for its ``MNIST`` and
``FashionMNIST`` classes (``torchvision/datasets/mnist.py``, torchvision 0.29);
``tests/test_datasets.py`` checks that they still agree with the installed torchvision, so the
library itself need not import it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mnistkit.exceptions import ConfigError

__all__ = ["IMAGE_SIDE", "SPLIT_FILES", "DatasetInfo", "get_info", "idx_file_size", "list_datasets"]

#: The two IDX files (images, labels) of each split, without ``.gz``.
SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
IMAGE_SIDE = 28  # every registered data set has 28×28 images


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


_REGISTRY: dict[str, DatasetInfo] = {
    "mnist": DatasetInfo(
        name="mnist",
        title="MNIST handwritten digits",
        classes=tuple(str(i) for i in range(10)),
        # torchvision's mirrors first, then the copy TensorFlow's datasets download from.
        mirrors=(
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "http://yann.lecun.com/exdb/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
        ),
        md5={
            "train-images-idx3-ubyte": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "train-labels-idx1-ubyte": "d53e105ee54ea40749a09fcbcd1e9432",
            "t10k-images-idx3-ubyte": "9fb629c4189551a2d022fa330f9573f3",
            "t10k-labels-idx1-ubyte": "ec29112dd5afa0611ce80d1b7f02629c",
        },
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
        classes=(
            "T-shirt/top",
            "Trouser",
            "Pullover",
            "Dress",
            "Coat",
            "Sandal",
            "Shirt",
            "Sneaker",
            "Bag",
            "Ankle boot",
        ),
        # torchvision's mirror first, then the files in Zalando Research's repository.
        mirrors=(
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
            "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
        ),
        md5={
            "train-images-idx3-ubyte": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "train-labels-idx1-ubyte": "25c81989df183df01b3e8a0aad5dffbe",
            "t10k-images-idx3-ubyte": "bef4ecab320f06d8554ea6380940ec79",
            "t10k-labels-idx1-ubyte": "bb300cfdad3c16e7a12a480ee83cd310",
        },
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


def idx_file_size(info: DatasetInfo, stem: str) -> int:
    """Size in bytes of the registry's decompressed file ``stem``, header included."""
    for split, (images_stem, labels_stem) in SPLIT_FILES.items():
        count = info.sizes[split]
        if stem == images_stem:
            return 4 + 3 * 4 + count * IMAGE_SIDE * IMAGE_SIDE
        if stem == labels_stem:
            return 4 + 4 + count
    raise KeyError(stem)
