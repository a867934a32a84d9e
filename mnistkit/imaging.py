"""Turn a user's picture of a digit into an MNIST-style 28x28 image.

MNIST digits are light strokes on a black background, size-normalised so the
ink fits a 20x20 box (aspect ratio kept) and placed in a 28x28 field so that
the centre of mass of the pixels sits at the centre.  A classifier trained on
MNIST only makes sense of a photograph or scan after the same treatment, which
:func:`preprocess_image` applies:

1. **Greyscale.**  Colour is reduced with the ITU-R 601-2 luma transform (the
   one Pillow's ``"L"`` mode uses); transparent pixels are composited onto
   white first, as a viewer would show them.
2. **Polarity.**  The background is taken to be the median of a frame along
   the image border (5 % of the shorter side, at least one pixel wide).  The
   image is inverted when that background is brighter than the mean of the
   interior, i.e. when the content is darker than the paper (pen on paper).
   When the two are equal (within 1e-5, far below one grey level, so that the
   rounding of a float32 sum cannot decide) -- an image with no ink in the
   middle, or as much ink darker as lighter -- it is inverted when the
   background is brighter than mid-grey.
3. **Contrast.**  The background level is mapped to 0 and the brightest ink
   pixel to 1.  An image whose ink is less than :data:`MIN_CONTRAST` brighter
   than its background contains no digit and is rejected.
4. **Crop and resize.**  Pixels above :data:`INK_THRESHOLD` are ink; the image
   is cropped to their bounding box and resized, aspect ratio kept, so the
   longer side is 20 pixels, with Pillow's ``LANCZOS`` filter.  When
   shrinking, Pillow widens the filter by the scale factor, so it anti-aliases
   (MNIST's grey stroke edges come from anti-aliasing too); of Pillow's
   filters it gave the highest pixel correlation with the original digits
   when 200 real MNIST test digits were enlarged, inverted and preprocessed
   back (mean 0.964, tied with ``BICUBIC``, against 0.961 for ``BILINEAR``
   and 0.960 for ``BOX``).  Its ringing overshoots are clipped to [0, 1].
5. **Centre.**  The 20x20-or-smaller digit is placed in a black 28x28 canvas
   at the whole-pixel offset that brings its centre of mass closest to pixel
   (14, 14) (row, column).  That is where MNIST itself puts it: on all 10,000
   test digits the centre of mass lies within half a pixel of (14, 14).  The
   offset is clipped so that no ink leaves the canvas.

Reading files is done by Pillow, restricted to :data:`SUPPORTED_FORMATS` so
that no plug-in that runs external programs (Pillow's EPS reader calls
Ghostscript) is ever reached; Pillow's decompression-bomb guard
(``PIL.Image.MAX_IMAGE_PIXELS``) is applied strictly -- an image over the
limit is refused before it is decoded -- and reported as an
:class:`~mnistkit.exceptions.ImageError`.  A camera's EXIF orientation is
applied, so a photo taken with the phone on its side comes out upright.

Known limits: the bounding box is taken over every ink pixel, so a speck of
dirt far from the digit shrinks the digit; several digits in one image are
treated as one.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from mnistkit.exceptions import ImageError

__all__ = [
    "CANVAS_SIZE",
    "DIGIT_BOX",
    "INK_THRESHOLD",
    "MIN_CONTRAST",
    "SUPPORTED_FORMATS",
    "load_image",
    "load_images",
    "preprocess_image",
]

CANVAS_SIZE: Final = 28
"""Side of the square MNIST image, in pixels."""

DIGIT_BOX: Final = 20
"""Side of the box the digit's ink is fitted into, in pixels (as in MNIST)."""

INK_THRESHOLD: Final = 0.25
"""Contrast-stretched brightness above which a pixel counts as ink when cropping.

Low enough to keep faint stroke ends, high enough that JPEG noise and paper
texture around the digit do not widen the bounding box.
"""

MIN_CONTRAST: Final = 0.1
"""Least difference between ink and background (on a 0-1 scale) that counts as a digit.

About 25 grey levels of 255: a faint pencil stroke passes, a blank page with
scanner noise or compression artefacts does not.
"""

