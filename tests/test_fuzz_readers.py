"""Property-based tests: the file readers turn any bytes into a result or one of our errors.

:func:`mnistkit.datasets.read_idx` must return an array its header accounts for exactly, or
raise a :class:`~mnistkit.DatasetError`; :func:`mnistkit.imaging.load_image` must return a
28x28 digit or raise :class:`~mnistkit.ImageError`. No other exception may escape, whatever
the file holds: arbitrary bytes, or a valid file with bytes flipped, cut off or appended,
before or after gzip compression.
"""

from __future__ import annotations

import gzip
import io
import math
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

import mnistkit
from mnistkit.datasets import read_idx
from mnistkit.imaging import SUPPORTED_FORMATS, load_image


def fuzz(examples: int) -> settings:
    """Hypothesis settings: ``examples`` examples, no deadline (the machine may be busy),
    no example database (runs stay independent; a failure prints the example to rerun)."""
    return settings(max_examples=examples, deadline=None, database=None)


# IDX type codes and the (big-endian) types they stand for.
IDX_TYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def _write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` as a new file.

    Overwriting a file in place costs milliseconds on ext4, which flushes a truncated file
    when it is closed; removing it first makes each example microseconds instead.
    """
    path.unlink(missing_ok=True)
    path.write_bytes(data)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder for the whole module; each example overwrites its file."""
    return tmp_path_factory.mktemp("fuzz")


# --------------------------------------------------------------------------- strategies
@st.composite
def idx_files(draw: st.DrawFn) -> bytes:
    """A valid, small IDX file of any type code and one to three dimensions."""
    code = draw(st.sampled_from(sorted(IDX_TYPES)))
    shape = draw(st.lists(st.integers(0, 5), min_size=1, max_size=3))
    size = math.prod(shape) * IDX_TYPES[code].itemsize
    body = draw(st.binary(min_size=size, max_size=size))
    dims = b"".join(size.to_bytes(4, "big") for size in shape)
    return bytes([0, 0, code, len(shape)]) + dims + body


# What to do to a file: flip bytes (anywhere, or within the first 16, where most of a small
# IDX file's header lies), cut it short, append bytes, or leave it as it is.
Mutation = tuple[str, list[tuple[int, int]], int, bytes]
MUTATIONS = st.tuples(
    st.sampled_from(["same", "flip header", "flip", "truncate", "extend"]),
    st.lists(st.tuples(st.integers(0, 2**16), st.integers(1, 255)), min_size=1, max_size=3),
    st.integers(0, 2**16),
    st.binary(min_size=1, max_size=32),
)


def mutate(data: bytes, mutation: Mutation) -> bytes:
    """``data`` changed as ``mutation`` says (positions taken modulo the length)."""
    kind, flips, cut, tail = mutation
    if kind.startswith("flip") and data:
        span = min(16, len(data)) if kind == "flip header" else len(data)
        changed = bytearray(data)
        for position, value in flips:
            changed[position % span] ^= value
        return bytes(changed)
    if kind == "truncate" and data:
        return data[: cut % len(data)]
    if kind == "extend":
        return data + tail
    return data


# --------------------------------------------------------------------------- read_idx
def _read_checked(path: Path, content: bytes | None) -> None:
    """read_idx(path) raises a DatasetError, or returns the array ``content`` declares.

    ``content`` is what the file holds once decompressed, or None where it is not valid
    gzip (then read_idx must fail).
    """
    try:
        array = read_idx(path)
    except mnistkit.DatasetError:
        return
    assert content is not None, "read_idx accepted a file that is not valid gzip"
    ndim = content[3]
    header = 4 + 4 * ndim
    shape = tuple(int.from_bytes(content[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = IDX_TYPES[content[2]]
    assert content[:2] == b"\x00\x00"
    assert array.shape == shape
    assert array.dtype == dtype.newbyteorder("=")
    assert math.prod(shape) * dtype.itemsize == len(content) - header
    # Compare bit patterns, so NaNs among float values compare equal too.
    bits = np.dtype(f"u{dtype.itemsize}")
    expected = np.frombuffer(content, dtype=bits.newbyteorder(">"), offset=header)
    assert np.array_equal(array.reshape(-1).view(bits), expected)


def _gunzip(data: bytes) -> bytes | None:
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error):
        return None


@fuzz(800)
@given(data=st.binary(max_size=64), compressed=st.booleans())
def test_read_idx_on_arbitrary_bytes(folder: Path, data: bytes, compressed: bool) -> None:
    path = folder / ("arbitrary-idx.gz" if compressed else "arbitrary-idx")
    _write(path, data)
    _read_checked(path, _gunzip(data) if compressed else data)


@fuzz(1500)
@given(
    original=idx_files(),
    where=st.sampled_from(["raw", "before gzip", "after gzip"]),
    mutation=MUTATIONS,
)
def test_read_idx_on_mutated_files(
    folder: Path, original: bytes, where: str, mutation: Mutation
) -> None:
    content: bytes | None
    if where == "raw":
        path, content = folder / "mutated-idx", mutate(original, mutation)
        _write(path, content)
    elif where == "before gzip":
        path, content = folder / "mutated-idx.gz", mutate(original, mutation)
        _write(path, gzip.compress(content, mtime=0))
    else:
        path = folder / "mutated-idx.gz"
        stream = mutate(gzip.compress(original, mtime=0), mutation)
        _write(path, stream)
        content = _gunzip(stream)
    _read_checked(path, content)


@fuzz(200)
@given(original=idx_files(), compressed=st.booleans())
def test_read_idx_round_trips_valid_files(folder: Path, original: bytes, compressed: bool) -> None:
    path = folder / ("valid-idx.gz" if compressed else "valid-idx")
    _write(path, gzip.compress(original, mtime=0) if compressed else original)
    array = read_idx(path)  # a valid file is never refused
    _read_checked(path, original)
    assert array.flags.c_contiguous


def test_read_idx_on_an_empty_array_too_large_to_shape(folder: Path) -> None:
    # Found by test_read_idx_on_mutated_files: no data, but dimensions whose product (zero
    # left out) is past what NumPy can index; reshape raised ValueError.
    path = folder / "empty-but-huge-idx"
    dims = b"".join(size.to_bytes(4, "big") for size in (0x36000000, 0, 0x4C000000))
    _write(path, b"\x00\x00\x0e\x03" + dims)
    with pytest.raises(mnistkit.CorruptFileError, match=r"shape \(905969664, 0, 1275068416\)"):
        read_idx(path)


# --------------------------------------------------------------------------- load_image
def _small_images() -> dict[str, bytes]:
    """A 12x10 dark digit-like stroke on light paper, saved in each supported format."""
    pixels = np.full((12, 10), 230, dtype=np.uint8)
    pixels[2:10, 4:6] = 20
    pixels[2:4, 2:6] = 20
    files = {}
    for fmt in SUPPORTED_FORMATS:
        buffer = io.BytesIO()
        Image.fromarray(pixels).convert("RGB" if fmt == "JPEG" else "L").save(buffer, format=fmt)
        files[fmt] = buffer.getvalue()
    return files


SMALL_IMAGES = _small_images()


def _load_checked(path: Path) -> None:
    try:
        image = load_image(path)
    except mnistkit.ImageError:
        return
    assert isinstance(image, torch.Tensor)
    assert image.shape == (28, 28)
    assert image.dtype == torch.uint8


def test_small_images_are_digits(folder: Path) -> None:
    # The mutation tests start from files load_image accepts.
    for fmt, data in SMALL_IMAGES.items():
        path = folder / f"valid.{fmt.lower()}"
        _write(path, data)
        assert load_image(path).shape == (28, 28)


# Pillow warns about the corrupt metadata it skips, and about huge declared sizes before
# load_image refuses them; neither is what is tested here.
@pytest.mark.filterwarnings("ignore::UserWarning:PIL.*")
@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@fuzz(400)
@given(data=st.binary(max_size=256))
def test_load_image_on_arbitrary_bytes(folder: Path, data: bytes) -> None:
    path = folder / "arbitrary-image"
    _write(path, data)
    _load_checked(path)


@pytest.mark.filterwarnings("ignore::UserWarning:PIL.*")
@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@fuzz(1000)
@given(fmt=st.sampled_from(sorted(SMALL_IMAGES)), mutation=MUTATIONS)
def test_load_image_on_mutated_files(folder: Path, fmt: str, mutation: Mutation) -> None:
    path = folder / f"mutated.{fmt.lower()}"
    _write(path, mutate(SMALL_IMAGES[fmt], mutation))
    _load_checked(path)
