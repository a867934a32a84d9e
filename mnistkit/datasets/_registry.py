"""The registry: what mnistkit knows about each data set it can load (private).

Each data set is a small declaration (a :class:`DatasetInfo`): names, classes, licence,
citation, the mirrors to download from, the checksums the upstream projects publish, the
split sizes and the files of each split (:class:`SplitFiles`). The reading is shared
(:mod:`mnistkit.datasets`), as in torchvision's family of ``MNIST`` subclasses that only
override their resources.

Sources of the facts, so that each can be checked:

* MNIST, Fashion-MNIST, KMNIST, QMNIST and EMNIST mirrors and MD5 sums: torchvision's
  ``torchvision/datasets/mnist.py`` (release 0.29), the classes ``MNIST``, ``FashionMNIST``,
  ``KMNIST``, ``QMNIST`` and ``EMNIST``; ``tests/test_datasets.py`` and
  ``tests/test_family.py`` check that they still agree with the installed torchvision, so the
  library itself need not import it.
* QMNIST's files, split sizes and label columns: the README of facebookresearch/qmnist.
* EMNIST's split sizes: Cohen et al. 2017, table II; the archive's folder and member names
  are those of the ``gzip.zip`` NIST publishes.
* SHA-256 of the decompressed content: measured on the real files, for MNIST and
  Fashion-MNIST only (the others were not available to measure; none is invented).
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field

from mnistkit.exceptions import ConfigError

__all__ = [
    "IMAGE_SIDE",
    "SPLIT_FILES",
    "DatasetInfo",
    "SplitFiles",
    "download_names",
    "get_info",
    "idx_file_size",
    "list_datasets",
]

IMAGE_SIDE = 28  # every registered data set has 28×28 images


@dataclass(frozen=True, slots=True)
class SplitFiles:
    """The two IDX files a split is read from.

    Parameters
    ----------
    images, labels : str
        File names without the compression suffix, e.g. ``"train-images-idx3-ubyte"``.
    suffix : {".gz", ".xz"}, default=".gz"
        How the published files are compressed; an uncompressed copy is read too.
    rows : tuple of (int, int), optional
        The split is rows ``[start, stop)`` of the files (QMNIST's ``test10k`` and
        ``test50k`` are the first 10,000 and the other 50,000 rows of its test files).
    """

    images: str
    labels: str
    suffix: str = ".gz"
    rows: tuple[int, int] | None = None


#: The two IDX files (images, labels) of each split of MNIST's layout, without ``.gz``.
SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def _mnist_layout() -> dict[str, SplitFiles]:
    return {split: SplitFiles(*stems) for split, stems in SPLIT_FILES.items()}


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
        MD5 of each published file, keyed by its name without ``.gz``/``.xz`` (for an
        archive, its full name, e.g. ``"gzip.zip"``).
    sha256 : dict
        SHA-256 of each decompressed file's content, keyed by file name; only where measured
        on the real files.
    sizes : dict
        Number of examples per split (``"train"``, ``"test"``, and any other split).
    mean, std : float or None
        Reference pixel mean and standard deviation of the training images on a [0, 1]
        scale, to four decimals, where they are published (MNIST, Fashion-MNIST); used only
        while the training files are not on this machine. Otherwise the statistics are
        computed from the training files on first load and stored next to them (see
        :func:`mnistkit.datasets.normalization`).
    mirror_symmetric : bool, default=False
        Whether an image mirrored left-right shows the same class (a shoe or a shirt, not a
        digit: a mirrored 2 is no 2). ``mnistkit evaluate --tta`` and ``predict --tta`` add
        mirrored views only where it is True.
    files : dict of SplitFiles
        The files of each split; MNIST's four file names by default.
    archive : str, optional
        One archive holding every file as a member (EMNIST's ``gzip.zip``); the members are
        read from it one at a time, never unpacked.
    member_folder : str, default=""
        The folder of the members inside ``archive`` (``"gzip/"`` for EMNIST).
    folder : str, optional
        The data folder's sub-folder for the files, shared by data sets read from one
        archive; the registry name by default.
    transposed : bool, default=False
        The files store each image transposed (EMNIST); it is turned upright on read.
    label_offset : int, default=0
        What the files add to each label: EMNIST Letters labels ``a``-``z`` 1-26, read as
        0-25. Label ``k`` of the loaded split is ``k + label_offset`` in the files.
    label_columns : tuple of str, default=()
        For label files that are tables (QMNIST's ``idx2-int``): the name of each column.
        Column 0 is the class; the whole table is kept as ``Split.label_columns``.
    licence, citation, homepage, purpose : str
        Terms of use, the reference to cite, where the data set is published, and what it
        is good for.
    checked_on_real_files : bool, default=False
        Whether mnistkit's reading was checked against the real files (sizes, checksums,
        class counts), rather than only against their published layout and checksums.
    """

    name: str
    title: str
    classes: tuple[str, ...]
    mirrors: tuple[str, ...]
    md5: dict[str, str] = field(repr=False)
    sha256: dict[str, str] = field(repr=False)
    sizes: dict[str, int]
    mean: float | None
    std: float | None
    mirror_symmetric: bool = False
    files: dict[str, SplitFiles] = field(default_factory=_mnist_layout, repr=False)
    archive: str | None = None
    member_folder: str = ""
    folder: str | None = None
    transposed: bool = False
    label_offset: int = 0
    label_columns: tuple[str, ...] = ()
    licence: str = ""
    citation: str = field(default="", repr=False)
    homepage: str = ""
    purpose: str = field(default="", repr=False)
    checked_on_real_files: bool = False

    @property
    def splits(self) -> tuple[str, ...]:
        """The split names :func:`~mnistkit.datasets.load_split` accepts."""
        return tuple(self.files)

    @property
    def subfolder(self) -> str:
        """The sub-folder of the data folder holding the files."""
        return self.folder or self.name


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
        licence="CC BY-SA 3.0",
        citation=(
            "Y. LeCun, L. Bottou, Y. Bengio and P. Haffner, Gradient-based learning applied "
            "to document recognition, Proceedings of the IEEE 86(11), 1998."
        ),
        homepage="http://yann.lecun.com/exdb/mnist/",
        purpose="handwritten digits: the baseline every model is measured on",
        checked_on_real_files=True,
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
        licence="MIT",
        citation=(
            "H. Xiao, K. Rasul and R. Vollgraf, Fashion-MNIST: a novel image dataset for "
            "benchmarking machine learning algorithms, arXiv:1708.07747, 2017."
        ),
        homepage="https://github.com/zalandoresearch/fashion-mnist",
        purpose="clothing photographs in MNIST's format: a harder drop-in replacement",
        checked_on_real_files=True,
    ),
    "kmnist": DatasetInfo(
        name="kmnist",
        title="Kuzushiji-MNIST (cursive Japanese)",
        # the ten hiragana お き す つ な は ま や れ を, romanised as torchvision names them
        classes=("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"),
        # torchvision's mirror, then the same host over HTTPS.
        mirrors=(
            "http://codh.rois.ac.jp/kmnist/dataset/kmnist/",
            "https://codh.rois.ac.jp/kmnist/dataset/kmnist/",
        ),
        md5={
            "train-images-idx3-ubyte": "bdb82020997e1d708af4cf47b453dcf7",
            "train-labels-idx1-ubyte": "e144d726b3acfaa3e44228e80efcd344",
            "t10k-images-idx3-ubyte": "5c965bf0a639b31b8f53240b1b52f4d7",
            "t10k-labels-idx1-ubyte": "7320c461ea6c1c855c0b718fb2a4b134",
        },
        sha256={},
        sizes={"train": 60_000, "test": 10_000},
        mean=None,
        std=None,
        licence="CC BY-SA 4.0",
        citation=(
            "T. Clanuwat, M. Bober-Irizar, A. Kitamoto, A. Lamb, K. Yamamoto and D. Ha, "
            "Deep learning for classical Japanese literature, arXiv:1812.01718, 2018."
        ),
        homepage="https://github.com/rois-codh/kmnist",
        purpose="cursive Japanese characters: harder than MNIST, same format",
    ),
    "qmnist": DatasetInfo(
        name="qmnist",
        title="QMNIST (MNIST reconstructed, with its lost test digits)",
        classes=tuple(str(i) for i in range(10)),
        # torchvision's address (GitHub's raw files), then the same files through github.com.
        mirrors=(
            "https://raw.githubusercontent.com/facebookresearch/qmnist/master/",
            "https://github.com/facebookresearch/qmnist/raw/master/",
        ),
        md5={
            "qmnist-train-images-idx3-ubyte": "ed72d4157d28c017586c42bc6afe6370",
            "qmnist-train-labels-idx2-int": "0058f8dd561b90ffdd0f734c6a30e5e4",
            "qmnist-test-images-idx3-ubyte": "1394631089c404de565df7b7aeaf9412",
            "qmnist-test-labels-idx2-int": "5b5b05890a5e13444e108efe57b788aa",
            "xnist-images-idx3-ubyte": "7f124b3b8ab81486c9d8c2749c17f834",
            "xnist-labels-idx2-int": "5ed0e788978e45d4a8bd4b7caec3d79d",
        },
        sha256={},
        sizes={
            "train": 60_000,
            "test": 60_000,
            "test10k": 10_000,
            "test50k": 50_000,
            "nist": 402_953,
        },
        mean=None,
        std=None,
        files={
            "train": SplitFiles("qmnist-train-images-idx3-ubyte", "qmnist-train-labels-idx2-int"),
            "test": SplitFiles("qmnist-test-images-idx3-ubyte", "qmnist-test-labels-idx2-int"),
            "test10k": SplitFiles(
                "qmnist-test-images-idx3-ubyte", "qmnist-test-labels-idx2-int", rows=(0, 10_000)
            ),
            "test50k": SplitFiles(
                "qmnist-test-images-idx3-ubyte",
                "qmnist-test-labels-idx2-int",
                rows=(10_000, 60_000),
            ),
            "nist": SplitFiles("xnist-images-idx3-ubyte", "xnist-labels-idx2-int", suffix=".xz"),
        },
        # the columns of the idx2-int label files, in the order QMNIST's README lists them
        label_columns=(
            "class",
            "nist_series",
            "writer_id",
            "writer_digit_index",
            "nist_class_code",
            "nist_index",
            "duplicate",
            "unused",
        ),
        licence="BSD-style (Facebook, QMNIST's LICENSE file)",
        citation=(
            "C. Yadav and L. Bottou, Cold case: the lost MNIST digits, Advances in Neural "
            "Information Processing Systems 32 (NeurIPS), 2019."
        ),
        homepage="https://github.com/facebookresearch/qmnist",
        purpose=(
            "honest evaluation: test50k holds the 50,000 MNIST test digits never released, "
            "which no published model was tuned on"
        ),
    ),
}