SUPPORTED_FORMATS: Final = ("PNG", "JPEG", "BMP", "GIF", "TIFF", "WEBP")
"""Pillow format names :func:`load_image` will decode; every other file is refused."""

# Background and interior mean closer than this count as equal for the polarity rule
# (a float32 mean of thousands of pixels is off by up to about 1e-6; a grey level is 4e-3).
_TIE: Final = 1e-5
# Fraction of the shorter side used as the border frame that estimates the background.
_BORDER_FRACTION: Final = 0.05
# ITU-R 601-2 luma weights, the ones Pillow's RGB -> "L" conversion uses.
_LUMA: Final = np.array([0.299, 0.587, 0.114], dtype=np.float32)
# Modes whose pixels carry an alpha channel (after the conversions Pillow offers).
_ALPHA_MODES: Final = frozenset({"LA", "La", "PA", "RGBA", "RGBa"})
# Modes converted through Pillow's own RGB conversion.
_COLOUR_MODES: Final = frozenset({"1", "P", "RGB", "RGBX", "CMYK", "YCbCr"})
# 16-bit greyscale modes: Pillow >= 10 opens 16-bit PNGs as "I;16", older versions as "I".
_WIDE_MODES: Final = frozenset({"I;16", "I;16B", "I;16L", "I;16N", "I"})
_ACCEPTED_MODES: Final = ", ".join(
    sorted(_ALPHA_MODES | _COLOUR_MODES | _WIDE_MODES | {"L"}, key=str.lower)
)

_FloatImage = npt.NDArray[np.float32]
_StrPath = str | os.PathLike[str]


def load_image(path: _StrPath) -> torch.Tensor:
    """Read an image file and preprocess it into an MNIST-style digit.

    Parameters
    ----------
    path : str or os.PathLike
        A PNG or JPEG file (BMP, GIF, TIFF and WebP are read too) of any size,
        grey or colour, with or without transparency.  The digit may be dark
        on light (pen on paper) or light on dark (like MNIST).

    Returns
    -------
    torch.Tensor
        ``uint8`` tensor of shape ``(28, 28)``: light digit on black, fitted
        into 20x20 and mass-centred, as described in :mod:`mnistkit.imaging`.

    Raises
    ------
    ImageError
        If the file does not exist, is a directory, cannot be read, is not an
        image in one of :data:`SUPPORTED_FORMATS`, is truncated or corrupt,
        exceeds Pillow's decompression-bomb limit, has an unsupported pixel
        mode, or contains no digit.  The message names the file.

    Examples
    --------
    >>> image = load_image("three.png")  # doctest: +SKIP
    >>> image.shape, image.dtype  # doctest: +SKIP
    (torch.Size([28, 28]), torch.uint8)
    """
    source = f"image file '{os.fspath(path)}'"
    file = Path(path)
    if file.is_dir():
        raise ImageError(f"{source} is a directory; pass the path of a PNG or JPEG file")
    if not file.exists():
        raise ImageError(f"{source} does not exist; pass the path of a PNG or JPEG file")
    try:
        with Image.open(file, formats=SUPPORTED_FORMATS) as opened:
            # Pillow only refuses images over twice its limit (and warns in between); a digit
            # never needs that many pixels, so refuse at the limit, before decoding anything.
            limit = Image.MAX_IMAGE_PIXELS
            if limit is not None and opened.width * opened.height > limit:
                raise Image.DecompressionBombError(
                    f"{opened.width}x{opened.height} pixels exceeds the limit of {limit}"
                )
            opened.load()
            image = ImageOps.exif_transpose(opened)
    except Image.DecompressionBombError as error:
        raise ImageError(
            f"{source} is too large to decode safely ({error}); pass a smaller image, or raise "
            "PIL.Image.MAX_IMAGE_PIXELS for a file you trust"
        ) from error
    except PermissionError as error:
        raise ImageError(
            f"{source} cannot be read: permission denied; pass a file you are allowed to read"
        ) from error
    except UnidentifiedImageError as error:
        raise ImageError(
            f"{source} is not an image in a supported format; "
            f"expected one of: {', '.join(SUPPORTED_FORMATS)}"
        ) from error
    except (OSError, SyntaxError, ValueError, EOFError, struct.error) as error:
        # Pillow reports truncated or malformed data with any of these, depending on the codec.
        raise ImageError(
            f"{source} could not be decoded, it is truncated or corrupt ({error}); "
            "pass a complete PNG or JPEG file"
        ) from error
    return _preprocess(_pil_to_grey(image, source=source), source=source)


