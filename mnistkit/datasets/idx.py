"""The IDX file format: a streaming, verifying reader.

IDX is the format of the MNIST files: two zero bytes, a type code, the number of dimensions,
each dimension's size as a big-endian 32-bit integer, then the values in C order. A file is
read as a stream, header first, so memory stays within the size the header declares (and the
caller's ``max_bytes``): a "gzip bomb" is refused at once. Every malformed, truncated or
mismatched file is a :class:`~mnistkit.CorruptFileError` that names the file and what is
wrong; torchvision's reader checks the format with ``assert`` and reads only uncompressed
files.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import lzma
import math
import os
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Protocol

import numpy as np
import numpy.typing as npt

from mnistkit._validation import check_int
from mnistkit.exceptions import CorruptFileError, DatasetNotFoundError

__all__ = ["MAX_IDX_BYTES", "read_idx"]

#: Largest decompressed IDX file :func:`read_idx` reads unless told otherwise: 1 GiB. The
#: largest IDX file in common use, EMNIST ByClass's training images, is about 547 MB;
#: MNIST's largest is 47,040,016 bytes, and :func:`~mnistkit.datasets.load` holds each file
#: to its exact size.
MAX_IDX_BYTES = 1 << 30

# Content read (and, for gzip, decompressed) per step: what a step can cost in memory.
# Few, long steps: zlib releases the interpreter lock for each call and waits to get it
# back after, so beside a busy thread each call costs a wait (Python's gzip module makes
# 1,458 calls for MNIST's files: 2.7 s instead of 0.2 s beside a thread importing modules).
_READ_STEP = 8 << 20
# Compressed bytes read from the file per step.
_INPUT_STEP = 4 << 20

# IDX type codes (third byte of the magic number) mnistkit reads; MNIST uses only 0x08.
_IDX_DTYPES: dict[int, np.dtype[np.generic]] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


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
        The file; a name ending in ``.gz`` (gzip) or ``.xz`` (LZMA) is decompressed.
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
    with _open_content(path, codec=codec_of(path.name)) as content:
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


def codec_of(name: str) -> str:
    """The compression a file name's suffix announces: ``"gz"``, ``"xz"`` or ``""``."""
    for codec in ("gz", "xz"):
        if name.endswith(f".{codec}"):
            return codec
    return ""


# What a damaged compressed stream raises while being read: gzip's and zlib's errors, LZMA's,
# and a zip member's failed CRC check (zipfile.BadZipFile).
_STREAM_ERRORS = (OSError, EOFError, zlib.error, lzma.LZMAError, zipfile.BadZipFile)


class _Readable(Protocol):
    """What :class:`_Content` reads from: a binary file, or a decompressing stream."""

    def read(self, size: int, /) -> bytes: ...


class _Content:
    """The content of a data file, read in bounded steps and hashed (SHA-256) as it goes.

    A gzip stream is decompressed only as far as each read asks, so a file that inflates to
    gigabytes costs no more memory than the reads made of it; gzip's errors (not gzip,
    truncated, a bad CRC) become :class:`CorruptFileError` naming the file.
    """

    def __init__(
        self,
        stream: _Readable,
        *,
        label: str,
        compressed: bool,
        kind: str = "gzip",
    ) -> None:
        self._stream = stream
        self._label = label
        self._compressed = compressed
        self._kind = kind
        self._sha256 = hashlib.sha256()

    def read(self, size: int) -> bytes:
        """Up to ``size`` bytes of content; fewer only at its end."""
        try:
            data = self._stream.read(size)
        except _STREAM_ERRORS as exc:
            if not self._compressed:
                raise  # a real I/O error on an uncompressed file, not bad content
            raise CorruptFileError(
                f"{self._label}: not a complete {self._kind} file ({exc}); it may be truncated."
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


class _GzipStream:
    """The decompressed content of a gzip stream, read in long steps.

    What :class:`gzip.GzipFile` reads, with zlib called on up to ``_INPUT_STEP``
    compressed bytes at a time rather than 128 KiB (see ``_READ_STEP``). zlib checks each
    member's header, CRC-32 and length; members may follow one another, with zero bytes
    between them, as :mod:`gzip` allows. A damaged stream raises :class:`zlib.error`, a
    truncated one :class:`EOFError`.
    """

    def __init__(self, raw: io.BufferedIOBase | IO[bytes]) -> None:
        self._raw = raw
        self._inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)  # gzip framing only
        self._pending = b""  # compressed bytes read but not yet given to zlib
        self._started = False  # whether the current member has received any input

    def _input(self) -> bytes:
        if self._pending:
            data, self._pending = self._pending, b""
            return data
        return self._raw.read(_INPUT_STEP)

    def read(self, size: int) -> bytes:
        """Up to ``size`` bytes of content (``size`` > 0); ``b""`` at its end."""
        while True:
            inflate = self._inflate
            if inflate.eof:
                rest = (inflate.unused_data or self._raw.read(_INPUT_STEP)).lstrip(b"\0")
                while not rest:  # padding up to the end of a block, or the end
                    more = self._raw.read(_INPUT_STEP)
                    if not more:
                        return b""
                    rest = more.lstrip(b"\0")
                self._inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
                self._pending, self._started = rest, False
                continue
            data = inflate.unconsumed_tail or self._input()
            if not data:
                if not self._started:
                    return b""  # nothing at all (an empty file is refused before this)
                raise EOFError("the compressed stream ends before its end-of-stream marker")
            self._started = True
            out = inflate.decompress(data, size)
            if out:
                return out


@contextlib.contextmanager
def _open_content(path: Path, *, codec: str, label: str | None = None) -> Iterator[_Content]:
    """Open ``path`` for :class:`_Content` reads, decompressing ``codec`` (``"gz"``,
    ``"xz"`` or ``""``); ``label`` names it in messages."""
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
        with _decompressed(raw, codec=codec, label=name) as content:
            yield content


@contextlib.contextmanager
def _decompressed(
    raw: io.BufferedIOBase | IO[bytes], *, codec: str, label: str
) -> Iterator[_Content]:
    """A :class:`_Content` over the stream ``raw``, decompressed as ``codec`` says, step by
    step as it is read (never all at once)."""
    if codec == "gz":
        yield _Content(_GzipStream(raw), label=label, compressed=True, kind="gzip")
    elif codec == "xz":
        with lzma.LZMAFile(raw, mode="rb") as unxz:  # type: ignore[arg-type]
            yield _Content(unxz, label=label, compressed=True, kind="xz")
    else:
        yield _Content(raw, label=label, compressed=False)


def _parse_idx(content: _Content, path: Path | str, *, max_bytes: int) -> np.ndarray:
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