# EMNIST: one archive, six variants. The archive's address moved (torchvision issues 1296,
# 5403, 8350); torchvision 0.29's address first, then the earlier one.
_EMNIST_MIRRORS = (
    "https://biometrics.nist.gov/cs_links/EMNIST/",
    "https://www.itl.nist.gov/iaui/vip/cs_links/EMNIST/",
)
_EMNIST_MD5 = {"gzip.zip": "58c8d27c78d21e728a6bc7b3cc06412e"}
_EMNIST_CITATION = (
    "G. Cohen, S. Afshar, J. Tapson and A. van Schaik, EMNIST: an extension of MNIST to "
    "handwritten letters, International Joint Conference on Neural Networks (IJCNN), 2017."
)
# The lower-case letters whose upper-case twin looks the same: ByMerge and Balanced fold
# them into one class (named "C/c" here), as the EMNIST paper describes.
_MERGED = "cijklmopsuvwxyz"
_DIGITS = tuple(string.digits)
_UPPER = tuple(string.ascii_uppercase)
_BY_CLASS = _DIGITS + _UPPER + tuple(string.ascii_lowercase)
_BY_MERGE = (
    _DIGITS
    + tuple(f"{u}/{u.lower()}" if u.lower() in _MERGED else u for u in _UPPER)
    + tuple(c for c in string.ascii_lowercase if c not in _MERGED)
)
_EMNIST_VARIANTS: dict[str, tuple[str, tuple[str, ...], int, int, str]] = {
    # variant: (title, classes, train, test, purpose); sizes from the EMNIST paper, table II
    "byclass": (
        "EMNIST ByClass (digits and letters, 62 classes)",
        _BY_CLASS,
        697_932,
        116_323,
        "every character class NIST has, unbalanced",
    ),
    "bymerge": (
        "EMNIST ByMerge (47 classes, look-alike cases merged)",
        _BY_MERGE,
        697_932,
        116_323,
        "ByClass with the 15 look-alike upper/lower-case letters merged, unbalanced",
    ),
    "balanced": (
        "EMNIST Balanced (47 classes)",
        _BY_MERGE,
        112_800,
        18_800,
        "ByMerge's classes with equal examples each: the fair letters-and-digits benchmark",
    ),
    "letters": (
        "EMNIST Letters (26 classes, cases merged)",
        tuple(f"{u}/{u.lower()}" for u in _UPPER),
        124_800,
        20_800,
        "letters only, upper and lower case one class",
    ),
    "digits": ("EMNIST Digits", _DIGITS, 240_000, 40_000, "four times MNIST's digits, balanced"),
    "mnist": (
        "EMNIST MNIST",
        _DIGITS,
        60_000,
        10_000,
        "MNIST's sizes rebuilt by EMNIST's pipeline",
    ),
}
for _variant, (_title, _classes, _train, _test, _purpose) in _EMNIST_VARIANTS.items():
    _REGISTRY[f"emnist-{_variant}"] = DatasetInfo(
        name=f"emnist-{_variant}",
        title=_title,
        classes=_classes,
        mirrors=_EMNIST_MIRRORS,
        md5=_EMNIST_MD5,
        sha256={},
        sizes={"train": _train, "test": _test},
        mean=None,
        std=None,
        files={
            split: SplitFiles(
                f"emnist-{_variant}-{split}-images-idx3-ubyte",
                f"emnist-{_variant}-{split}-labels-idx1-ubyte",
            )
            for split in ("train", "test")
        },
        archive="gzip.zip",
        member_folder="gzip/",
        folder="emnist",
        transposed=True,
        label_offset=1 if _variant == "letters" else 0,
        licence="not stated by its authors; derived from NIST Special Database 19",
        citation=_EMNIST_CITATION,
        homepage="https://www.nist.gov/itl/products-and-services/emnist-dataset",
        purpose=_purpose,
    )