def load_images(paths: Iterable[_StrPath]) -> torch.Tensor:
    """Read several image files with :func:`load_image` and stack them.

    Parameters
    ----------
    paths : iterable of str or os.PathLike
        The image files, in order.

    Returns
    -------
    torch.Tensor
        ``uint8`` tensor of shape ``(N, 28, 28)``; ``N`` may be 0.

    Raises
    ------
    TypeError
        If ``paths`` is a single path rather than a collection of paths.
    ImageError
        For the first file that cannot be loaded (see :func:`load_image`).
    """
    if isinstance(paths, (str, bytes, os.PathLike)):
        raise TypeError(
            f"Argument 'paths' must be an iterable of paths but got the single path {paths!r}; "
            "pass a list, or call load_image() for one file"
        )
    images = [load_image(path) for path in paths]
    if not images:
        return torch.empty((0, CANVAS_SIZE, CANVAS_SIZE), dtype=torch.uint8)
    return torch.stack(images)


def preprocess_image(image: Image.Image | npt.NDArray[np.generic]) -> torch.Tensor:
    """Preprocess an in-memory image into an MNIST-style digit.

    Parameters
    ----------
    image : PIL.Image.Image or numpy.ndarray
        A Pillow image in a common mode (``L``, ``LA``, ``RGB``, ``RGBA``,
        ``P``, ``1``, 16-bit grey, ...), or an array of shape ``(H, W)``,
        ``(H, W, 1)`` (grey), ``(H, W, 2)`` (grey and alpha), ``(H, W, 3)``
        (RGB) or ``(H, W, 4)`` (RGBA), either ``uint8`` or floating point with
        values in ``[0, 1]``.

    Returns
    -------
    torch.Tensor
        ``uint8`` tensor of shape ``(28, 28)``: light digit on black, fitted
        into 20x20 and mass-centred, as described in :mod:`mnistkit.imaging`.

    Raises
    ------
    TypeError
        If ``image`` is neither a Pillow image nor a NumPy array.
    ImageError
        If the mode, shape, dtype or value range is not one of those above, or
        the image contains no digit.
    """
    if isinstance(image, Image.Image):
        source = f"image {image!r}"
        grey = _pil_to_grey(image, source=source)
    elif isinstance(image, np.ndarray):
        source = f"array of shape {image.shape} and dtype {image.dtype}"
        grey = _array_to_grey(image, source=source)
    else:
        raise TypeError(
            "Argument 'image' must be a PIL.Image.Image or a numpy.ndarray "
            f"but got {type(image).__name__}"
        )
    return _preprocess(grey, source=source)


def _pil_to_grey(image: Image.Image, *, source: str) -> _FloatImage:
    """Return a Pillow image as float greyscale in [0, 1], transparency on white."""
    mode = image.mode
    if mode in _ALPHA_MODES or (mode in _COLOUR_MODES | {"L"} and "transparency" in image.info):
        return _array_to_grey(np.asarray(image.convert("RGBA")), source=source)
    if mode == "L":
        return _array_to_grey(np.asarray(image), source=source)
    if mode in _COLOUR_MODES:
        return _array_to_grey(np.asarray(image.convert("RGB")), source=source)
    if mode in _WIDE_MODES:
        # "I" holds 32-bit integers; read as 16-bit grey, anything outside 0-65535 is clipped.
        wide: _FloatImage = np.clip(np.asarray(image).astype(np.float32) / 65535.0, 0.0, 1.0)
        return wide
    raise ImageError(
        f"{source} has unsupported pixel mode {mode!r}; expected one of: " + _ACCEPTED_MODES
    )


