"""The photo path: find a handwritten digit on a photographed sheet of paper.

Private to :mod:`mnistkit.imaging`, whose docstring describes the steps. Everything here works
on a float greyscale picture in [0, 1] whose shorter side is at most :data:`WORK_SIDE` pixels,
and uses scikit-image, imported inside the functions so that ``import mnistkit`` stays fast.
"""

from __future__ import annotations

import importlib
import math
from dataclasses import dataclass
from types import ModuleType
from typing import Final

import numpy as np
import numpy.typing as npt
from PIL import Image

__all__ = [
    "MIN_DIGIT",
    "MIN_SIDE",
    "MIN_STROKE",
    "WORK_SIDE",
    "Found",
    "find_digit",
    "photo_reason",
    "shrink",
]

_Float = npt.NDArray[np.float32]
_Bool = npt.NDArray[np.bool_]

WORK_SIDE: Final = 600
"""Shorter side, in pixels, a photo is analysed at: a digit of a tenth of it is 60 pixels tall."""

MIN_SIDE: Final = 96
"""Pictures with a shorter side below this are never treated as photos."""

# Side of the thumbnail on which the paper's light is estimated, and the radius of the
# closing that removes pen strokes from it (8 % of the side: wider than any stroke).
_TINY_SIDE: Final = 64
_LIGHT_RADIUS: Final = 5
# The clean path is kept when the paper's level varies along the border by less than this
# fraction of the ink's contrast (clean pictures: at most 0.04; photos of the tuning set:
# from 0.17).
_UNEVEN: Final = 0.1
# Strokes thinner than this (pixels, once the digit is scaled to its 20-pixel box) are
# photographed pen lines: MNIST's are 2.6 wide (median over its test set, ink mass per
# unit of skeleton length).
_THIN: Final = 1.2
# What a stroke is made to: MNIST's median width, drawn at 4x the final scale.
_STROKE_WIDTH: Final = 2.6
_RENDER_BOX: Final = 80
# A ruled line: ink along a band across at least this share of the picture.
_LINE_SPAN: Final = 0.6
# ... and holding ink along at least this share of its length.
_LINE_FILL: Final = 0.3
# Hysteresis thresholds as shares of the darkest ink's darkness (99th percentile of what
# stands out from the noise).
_INK_HIGH: Final = 0.5
_INK_LOW: Final = 0.25
# On a ruled line, what is this dark is the pen's, not the line's.
_INK_PEN: Final = 0.6
# No digit is smaller than this share of the picture's shorter side (specks, a grid's
# crossings are), nor are its strokes lighter than this darkness (90th percentile of the
# kept ink). Measured on the tuning photos: digits' strokes from 0.68, the darkest marks
# kept on 60 blank sheets (printed lines, shadows) up to 0.23; a pencil is about 0.45, less
# where it is pressed lightly.
MIN_DIGIT: Final = 0.08
MIN_STROKE: Final = 0.25
# A stroke's core: darker than this share of the digit's usual darkness (90th percentile).
_CORE: Final = 0.4
_LINE_ANGLES: Final = np.radians(np.arange(-8.0, 8.01, 0.5))


@dataclass(frozen=True, slots=True)
class Found:
    """What the photo path found.

    Parameters
    ----------
    ink : numpy.ndarray
        The digit redrawn with MNIST-like strokes, light on black in [0, 1], cropped to it.
    mask : numpy.ndarray
        Boolean, the size of the analysed picture: the ink that was kept as the digit.
    dark_ink : bool
        Whether the ink was darker than the paper.
    """

    ink: _Float
    mask: _Bool
    dark_ink: bool


def _skimage(module: str) -> ModuleType:
    """A scikit-image module, imported on first use (its functions are untyped: Any)."""
    return importlib.import_module(f"skimage.{module}")


def shrink(grey: _Float, side: int) -> _Float:
    """``grey`` resized by area averaging so its shorter side is ``side`` (never enlarged)."""
    height, width = grey.shape
    scale = side / min(height, width)
    if scale >= 1.0:
        return grey
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small = Image.fromarray(grey).resize(size, Image.Resampling.BOX)
    return np.asarray(small, dtype=np.float32)


def _enlarge(grey: _Float, shape: tuple[int, int]) -> _Float:
    size = (shape[1], shape[0])
    return np.asarray(
        Image.fromarray(grey).resize(size, Image.Resampling.BILINEAR), dtype=np.float32
    )


