"""Reading IDX files that are members of a zip archive, one at a time (private).

EMNIST is published as one zip archive (``gzip.zip``) whose members are gzip-compressed IDX
files. A member is read as a stream through both layers, never unpacked to disk and never
held whole in memory: the archive's declared size of the member must fit the caller's
limit before anything is read, zip stops at that declared size (and checks its CRC), and the
IDX reader stops one byte past the size its header declares. A zip or gzip "bomb" inside
the archive is therefore refused after a bounded amount of work, as for a loose file.
"""

from __future__ import annotations

import contextlib
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from mnistkit.datasets.idx import _Content, _decompressed, _parse_idx, codec_of
from mnistkit.exceptions import CorruptFileError, DatasetNotFoundError

__all__ = ["has_member", "read_idx_member"]


@contextlib.contextmanager
def _open_archive(archive: Path) -> Iterator[zipfile.ZipFile]:
    try:
        opened = zipfile.ZipFile(archive)
    except FileNotFoundError:
        raise DatasetNotFoundError(f"{archive}: no such file.") from None
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise CorruptFileError(f"{archive}: not a zip archive ({exc}).") from None
    with opened:
        yield opened


def has_member(archive: Path, member: str) -> bool:
    """Whether ``archive`` is a zip archive holding ``member`` (False if it is not one)."""
    try:
        with _open_archive(archive) as opened:
            return member in opened.NameToInfo
    except (DatasetNotFoundError, CorruptFileError):
        return False


@contextlib.contextmanager
def _open_member(archive: Path, member: str, *, max_stored: int) -> Iterator[_Content]:
    label = f"{archive}:{member}"
    with _open_archive(archive) as opened:
        try:
            info = opened.getinfo(member)
        except KeyError:
            raise CorruptFileError(
                f"{archive}: has no member {member!r}; expected an archive holding "
                f"{member!r} (the published archive, as downloaded)."
            ) from None
        if info.file_size > max_stored:
            raise CorruptFileError(
                f"{label}: the archive declares {info.file_size} bytes for the member but at "
                f"most {max_stored} are expected; the archive is not the published one."
            )
        try:
            stream = opened.open(info)
        except (zipfile.BadZipFile, NotImplementedError, RuntimeError) as exc:
            raise CorruptFileError(f"{label}: cannot be read ({exc}).") from None
        with stream:
            codec = codec_of(member)
            if codec:
                with _decompressed(stream, codec=codec, label=label) as content:
                    yield content
            else:
                yield _Content(stream, label=label, compressed=True, kind="zip")


def read_idx_member(
    archive: Path,
    member: str,
    *,
    max_bytes: int,
    max_stored: int,
    sha256: str | None = None,
) -> np.ndarray:
    """Read the IDX file ``member`` of the zip ``archive`` (gzip-compressed if it ends in .gz).

    Parameters
    ----------
    archive : pathlib.Path
        The zip file.
    member : str
        The member's full name inside it, folder included.
    max_bytes : int
        Largest decompressed IDX content accepted (the header's declared size is held to it).
    max_stored : int
        Largest size the archive may declare for the member itself.
    sha256 : str, optional
        Expected SHA-256 of the decompressed IDX content.

    Returns
    -------
    numpy.ndarray
        The array the IDX header declares, in native byte order.

    Raises
    ------
    DatasetNotFoundError
        If ``archive`` does not exist.
    CorruptFileError
        If it is not a zip archive, lacks the member, declares too large a member, or the
        member is damaged or malformed; the message names the archive and the member.
    """
    label = f"{archive}:{member}"
    with _open_member(archive, member, max_stored=max_stored) as content:
        array = _parse_idx(content, label, max_bytes=max_bytes)
    if sha256 is not None and content.hexdigest() != sha256:
        raise CorruptFileError(
            f"{label}: content SHA-256 is {content.hexdigest()} but {sha256} was expected."
        )
    return array