def _array_to_grey(array: npt.NDArray[np.generic], *, source: str) -> _FloatImage:
    """Return an (H, W[, C]) uint8 or [0, 1] float array as float greyscale in [0, 1]."""
    if array.ndim == 2:
        array = array[:, :, np.newaxis]
    if array.ndim != 3 or array.shape[2] not in (1, 2, 3, 4):
        raise ImageError(
            f"{source} has an unsupported shape; expected (H, W), (H, W, 1), (H, W, 2), "
            "(H, W, 3) or (H, W, 4)"
        )
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ImageError(f"{source} is empty; expected at least one pixel in each direction")
    if array.dtype == np.uint8:
        values = array.astype(np.float32) / 255.0
    elif np.issubdtype(array.dtype, np.floating):
        values = array.astype(np.float32)
        if not np.isfinite(values).all() or values.min() < 0.0 or values.max() > 1.0:
            raise ImageError(
                f"{source} has values outside [0, 1] or non-finite values; "
                "expected floating-point values in [0, 1], or a uint8 array"
            )
    else:
        raise ImageError(
            f"{source} has an unsupported dtype; expected uint8, or floating point in [0, 1]"
        )
    channels = values.shape[2]
    colour = values[:, :, :3] @ _LUMA if channels >= 3 else values[:, :, 0]
    if channels in (2, 4):
        alpha = values[:, :, -1]
        colour = alpha * colour + (1.0 - alpha)  # composite onto white
    grey: _FloatImage = np.ascontiguousarray(colour, dtype=np.float32)
    return grey


def _preprocess(grey: _FloatImage, *, source: str) -> torch.Tensor:
    """Apply polarity, contrast, crop, resize and centring to a [0, 1] greyscale image."""
    height, width = grey.shape
    border = max(1, round(_BORDER_FRACTION * min(height, width)))
    frame = np.concatenate(
        [
            grey[:border].ravel(),
            grey[-border:].ravel(),
            grey[:, :border].ravel(),
            grey[:, -border:].ravel(),
        ]
    )
    background = float(np.median(frame))
    interior = grey[border:-border, border:-border]
    inside = interior if interior.size else grey
    content = float(inside.mean(dtype=np.float64))
    tie = abs(background - content) <= _TIE
    invert = background > 0.5 if tie else background > content
    if invert:
        grey = 1.0 - grey
        background = 1.0 - background

    peak = float(grey.max())
    if peak - background < MIN_CONTRAST:
        raise ImageError(
            f"{source} contains no digit: nothing differs from the background by at least "
            f"{MIN_CONTRAST:.0%} of full brightness; expected a dark digit on a light background "
            "or a light digit on a dark one"
        )
    ink = np.clip((grey - background) / (peak - background), 0.0, 1.0)

    rows = np.flatnonzero((ink > INK_THRESHOLD).any(axis=1))
    cols = np.flatnonzero((ink > INK_THRESHOLD).any(axis=0))
    cropped = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]

    crop_height, crop_width = cropped.shape
    scale = DIGIT_BOX / max(crop_height, crop_width)
    size = (max(1, round(crop_width * scale)), max(1, round(crop_height * scale)))
    resized = Image.fromarray(cropped.astype(np.float32)).resize(size, Image.Resampling.LANCZOS)
    digit = np.clip(np.asarray(resized, dtype=np.float32), 0.0, 1.0)

    canvas = np.zeros((CANVAS_SIZE, CANVAS_SIZE), dtype=np.float32)
    top = _centring_offset(digit.sum(axis=1), CANVAS_SIZE)
    left = _centring_offset(digit.sum(axis=0), CANVAS_SIZE)
    canvas[top : top + digit.shape[0], left : left + digit.shape[1]] = digit
    return torch.from_numpy(np.rint(canvas * 255.0).astype(np.uint8))


def _centring_offset(profile: _FloatImage, canvas: int) -> int:
    """Whole-pixel offset putting the profile's centre of mass nearest index ``canvas // 2``."""
    total = float(profile.sum())
    length = int(profile.shape[0])
    # An all-zero profile cannot come from a crop around ink, but must not divide by zero.
    centre = float(np.arange(length) @ profile) / total if total > 0.0 else (length - 1) / 2
    offset = round(canvas // 2 - centre)
    return min(max(offset, 0), canvas - length)