def _light(work: _Float) -> tuple[_Float, bool]:
    """The paper's brightness under the picture's light, and whether the ink is dark.

    The ink is whichever side of the local median (on a 128-pixel thumbnail) deviates
    further: pen on paper makes a long dark tail, chalk on a board a light one. Then, on a
    64-pixel thumbnail, a grey closing (dark ink) or opening (light ink) wider than any
    stroke removes the writing and keeps the paper, its shading and any large area such as
    the table around the sheet.
    """
    morphology = _skimage("morphology")
    small = shrink(work, 2 * _TINY_SIDE)
    residual = small - _skimage("filters").median(small, morphology.disk(8))
    spread = 3.0 * 1.4826 * float(np.median(np.abs(residual)))
    darker = float(np.maximum(-residual - spread, 0.0).sum())
    lighter = float(np.maximum(residual - spread, 0.0).sum())
    # paper between a bold digit's strokes is a light tail too: ink is dark unless the
    # light tail is twice the dark one
    dark_ink = 2.0 * darker >= lighter
    tiny = shrink(work, _TINY_SIDE)
    footprint = morphology.disk(_LIGHT_RADIUS)
    paper = morphology.closing(tiny, footprint) if dark_ink else morphology.opening(tiny, footprint)
    return _enlarge(paper.astype(np.float32), work.shape), dark_ink


def _darkness(work: _Float, light: _Float, dark_ink: bool) -> _Float:
    """How much darker than the paper around it each pixel is, as a fraction of the paper."""
    if not dark_ink:
        work, light = 1.0 - work, 1.0 - light
    darkness: _Float = 1.0 - work / np.maximum(light, np.float32(1e-3))
    np.clip(darkness, 0.0, 1.0, out=darkness)
    return darkness


def _noise(darkness: _Float) -> float:
    """Robust standard deviation of the paper's darkness (most pixels are paper)."""
    sample = darkness[::3, ::3]
    centre = float(np.median(sample))
    return 1.4826 * float(np.median(np.abs(sample - centre)))