def list_datasets() -> list[str]:
    """Names accepted by :func:`load`, sorted.

    Returns
    -------
    list of str
        The registered data set names, e.g. ``["emnist-balanced", ..., "qmnist"]``.
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
        Title, classes, mirrors, checksums, sizes, files, licence and citation.

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


def _records(info: DatasetInfo, stem: str) -> tuple[int, bool]:
    """How many records the file ``stem`` holds, and whether it holds images."""
    for split, files in info.files.items():
        if files.rows is not None:
            continue  # a part of another split's files
        if stem == files.images:
            return info.sizes[split], True
        if stem == files.labels:
            return info.sizes[split], False
    raise KeyError(stem)


def idx_file_size(info: DatasetInfo, stem: str) -> int:
    """Size in bytes of the registry's decompressed file ``stem``, header included."""
    count, images = _records(info, stem)
    if images:
        return 4 + 3 * 4 + count * IMAGE_SIDE * IMAGE_SIDE
    if info.label_columns:  # a table of int32, (count, columns)
        return 4 + 2 * 4 + count * len(info.label_columns) * 4
    return 4 + 4 + count


def download_names(info: DatasetInfo, splits: tuple[str, ...]) -> list[tuple[str, str]]:
    """The (stem, suffix) of each distinct file the given splits are read from, in order."""
    seen: list[tuple[str, str]] = []
    for split in splits:
        files = info.files[split]
        for stem in (files.images, files.labels):
            if (stem, files.suffix) not in seen:
                seen.append((stem, files.suffix))
    return seen
