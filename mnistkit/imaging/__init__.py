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

Photographs of a digit written on paper need more: the light falls unevenly across the
sheet, ruled or squared lines cross it, specks and the sheet's edge are in view, and a pen's
stroke, once the digit is scaled to 20 pixels, is a hairline. So a picture is first looked
at (on a copy whose shorter side is at most 600 pixels) and sent down one of two paths:

* **The clean path** -- the five steps above, exactly -- when the paper's level is even
  (along the border frame it varies, 5th to 95th percentile, by less than 10 % of the
  ink's contrast), there are no ruled lines among what it would take for ink and the
  strokes do not become hairlines at the 20-pixel scale. Scans, drawings on a canvas,
  MNIST digits and pictures smaller than 96 pixels take it; so does the "Draw a digit"
  page of the documentation, whose JavaScript repeats this path.
* **The photo path** otherwise, on the 600-pixel copy, with scikit-image:

  1. *Light.*  The ink is dark unless the picture's light tail around its local median
     is twice its dark one (chalk on a board).  On a 64-pixel thumbnail a grey closing
     wider than any stroke (an opening for light ink) wipes out the writing and keeps
     the paper's brightness, its shading and the table around the sheet.
  2. *Local threshold.*  Each pixel's darkness is measured against that local paper
     level, as a fraction of it, so a shadow does not look like ink.  Ink is what is
     darker than half the darkest ink (and than six times the paper's noise and
     :data:`MIN_CONTRAST`), with what joins it down to a quarter (hysteresis).
  3. *Ruled lines.*  Three or more thin straight bands of ink across at least 60 % of
     the picture, near horizontal or near vertical (within 8 degrees), are ruled lines
     and removed; ink on them much darker than the lines stays, and a stroke crossing
     one is joined again.
  4. *The digit.*  The connected ink with the most darkness is the digit; pieces near
     it that do not make it more than 2.5 times as large are its other strokes.
     Specks, long straight lines, and what touches the border thinly, solidly or over
     half the picture (the sheet's edge, the table) are left out.
  5. *Strokes.*  The digit is redrawn at 80 pixels with MNIST's stroke width (2.6
     pixels at the 20-pixel scale, the median over MNIST's test set): thin pen lines
     are thickened, marker strokes redrawn along their skeleton.  Then it is fitted
     and centred as in steps 4-5 above.

  A photo holds no digit when nothing is left at least 25 % darker than the paper
  around it and 8 % of the picture's shorter side long.
  :func:`explain_preprocessing` draws, per picture, the photo, the ink kept as the digit
  and the 28x28 result.  ``method="clean"`` or ``"photo"`` forces one path.

Reading files is done by Pillow, restricted to :data:`SUPPORTED_FORMATS` so
that no plug-in that runs external programs (Pillow's EPS reader calls
Ghostscript) is ever reached; Pillow's decompression-bomb guard
(``PIL.Image.MAX_IMAGE_PIXELS``) is applied strictly -- an image over the
limit is refused before it is decoded -- and reported as an
:class:`~mnistkit.exceptions.ImageError`.  A camera's EXIF orientation is
applied, so a photo taken with the phone on its side comes out upright.  A
large JPEG is decoded at a reduced scale (libjpeg's DCT scaling) when only the
photo path needs it.

Known limits: on the clean path the bounding box is taken over every ink pixel,
so a speck of dirt far from the digit shrinks the digit; several digits in one
image are treated as one (the photo path keeps the strongest and what is near it).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

import numpy as np
import numpy.typing as npt
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from mnistkit._validation import check_choice
from mnistkit.exceptions import ImageError
from mnistkit.imaging import _photo

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "CANVAS_SIZE",
    "DIGIT_BOX",
    "INK_THRESHOLD",
    "METHODS",
    "MIN_CONTRAST",
    "SUPPORTED_FORMATS",
    "explain_preprocessing",
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

METHODS: Final = ("auto", "clean", "photo")
"""Values of the ``method`` argument: choose the path per picture, or force one."""

_FloatImage = npt.NDArray[np.float32]
_BoolImage = npt.NDArray[np.bool_]
_StrPath = str | os.PathLike[str]
_Input = Image.Image | npt.NDArray[np.generic] | _StrPath


@dataclass(frozen=True, slots=True)
class _Outcome:
    """One picture's way through the preprocessing, for :func:`explain_preprocessing`."""

    picture: _FloatImage  # the greyscale picture looked at (at most 600 pixels on its short side)
    mask: _BoolImage  # what was taken for the digit's ink, the picture's size
    digit: torch.Tensor | None
    route: str  # "clean", or "photo (<why>)"
    error: str | None


def load_image(path: _StrPath, *, method: str = "auto") -> torch.Tensor:
    """Read an image file and preprocess it into an MNIST-style digit.

    Parameters
    ----------
    path : str or os.PathLike
        A PNG or JPEG file (BMP, GIF, TIFF and WebP are read too) of any size,
        grey or colour, with or without transparency.  The digit may be dark
        on light (pen on paper) or light on dark (like MNIST).  It may be a
        photo of a digit written on (ruled) paper.
    method : {"auto", "clean", "photo"}, default="auto"
        Which preprocessing: ``"auto"`` chooses per picture (see
        :mod:`mnistkit.imaging`); the others force the clean or the photo path.

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
    mnistkit.exceptions.ConfigError
        If ``method`` is not one of :data:`METHODS`.

    Examples
    --------
    >>> image = load_image("three.png")  # doctest: +SKIP
    >>> image.shape, image.dtype  # doctest: +SKIP
    (torch.Size([28, 28]), torch.uint8)
    """
    outcome = _load(path, _method(method), explain=False)
    if outcome.digit is None:  # pragma: no cover - _load raises instead when not explaining
        raise ImageError(str(outcome.error))
    return outcome.digit


def load_images(paths: Iterable[_StrPath], *, method: str = "auto") -> torch.Tensor:
    """Read several image files with :func:`load_image` and stack them.

    Parameters
    ----------
    paths : iterable of str or os.PathLike
        The image files, in order.
    method : {"auto", "clean", "photo"}, default="auto"
        Which preprocessing, as for :func:`load_image`.

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
    images = [load_image(path, method=method) for path in paths]
    if not images:
        return torch.empty((0, CANVAS_SIZE, CANVAS_SIZE), dtype=torch.uint8)
    return torch.stack(images)


def preprocess_image(
    image: Image.Image | npt.NDArray[np.generic], *, method: str = "auto"
) -> torch.Tensor:
    """Preprocess an in-memory image into an MNIST-style digit.

    Parameters
    ----------
    image : PIL.Image.Image or numpy.ndarray
        A Pillow image in a common mode (``L``, ``LA``, ``RGB``, ``RGBA``,
        ``P``, ``1``, 16-bit grey, ...), or an array of shape ``(H, W)``,
        ``(H, W, 1)`` (grey), ``(H, W, 2)`` (grey and alpha), ``(H, W, 3)``
        (RGB) or ``(H, W, 4)`` (RGBA), either ``uint8`` or floating point with
        values in ``[0, 1]``.
    method : {"auto", "clean", "photo"}, default="auto"
        Which preprocessing, as for :func:`load_image`.

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
    mnistkit.exceptions.ConfigError
        If ``method`` is not one of :data:`METHODS`.
    """
    chosen = _method(method)
    if not isinstance(image, (Image.Image, np.ndarray)):
        raise TypeError(
            "Argument 'image' must be a PIL.Image.Image or a numpy.ndarray "
            f"but got {type(image).__name__}"
        )
    outcome = _in_memory(image, chosen, explain=False)
    if outcome.digit is None:  # pragma: no cover - raised instead when not explaining
        raise ImageError(str(outcome.error))
    return outcome.digit


def explain_preprocessing(
    inputs: Iterable[_Input],
    *,
    method: str = "auto",
    titles: Sequence[str] | None = None,
) -> Figure:
    """Draw what the preprocessing made of each picture: why an answer may be wrong.

    One row per picture: the picture (greyscale, as analysed), the ink kept as the digit
    (red over the picture) and the 28x28 image a model sees. A picture refused as holding
    no digit, or that cannot be read, shows the reason instead of the last two.

    Parameters
    ----------
    inputs : iterable of str, os.PathLike, PIL.Image.Image or numpy.ndarray
        Image files (read as :func:`load_image` reads them) or in-memory images (as
        :func:`preprocess_image` takes them).
    method : {"auto", "clean", "photo"}, default="auto"
        Which preprocessing, as for :func:`load_image`.
    titles : sequence of str, optional
        A title per picture (for example the model's answer); by default the file name.

    Returns
    -------
    matplotlib.figure.Figure
        The figure, made through :mod:`matplotlib.pyplot` and not shown: call
        ``plt.show()`` or ``fig.savefig(...)``.

    Raises
    ------
    ValueError
        If there are no inputs, or ``titles`` does not have one title per input.
    TypeError
        If an input is neither a path nor an image.
    mnistkit.exceptions.ConfigError
        If ``method`` is not one of :data:`METHODS`.

    Examples
    --------
    >>> fig = explain_preprocessing(["three.jpg", "seven.jpg"])  # doctest: +SKIP
    >>> fig.savefig("why.png")  # doctest: +SKIP
    """
    from mnistkit.imaging._explain import draw

    chosen = _method(method)
    if isinstance(inputs, (str, bytes, os.PathLike, Image.Image, np.ndarray)):
        inputs = [inputs]
    items = list(inputs)
    if not items:
        raise ValueError("Argument 'inputs' must hold at least one picture but got none")
    if titles is not None and len(titles) != len(items):
        raise ValueError(
            f"Argument 'titles' must have one title per input ({len(items)}) but got {len(titles)}"
        )
    outcomes = []
    names = []
    for item in items:
        if isinstance(item, (Image.Image, np.ndarray)):
            outcomes.append(_in_memory(item, chosen, explain=True))
            names.append(type(item).__name__)
        elif isinstance(item, (str, os.PathLike)):
            outcomes.append(_load(item, chosen, explain=True))
            names.append(Path(item).name)
        else:
            raise TypeError(
                "Argument 'inputs' must hold paths, PIL.Image.Image or numpy.ndarray images "
                f"but got {type(item).__name__}"
            )
    labels = list(titles) if titles is not None else names
    return draw([(o.picture, o.mask, o.digit, o.route, o.error) for o in outcomes], labels)


def _method(method: object) -> str:
    return check_choice(method, "method", METHODS)


# --- the way through -----------------------------------------------------------------------------


def _open(file: Path, source: str, *, draft: bool) -> tuple[Image.Image, bool]:
    """The file's picture, upright, and whether it was decoded at a reduced scale (with
    ``draft``, a large JPEG is)."""
    try:
        with Image.open(file, formats=SUPPORTED_FORMATS) as opened:
            # Pillow only refuses images over twice its limit (and warns in between); a digit
            # never needs that many pixels, so refuse at the limit, before decoding anything.
            limit = Image.MAX_IMAGE_PIXELS
            if limit is not None and opened.width * opened.height > limit:
                raise Image.DecompressionBombError(
                    f"{opened.width}x{opened.height} pixels exceeds the limit of {limit}"
                )
            size = opened.size
            if draft and opened.format == "JPEG" and min(size) >= 2 * _photo.WORK_SIDE:
                # libjpeg scales by 1/2, 1/4 or 1/8 while decoding, far faster than a resize
                short = min(opened.size)
                wanted = tuple(-(-side * _photo.WORK_SIDE // short) for side in opened.size)
                opened.draft("L", (int(wanted[0]), int(wanted[1])))
            opened.load()
            reduced = opened.size != size
            image: Image.Image = ImageOps.exif_transpose(opened)
            return image, reduced
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
    except (
        OSError,
        SyntaxError,
        ValueError,
        EOFError,
        struct.error,
        AttributeError,
        IndexError,
        TypeError,
    ) as error:
        # Pillow reports truncated or malformed data with any of these, depending on the codec
        # and its release (Pillow 9 fails on some corrupt TIFF headers with AttributeError)
        raise ImageError(
            f"{source} could not be decoded, it is truncated or corrupt ({error}); "
            "pass a complete PNG or JPEG file"
        ) from error


def _load(path: _StrPath, method: str, *, explain: bool) -> _Outcome:
    source = f"image file '{os.fspath(path)}'"
    file = Path(path)
    try:
        if file.is_dir():
            raise ImageError(f"{source} is a directory; pass the path of a PNG or JPEG file")
        if not file.exists():
            raise ImageError(f"{source} does not exist; pass the path of a PNG or JPEG file")
        image, reduced = _open(file, source, draft=method != "clean")

        def full_picture() -> Image.Image:
            return _open(file, source, draft=False)[0]

        # decoded at a reduced scale: the clean path, if chosen, reads every pixel
        return _through(
            image, source, method, explain=explain, reread=full_picture if reduced else None
        )
    except ImageError as error:
        if not explain:
            raise
        return _failed(str(error))


def _in_memory(
    image: Image.Image | npt.NDArray[np.generic], method: str, *, explain: bool
) -> _Outcome:
    if isinstance(image, Image.Image):
        source = f"image {image!r}"
    else:
        source = f"array of shape {image.shape} and dtype {image.dtype}"
    try:
        return _through(image, source, method, explain=explain)
    except ImageError as error:
        if not explain:
            raise
        return _failed(str(error))


def _failed(message: str) -> _Outcome:
    blank = np.zeros((1, 1), dtype=np.float32)
    return _Outcome(blank, np.zeros((1, 1), dtype=bool), None, "refused", message)


def _grey(image: Image.Image | npt.NDArray[np.generic], source: str) -> _FloatImage:
    if isinstance(image, Image.Image):
        return _pil_to_grey(image, source=source)
    return _array_to_grey(image, source=source)


def _work_copy(image: Image.Image | npt.NDArray[np.generic], source: str) -> _FloatImage:
    """Greyscale with the shorter side at most WORK_SIDE; large 8-bit pictures are shrunk
    before their pixels are converted (a 12-megapixel photo would take longer to convert)."""
    picture = image
    if isinstance(picture, np.ndarray) and picture.dtype == np.uint8:
        if picture.ndim == 3 and picture.shape[2] in (1, 3):
            picture = Image.fromarray(picture[:, :, 0] if picture.shape[2] == 1 else picture)
        elif picture.ndim == 2:
            picture = Image.fromarray(picture)
    if (
        isinstance(picture, Image.Image)
        and picture.mode in ("L", "RGB")
        and "transparency" not in picture.info
        and min(picture.size) > _photo.WORK_SIDE
    ):
        scale = _photo.WORK_SIDE / min(picture.size)
        size = (max(1, round(picture.width * scale)), max(1, round(picture.height * scale)))
        return _pil_to_grey(picture.resize(size, Image.Resampling.BOX), source=source)
    return _photo.shrink(_grey(image, source), _photo.WORK_SIDE)


def _through(
    image: Image.Image | npt.NDArray[np.generic],
    source: str,
    method: str,
    *,
    explain: bool,
    reread: Callable[[], Image.Image] | None = None,
) -> _Outcome:
    """Choose the path for one picture and take it."""
    if method == "clean":
        return _clean(_grey(image, source), source, explain=explain)
    work = _work_copy(image, source)
    reason = (
        "forced"
        if method == "photo"
        else _photo.photo_reason(
            work, border_fraction=_BORDER_FRACTION, ink_threshold=INK_THRESHOLD
        )
    )
    if reason is None:
        if reread is not None:
            image = reread()
        shape = (image.height, image.width) if isinstance(image, Image.Image) else image.shape[:2]
        # an unshrunk work copy is the greyscale picture itself
        grey = work if work.shape == shape else _grey(image, source)
        return _clean(grey, source, explain=explain)
    route = f"photo ({reason})"
    found = _photo.find_digit(work, min_contrast=MIN_CONTRAST)
    if found is None:
        message = (
            f"{source} contains no digit: once uneven light, ruled lines, specks and the "
            "sheet's edges are set aside, no stroke is left at least "
            f"{_photo.MIN_STROKE:.0%} darker than the paper around it and "
            f"{_photo.MIN_DIGIT:.0%} of the picture's shorter side long; expected a photo of "
            "one digit written on paper"
        )
        if not explain:
            raise ImageError(message)
        return _Outcome(work, np.zeros(work.shape, dtype=bool), None, route, message)
    digit = _fit_and_centre(found.ink)
    return _Outcome(work, found.mask, digit, route, None)


def _clean(grey: _FloatImage, source: str, *, explain: bool) -> _Outcome:
    try:
        ink = _clean_ink(grey, source=source)
    except ImageError as error:
        if not explain:
            raise
        picture = _photo.shrink(grey, _photo.WORK_SIDE)
        return _Outcome(picture, np.zeros(picture.shape, dtype=bool), None, "clean", str(error))
    digit = _fit_and_centre(ink)
    if not explain:
        return _Outcome(grey, np.zeros((1, 1), dtype=bool), digit, "clean", None)
    picture = _photo.shrink(grey, _photo.WORK_SIDE)
    mask = _photo.shrink((ink > INK_THRESHOLD).astype(np.float32), _photo.WORK_SIDE) > 0.0
    return _Outcome(picture, mask, digit, "clean", None)


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


def _clean_ink(grey: _FloatImage, *, source: str) -> _FloatImage:
    """Apply polarity and contrast to a [0, 1] greyscale image: ink in [0, 1] on black."""
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
    ink: _FloatImage = np.clip((grey - background) / (peak - background), 0.0, 1.0)
    return ink


def _fit_and_centre(ink: _FloatImage) -> torch.Tensor:
    """Crop ``ink`` (light on black, [0, 1]) to its ink, resize it into 20x20 and centre it."""
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