def _line_bands(mask: _Bool) -> _Bool:
    """Pixels of ``mask`` on ruled lines: straight, near horizontal, thin, across most of the
    picture, and at least three of them.

    The ink's rows are projected along each candidate angle; the angle with the sharpest
    profile is the ruling's. At that angle, rows holding ink along at least
    :data:`_LINE_SPAN` of the width (counted in tenths, so that a digit crossing a line
    does not make one) are lines when they form thin bands and there are three or more: a
    digit's own bar, however long, is one.
    """
    height, width = mask.shape
    ys, xs = np.nonzero(mask)
    lines = np.zeros_like(mask)
    if ys.size < 3 * _LINE_SPAN * width:
        return lines
    step = max(1, ys.size // 20_000)  # the angle needs no more than this many pixels
    best, best_score = 0.0, -1.0
    pad = math.ceil(width * math.tan(float(_LINE_ANGLES.max()))) + 1
    for angle in _LINE_ANGLES:
        rows = np.rint(ys[::step] - xs[::step] * math.tan(angle)).astype(np.int64) + pad
        profile = np.bincount(rows).astype(np.float64)
        # lines make the sharpest steps in the profile; a shadow's broad hump does not
        score = float((np.diff(profile) ** 2).sum())
        if score > best_score:
            best, best_score = float(angle), score
    rows = np.rint(ys - xs * math.tan(best)).astype(np.int64) + pad
    tenths = np.minimum(xs * 10 // width, 9)
    occupied = np.zeros((height + 2 * pad + 2, 10), dtype=bool)
    occupied[rows, tenths] = True
    counts = np.bincount(rows, minlength=occupied.shape[0])
    # spread along the width, and dense: lines of the other direction (squared paper) put
    # a little ink in every row, a ruled line fills its own
    spanned = (occupied.sum(axis=1) >= round(10 * _LINE_SPAN)) & (counts >= _LINE_FILL * width)
    # runs of spanned rows: a ruled line is a few rows thick, a digit's bar may be too
    edges = np.flatnonzero(np.diff(spanned.astype(np.int8), prepend=0, append=0))
    starts, stops = edges[::2], edges[1::2]
    thin = (stops - starts) <= max(4, round(0.015 * min(height, width)))
    if int(thin.sum()) < 3:
        return lines
    line_rows = np.zeros(spanned.shape[0] + 1, dtype=np.int32)
    # a line's band: its rows and one on each side (its anti-aliased edges)
    np.add.at(line_rows, np.maximum(starts[thin] - 1, 0), 1)
    np.add.at(line_rows, np.minimum(stops[thin] + 1, spanned.shape[0]), -1)
    on_line = np.cumsum(line_rows)[:-1][rows] > 0
    lines[ys[on_line], xs[on_line]] = True
    return lines


def _without_lines(mask: _Bool, candidates: _Bool, darkness: _Float, pen: float) -> _Bool:
    """``mask`` without ruled or squared lines; strokes crossing a line stay joined.

    On a line, ink darker than ``pen`` and than 1.5 times the line's own median darkness is
    the pen's, and stays.
    """
    closing = _skimage("morphology").closing
    lines = _line_bands(candidates) | _line_bands(candidates.T).T
    if not lines.any():
        return mask
    printed = float(np.median(darkness[lines]))
    lines &= darkness <= max(pen, 1.5 * printed)
    kept = mask & ~lines
    # a stroke crossing a line loses the crossing: close gaps across the line's thickness,
    # in the direction across the line, only where there was ink
    across = np.ones((7, 1), dtype=np.uint8)
    inked = kept.astype(np.uint8)
    bridged = (closing(inked, across) | closing(inked, across.T)).astype(bool)
    result: _Bool = kept | (bridged & mask & lines)
    return result


def _select(mask: _Bool, darkness: _Float) -> _Bool | None:
    """The digit's ink: the strongest component and the pieces near it that are not long
    straight lines and do not make it more than 2.5 times as large.

    Specks are too small to be kept; ink touching the border that is thin, solid or longer
    than half the picture's shorter side (the sheet's edge, the table beyond it) is left
    out, and other ink touching the border counts a tenth. ``None`` if nothing is
    digit-sized, or the largest mark is a long straight line.
    """
    measure = _skimage("measure")
    height, width = mask.shape
    side = min(height, width)
    labels = measure.label(mask, connectivity=2)
    mass = np.bincount(labels.ravel(), weights=darkness.ravel())
    regions = [r for r in measure.regionprops(labels) if r.area >= 4]
    scored = []
    for region in regions:
        top, left, bottom, right = region.bbox
        touches = top == 0 or left == 0 or bottom == height or right == width
        long, short = max(bottom - top, right - left), min(bottom - top, right - left)
        large = long > 0.5 * side
        if touches and (short < 0.15 * long or region.extent > 0.5 or large):
            continue  # the edge of the sheet, the table beyond it, a shadow
        scored.append((float(mass[region.label]) * (0.1 if touches else 1.0), region))
    if not scored:
        return None
    _, main = max(scored, key=lambda pair: pair[0])
    top, left, bottom, right = main.bbox
    long, short = max(bottom - top, right - left), min(bottom - top, right - left)
    if long < MIN_DIGIT * side or (short < 0.12 * long and long > 0.8 * side):
        return None  # a speck, a grid's crossing, or the sheet's edge: no digit
    kept = [main]
    size = max(bottom - top, right - left)
    for _ in range(2):
        reach = 0.25 * max(bottom - top, right - left)
        for _, region in scored:
            if any(region is k for k in kept) or region.area < max(4, 0.02 * main.area):
                continue
            r_top, r_left, r_bottom, r_right = region.bbox
            # a piece of the digit is within reach, and does not make it much larger
            near = (
                r_top < bottom + reach
                and r_bottom > top - reach
                and r_left < right + reach
                and r_right > left - reach
            )
            grown = max(bottom, r_bottom) - min(top, r_top), max(right, r_right) - min(left, r_left)
            r_long = max(r_bottom - r_top, r_right - r_left)
            r_short = min(r_bottom - r_top, r_right - r_left)
            straight = r_short < 0.12 * r_long and r_long > 1.2 * size  # a sheet's edge
            if near and max(grown) <= 2.5 * size and not straight:
                kept.append(region)
                top, left = min(top, r_top), min(left, r_left)
                bottom, right = max(bottom, r_bottom), max(right, r_right)
    selected: _Bool = np.isin(labels, [region.label for region in kept])
    return selected


def _redraw(mask: _Bool) -> _Float:
    """The kept ink cropped and redrawn with MNIST's stroke width, about 80 pixels high.

    The crop is resized so its longer side is :data:`_RENDER_BOX` (4x the final 20), its
    stroke width measured (ink area per unit of skeleton length) and set to
    :data:`_STROKE_WIDTH` at the final scale: thin strokes are dilated; strokes over 1.5
    times too wide are redrawn along their skeleton.
    """
    morphology = _skimage("morphology")
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    crop = mask[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1].astype(np.float32)
    height, width = crop.shape
    scale = _RENDER_BOX / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    if scale < 1.0:
        # shrinking by area keeps a thin stroke as faint coverage: any is ink
        shrunk = Image.fromarray(crop).resize(size, Image.Resampling.BOX)
        strokes = np.asarray(shrunk) > 0.15
    else:
        grown = Image.fromarray(crop).resize(size, Image.Resampling.BILINEAR)
        strokes = np.asarray(grown) > 0.5
    strokes = np.pad(strokes, 8)
    skeleton = morphology.skeletonize(strokes)
    stroke_width = float(strokes.sum()) / max(1, int(skeleton.sum()))
    target = _STROKE_WIDTH * _RENDER_BOX / 20
    if stroke_width < target:
        radius = round((target - stroke_width) / 2)
        if radius > 0:
            strokes = morphology.dilation(strokes.astype(np.uint8), morphology.disk(radius)) > 0
    elif stroke_width > 1.5 * target:
        strokes = (
            morphology.dilation(skeleton.astype(np.uint8), morphology.disk(round(target / 2))) > 0
        )
    ink: _Float = strokes.astype(np.float32)
    return ink


def photo_reason(work: _Float, *, border_fraction: float, ink_threshold: float) -> str | None:
    """Why ``work`` needs the photo path, or ``None`` when the clean path reads it as well.

    A picture is a photo when the light on its paper is uneven -- the border frame the clean
    path takes for the background spans more than :data:`_UNEVEN` of the ink's contrast
    between its 5th and 95th percentiles (0.04 at most on clean pictures, scans, canvas
    drawings, with noise) --, when it has ruled or squared lines, or when its strokes would
    become hairlines once the digit is scaled to 20 pixels.
    """
    height, width = work.shape
    if min(height, width) < MIN_SIDE:
        return None
    border = max(1, round(border_fraction * min(height, width)))
    sides = (work[:border], work[-border:], work[:, :border], work[:, -border:])
    frame = np.concatenate([side.ravel() for side in sides])
    low, background, high = np.percentile(frame, [5, 50, 95])
    contrast = max(float(work.max()) - background, background - float(work.min()))
    if contrast <= 0.0:
        return None
    if (high - low) / contrast > _UNEVEN:
        return "uneven light"
    # the clean path's ink: darker or lighter than the background, whichever goes further
    dark = background - float(work.min()) >= float(work.max()) - background
    ink = ((background - work) if dark else (work - background)) / contrast > ink_threshold
    if _line_bands(ink).any() or _line_bands(ink.T).any():
        return "ruled lines"
    rows = np.flatnonzero(ink.any(axis=1))
    cols = np.flatnonzero(ink.any(axis=0))
    if rows.size == 0:
        return None
    crop = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    box = max(crop.shape)
    if box < 60:
        return None  # too small for hairlines: no skeleton, and no scikit-image to import
    # a contiguous copy: scikit-image before 0.23 refuses a view (ValueError)
    skeleton = _skimage("morphology").skeletonize(np.ascontiguousarray(crop))
    stroke_width = float(crop.sum()) / max(1, int(skeleton.sum()))
    if stroke_width * 20 / box < _THIN:
        return "thin strokes"
    return None


def find_digit(work: _Float, *, min_contrast: float) -> Found | None:
    """The digit in a photo, redrawn MNIST-style; ``None`` if there is none.

    Parameters
    ----------
    work : numpy.ndarray
        Float greyscale in [0, 1], shorter side at most :data:`WORK_SIDE`.
    min_contrast : float
        Least darkness (fraction of the paper's brightness) a stroke must reach.
    """
    hysteresis = _skimage("filters").apply_hysteresis_threshold
    light, dark_ink = _light(work)
    darkness = _darkness(work, light, dark_ink)
    noise = _noise(darkness)
    low, high = max(3.0 * noise, 0.04), max(6.0 * noise, min_contrast)
    candidates = darkness > low
    standing_out = darkness[darkness > high]
    ink = float(np.percentile(standing_out, 99)) if standing_out.size else 1.0
    # relative to the darkest ink: a pen beside faint printed lines and shading
    high = max(high, _INK_HIGH * ink)
    low = max(low, _INK_LOW * ink)
    mask = hysteresis(darkness, low, high)
    mask = _without_lines(mask, candidates, darkness, _INK_PEN * ink)
    selected = _select(mask, darkness)
    if selected is None:
        return None
    # the strokes' cores: blur and noise widen what joins them at three times the noise
    strength = float(np.percentile(darkness[selected], 90))
    if strength < max(MIN_STROKE, min_contrast):
        return None  # printed lines, shading, a shadow's edge
    cores = selected & (darkness > max(low, _CORE * strength))
    return Found(ink=_redraw(cores), mask=cores, dark_ink=dark_ink)
