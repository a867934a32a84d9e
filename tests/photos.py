"""Photo-like pictures of handwritten digits, drawn from strokes, for the imaging tests.

Not a test module: ``tests/test_photos.py`` and the measurements of the photo path import it.

Each digit is a set of pen strokes (polyline skeletons, a few hand-made variants per digit)
that is randomly slanted, rotated, squeezed and wobbled, then drawn with a round pen of
varying width and pressure at four times the final resolution and shrunk (which
anti-aliases it). It lands anywhere on a sheet of paper -- plain, ruled or squared, the
sheet sometimes not filling the picture -- lit unevenly (a gradient, a vignette, a soft
shadow), with dust, sensor noise, lens blur and JPEG compression. Nothing is taken from
MNIST. Everything follows from the seed.

Two configurations: :data:`TUNING` (the preprocessing was chosen on its seeds) and
:data:`HELD_OUT` (other pens, inks, lighting and paper, never looked at while tuning).
"""

from __future__ import annotations

import io
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFilter

__all__ = ["HELD_OUT", "TUNING", "PhotoStyle", "blank_photo", "digit_strokes", "photo"]

_Point = tuple[float, float]
_Stroke = list[_Point]
_Float = npt.NDArray[np.float32]


def _arc(cx: float, cy: float, rx: float, ry: float, start: float, stop: float) -> _Stroke:
    """Points of an elliptic arc; angles in degrees, y pointing down (increasing = clockwise)."""
    count = max(4, int(abs(stop - start) / 8))
    angles = np.radians(np.linspace(start, stop, count))
    return [(cx + rx * math.cos(a), cy + ry * math.sin(a)) for a in angles]


# Each digit: variants; each variant: strokes; each stroke: points in a unit box (x right,
# y down). Drawn by hand for these tests, in the shapes people write.
_DIGITS: dict[int, list[list[_Stroke]]] = {
    0: [
        [_arc(0.5, 0.5, 0.45, 0.5, -90, 275)],
        [_arc(0.5, 0.5, 0.4, 0.5, -100, 265)],
        [_arc(0.52, 0.5, 0.46, 0.48, -60, 300)],
    ],
    1: [
        [[(0.5, 0.0), (0.5, 1.0)]],
        [[(0.2, 0.22), (0.55, 0.0), (0.55, 1.0)]],
        [[(0.25, 0.2), (0.55, 0.0), (0.55, 1.0)], [(0.25, 1.0), (0.85, 1.0)]],
    ],
    2: [
        [[*_arc(0.5, 0.28, 0.42, 0.28, 190, 390), (0.05, 1.0), (0.95, 1.0)]],
        [[*_arc(0.5, 0.3, 0.45, 0.3, 200, 420), (0.08, 0.98), (0.2, 0.9), (0.95, 1.0)]],
        [[(0.1, 0.15), (0.5, 0.0), (0.9, 0.18), (0.1, 1.0), (0.95, 1.0)]],
    ],
    3: [
        [_arc(0.5, 0.25, 0.4, 0.25, 200, 450) + _arc(0.5, 0.75, 0.45, 0.25, 270, 520)],
        [[(0.1, 0.0), (0.9, 0.0), (0.45, 0.42), *_arc(0.5, 0.72, 0.45, 0.28, 280, 520)]],
        [_arc(0.5, 0.26, 0.38, 0.26, 210, 445) + _arc(0.52, 0.74, 0.44, 0.26, 275, 510)],
    ],
    4: [
        [[(0.72, 1.0), (0.72, 0.0), (0.05, 0.68), (0.95, 0.68)]],
        [[(0.3, 0.0), (0.1, 0.6), (0.95, 0.6)], [(0.7, 0.15), (0.7, 1.0)]],
        [[(0.25, 0.0), (0.15, 0.62), (0.9, 0.62)], [(0.72, 0.0), (0.68, 1.0)]],
    ],
    5: [
        [[(0.85, 0.0), (0.2, 0.0), (0.15, 0.45), *_arc(0.5, 0.7, 0.4, 0.3, 220, 500)]],
        [[(0.2, 0.0), (0.15, 0.45), *_arc(0.5, 0.7, 0.4, 0.3, 220, 500)], [(0.2, 0.0), (0.9, 0.0)]],
        [[(0.8, 0.02), (0.25, 0.0), (0.2, 0.4), *_arc(0.5, 0.69, 0.42, 0.31, 225, 505)]],
    ],
    6: [
        [_arc(0.6, 0.72, 0.5, 0.72, 295, 180) + _arc(0.5, 0.72, 0.4, 0.28, 180, -180)],
        [[(0.75, 0.0), (0.3, 0.4), *_arc(0.5, 0.72, 0.38, 0.28, 210, -150)]],
        [_arc(0.62, 0.7, 0.5, 0.7, 300, 180) + _arc(0.5, 0.74, 0.38, 0.26, 180, -170)],
    ],
    7: [
        [[(0.05, 0.0), (0.95, 0.0), (0.35, 1.0)]],
        [[(0.05, 0.0), (0.95, 0.0), (0.4, 1.0)], [(0.3, 0.52), (0.85, 0.5)]],
        [[(0.05, 0.1), (0.1, 0.0), (0.95, 0.0), (0.6, 0.45), (0.45, 1.0)]],
    ],
    8: [
        [_arc(0.5, 0.25, 0.33, 0.25, 90, 450), _arc(0.5, 0.72, 0.42, 0.28, -90, 270)],
        [
            _arc(0.5, 0.24, 0.3, 0.24, 30, -210)
            + _arc(0.5, 0.72, 0.38, 0.28, -30, 210)
            + [(0.76, 0.36)]
        ],
        [_arc(0.5, 0.24, 0.36, 0.24, 90, 450), _arc(0.5, 0.73, 0.4, 0.27, -90, 270)],
    ],
    9: [
        [[*_arc(0.5, 0.28, 0.4, 0.28, 0, 360), (0.85, 1.0)]],
        [[*_arc(0.5, 0.27, 0.42, 0.27, 10, 370), (0.88, 0.6), (0.6, 1.0)]],
        [[*_arc(0.48, 0.3, 0.4, 0.3, -5, 355), (0.88, 0.3), (0.88, 1.0)]],
    ],
}


def digit_strokes(digit: int, variant: int) -> list[_Stroke]:
    """The unperturbed strokes of one variant of a digit, in a unit box."""
    variants = _DIGITS[digit]
    return [list(stroke) for stroke in variants[variant % len(variants)]]


@dataclass(frozen=True, slots=True)
class PhotoStyle:
    """Ranges the random photos are drawn from; each ``(low, high)`` is uniform.

    Sizes are fractions of the picture's shorter side; stroke widths fractions of the digit's
    height. Ink and paper colours are RGB reflectances in [0, 1].
    """

    digit_height: tuple[float, float]
    stroke: tuple[float, float]
    slant: tuple[float, float]
    rotation: tuple[float, float]
    aspect: tuple[float, float]
    inks: tuple[tuple[float, float, float], ...]
    pressure: tuple[float, float]
    gradient: tuple[float, float]
    vignette: tuple[float, float]
    shadow: tuple[float, float]
    ruling: tuple[str, ...]
    line_spacing: tuple[float, float]
    line_darkness: tuple[float, float]
    page_edge: float
    noise: tuple[float, float]
    blur: tuple[float, float]
    quality: tuple[int, int]
    specks: tuple[int, int]


TUNING = PhotoStyle(
    digit_height=(0.18, 0.45),
    stroke=(0.025, 0.07),
    slant=(-0.25, 0.25),
    rotation=(-8.0, 8.0),
    aspect=(0.55, 0.8),
    inks=((0.1, 0.12, 0.45), (0.12, 0.12, 0.14)),
    pressure=(0.7, 1.0),
    gradient=(0.15, 0.5),
    vignette=(0.0, 0.25),
    shadow=(0.0, 0.25),
    ruling=("plain", "ruled", "ruled", "squared"),
    line_spacing=(0.06, 0.1),
    line_darkness=(0.15, 0.35),
    page_edge=0.3,
    noise=(0.005, 0.02),
    blur=(0.3, 1.0),
    quality=(70, 92),
    specks=(0, 6),
)
"""The configuration the photo preprocessing was tuned on."""

HELD_OUT = PhotoStyle(
    digit_height=(0.12, 0.4),
    stroke=(0.018, 0.09),
    slant=(-0.35, 0.3),
    rotation=(-12.0, 10.0),
    aspect=(0.5, 0.85),
    inks=((0.05, 0.07, 0.08), (0.2, 0.25, 0.6), (0.45, 0.45, 0.47), (0.55, 0.1, 0.12)),
    pressure=(0.55, 1.0),
    gradient=(0.25, 0.65),
    vignette=(0.1, 0.35),
    shadow=(0.1, 0.4),
    ruling=("plain", "ruled", "squared", "squared"),
    line_spacing=(0.045, 0.085),
    line_darkness=(0.1, 0.4),
    page_edge=0.4,
    noise=(0.01, 0.03),
    blur=(0.5, 1.6),
    quality=(55, 85),
    specks=(2, 10),
)
"""Other pens (black, blue, pencil grey, red), inks, light and paper: never tuned on."""


def _perturbed(
    strokes: Sequence[_Stroke], rng: np.random.Generator, style: PhotoStyle
) -> list[npt.NDArray[np.float64]]:
    """The strokes wobbled, squeezed, slanted and rotated; in units of the digit's height."""
    aspect = rng.uniform(*style.aspect)
    slant = rng.uniform(*style.slant)
    angle = math.radians(rng.uniform(*style.rotation))
    cos, sin = math.cos(angle), math.sin(angle)
    # A smooth random displacement field: a few low-frequency sines per axis.
    waves = rng.normal(0.0, 0.035, size=(2, 3)), rng.uniform(0, 2 * math.pi, size=(2, 3))
    out = []
    for stroke in strokes:
        points = np.asarray(stroke, dtype=np.float64)
        dense = _densify(points, step=0.02)
        x, y = dense[:, 0].copy(), dense[:, 1].copy()
        for k in range(3):
            x += waves[0][0, k] * np.sin((k + 1) * math.pi * y + waves[1][0, k])
            y += waves[0][1, k] * np.sin((k + 1) * math.pi * x + waves[1][1, k])
        x = (x - 0.5) * aspect
        y = y - 0.5
        x = x - slant * y
        out.append(np.stack([cos * x - sin * y, sin * x + cos * y], axis=1))
    return out


def _densify(points: npt.NDArray[np.float64], *, step: float) -> npt.NDArray[np.float64]:
    """Points along the polyline at most ``step`` apart (so wobbles bend straight segments)."""
    dense = [points[:1]]
    for a, b in itertools.pairwise(points):
        count = max(1, math.ceil(float(np.hypot(*(b - a))) / step))
        t = np.linspace(0.0, 1.0, count + 1)[1:, None]
        dense.append(a + t * (b - a))
    return np.concatenate(dense)


def _draw_digit(
    strokes: list[npt.NDArray[np.float64]],
    *,
    height: float,
    width: float,
    pressure: tuple[float, float],
    rng: np.random.Generator,
) -> _Float:
    """Ink coverage of the digit drawn with a round pen at 4x, then shrunk."""
    scale = 4.0
    allpts = np.concatenate(strokes) * height
    low, high = allpts.min(axis=0) - width, allpts.max(axis=0) + width
    size = np.ceil((high - low) * scale).astype(int) + 4
    canvas = Image.new("L", (int(size[0]), int(size[1])), 0)
    draw = ImageDraw.Draw(canvas)
    for stroke in strokes:
        points = (stroke * height - low) * scale + 2
        level = rng.uniform(*pressure)
        for a, b in itertools.pairwise(points):
            # the pen's pressure drifts along the stroke: width and darkness with it
            level = float(np.clip(level + rng.normal(0, 0.04), pressure[0], 1.0))
            w = max(1.0, width * scale * (0.75 + 0.25 * level))
            shade = int(255 * level)
            draw.line([tuple(a), tuple(b)], fill=shade, width=round(w))
            r = w / 2
            draw.ellipse([b[0] - r, b[1] - r, b[0] + r, b[1] + r], fill=shade)
        r = width * scale * (0.75 + 0.25 * level) / 2
        first = points[0]
        box = [first[0] - r, first[1] - r, first[0] + r, first[1] + r]
        draw.ellipse(box, fill=int(255 * level))
    small = canvas.resize(
        (max(1, round(size[0] / scale)), max(1, round(size[1] / scale))), Image.Resampling.BOX
    )
    return np.asarray(small, dtype=np.float32) / 255.0


def _smooth_field(rng: np.random.Generator, shape: tuple[int, int], style: PhotoStyle) -> _Float:
    """Multiplicative light over the picture: gradient, vignette and a soft shadow."""
    height, width = shape
    yy, xx = np.mgrid[0:64, 0:64].astype(np.float32) / 63.0
    angle = rng.uniform(0, 2 * math.pi)
    ramp = (xx - 0.5) * math.cos(angle) + (yy - 0.5) * math.sin(angle)
    strength = rng.uniform(*style.gradient)
    light = 1.0 - strength * (ramp / max(1e-6, float(np.abs(ramp).max())) + 1.0) / 2.0
    cy, cx = rng.uniform(0.3, 0.7, size=2)
    light *= 1.0 - rng.uniform(*style.vignette) * ((yy - cy) ** 2 + (xx - cx) ** 2) * 2.0
    if rng.random() < 0.6:
        sy, sx = rng.uniform(0, 1, size=2)
        radius = rng.uniform(0.2, 0.5)
        blob = np.exp(-(((yy - sy) ** 2 + (xx - sx) ** 2) / radius**2) * 2.5)
        light *= 1.0 - rng.uniform(*style.shadow) * blob
    field = Image.fromarray(np.clip(light, 0.05, 1.0).astype(np.float32))
    return np.asarray(field.resize((width, height), Image.Resampling.BILINEAR), dtype=np.float32)


def _ruling(
    rng: np.random.Generator, shape: tuple[int, int], style: PhotoStyle, kind: str
) -> _Float:
    """Coverage of the printed lines of ruled or squared paper (0 for plain paper)."""
    height, width = shape
    if kind == "plain":
        return np.zeros(shape, dtype=np.float32)
    side = min(height, width)
    spacing = rng.uniform(*style.line_spacing) * side
    thickness = max(0.8, rng.uniform(0.0015, 0.004) * side)
    angle = math.radians(rng.uniform(-4.0, 4.0))
    yy = np.arange(height, dtype=np.float32)[:, None]
    xx = np.arange(width, dtype=np.float32)[None, :]
    offset = rng.uniform(0, spacing)
    coverage = np.zeros(shape, dtype=np.float32)
    directions = [(math.cos(angle), math.sin(angle))]
    if kind == "squared":
        directions.append((-math.sin(angle), math.cos(angle)))
    for cos, sin in directions:
        across = yy * cos - xx * sin - offset  # distance across the lines, in pixels
        distance = np.abs(across - spacing * np.round(across / spacing))
        # anti-aliased: full inside the line, a one-pixel ramp at its edges
        coverage = np.maximum(coverage, np.clip(thickness / 2 + 0.5 - distance, 0.0, 1.0))
    return coverage


def _sheet_mask(rng: np.random.Generator, shape: tuple[int, int], margin: float) -> _Float:
    """1 on the sheet, 0 on the table: one side of the picture, past ``margin``, is table."""
    height, width = shape
    yy = np.arange(height, dtype=np.float32)[:, None]
    xx = np.arange(width, dtype=np.float32)[None, :]
    side = int(rng.integers(4))
    tilt = rng.uniform(-0.08, 0.08)
    depth = rng.uniform(0.02, margin)
    if side == 0:
        edge = xx - (depth * width + tilt * (yy - height / 2))
    elif side == 1:
        edge = (width * (1 - depth) + tilt * (yy - height / 2)) - xx
    elif side == 2:
        edge = yy - (depth * height + tilt * (xx - width / 2))
    else:
        edge = (height * (1 - depth) + tilt * (xx - width / 2)) - yy
    return np.clip(edge + 0.5, 0.0, 1.0).astype(np.float32)


def _paper(
    rng: np.random.Generator, shape: tuple[int, int], style: PhotoStyle
) -> tuple[_Float, _Float, float]:
    """RGB reflectance of the sheet (with ruling), the sheet mask and its table margin."""
    tint = np.array([1.0, rng.uniform(0.96, 1.0), rng.uniform(0.86, 0.99)], dtype=np.float32)
    base = rng.uniform(0.8, 0.95) * tint
    kind = str(rng.choice(style.ruling))
    lines = _ruling(rng, shape, style, kind)
    line_colour = np.array(
        [rng.uniform(0.45, 0.75), rng.uniform(0.6, 0.8), rng.uniform(0.8, 0.95)], dtype=np.float32
    )
    absorbed = rng.uniform(*style.line_darkness) * (1.0 - line_colour) / 0.5
    paper = np.stack([base[c] * (1.0 - absorbed[c] * lines) for c in range(3)], axis=-1)
    margin = 0.0
    sheet = np.ones(shape, dtype=np.float32)
    if rng.random() < style.page_edge:
        margin = 0.15
        sheet = _sheet_mask(rng, shape, margin)
        table = np.array(rng.uniform(0.1, 0.5, size=3), dtype=np.float32)
        paper = paper * sheet[..., None] + table * (1.0 - sheet)[..., None]
    return paper, sheet, margin


def _to_picture(
    image: _Float, rng: np.random.Generator, style: PhotoStyle, *, blur: float
) -> Image.Image:
    """Reflectances as an 8-bit RGB picture, with sensor noise and lens blur."""
    noise = rng.standard_normal(size=image.shape[:2], dtype=np.float32)
    image += (noise * np.float32(rng.uniform(*style.noise)))[..., None]
    image *= 255.0
    np.clip(image, 0.0, 255.0, out=image)
    picture = Image.fromarray(image.astype(np.uint8))
    return picture.filter(ImageFilter.GaussianBlur(blur))


def photo(
    seed: int, *, style: PhotoStyle = HELD_OUT, size: tuple[int, int] = (1200, 900)
) -> tuple[bytes, int]:
    """A JPEG photo of one handwritten digit and the digit, from ``seed``.

    Parameters
    ----------
    seed : int
        Everything (digit, variant, pen, paper, light, noise) follows from it.
    style : PhotoStyle, default=HELD_OUT
        The ranges drawn from.
    size : (int, int), default=(1200, 900)
        Width and height of the picture in pixels.

    Returns
    -------
    (bytes, int)
        The JPEG file's bytes and the digit drawn.
    """
    rng = np.random.default_rng(seed)
    width, height = size
    digit = int(rng.integers(10))
    strokes = _perturbed(digit_strokes(digit, int(rng.integers(3))), rng, style)
    paper, sheet, margin = _paper(rng, (height, width), style)
    side = min(height, width)
    digit_height = rng.uniform(*style.digit_height) * side
    pen = rng.uniform(*style.stroke) * digit_height
    coverage = _draw_digit(
        strokes, height=digit_height, width=pen, pressure=style.pressure, rng=rng
    )
    patch_h, patch_w = coverage.shape
    lo = margin + 0.03
    y = int(rng.uniform(lo * height, max(lo * height + 1, (1 - lo) * height - patch_h)))
    x = int(rng.uniform(lo * width, max(lo * width + 1, (1 - lo) * width - patch_w)))
    y, x = min(y, height - patch_h), min(x, width - patch_w)
    coverage = coverage * sheet[y : y + patch_h, x : x + patch_w]
    ink = np.array(style.inks[int(rng.integers(len(style.inks)))], dtype=np.float32)
    # ink absorbs: reflectance goes from the paper's to the ink's share of it
    image = paper
    image[y : y + patch_h, x : x + patch_w] *= 1.0 - coverage[..., None] * (1.0 - ink / 0.9)
    for _ in range(int(rng.integers(style.specks[0], style.specks[1] + 1))):
        sy, sx = int(rng.integers(height)), int(rng.integers(width))
        r = max(1, int(rng.uniform(0.001, 0.004) * side))
        image[max(0, sy - r) : sy + r, max(0, sx - r) : sx + r] *= rng.uniform(0.3, 0.8)
    image *= _smooth_field(rng, (height, width), style)[..., None]
    picture = _to_picture(image, rng, style, blur=rng.uniform(*style.blur) * side / 900)
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", quality=int(rng.integers(*style.quality)))
    return buffer.getvalue(), digit


def blank_photo(
    seed: int, *, style: PhotoStyle = HELD_OUT, size: tuple[int, int] = (1200, 900)
) -> bytes:
    """A JPEG photo of a sheet like :func:`photo`'s with nothing written on it."""
    rng = np.random.default_rng(seed)
    width, height = size
    paper, _, _ = _paper(rng, (height, width), style)
    image = paper * _smooth_field(rng, (height, width), style)[..., None]
    picture = _to_picture(image, rng, style, blur=rng.uniform(*style.blur) * min(size) / 900)
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", quality=int(rng.integers(*style.quality)))
    return buffer.getvalue()


def controlled(
    digit: int,
    *,
    seed: int = 0,
    size: tuple[int, int] = (800, 600),
    gradient: float = 0.0,
    ruling: str = "plain",
    specks: int = 0,
    pen: float = 0.04,
    digit_height: float = 0.3,
    mark: bool = False,
) -> _Float:
    """A grey photo (float, [0, 1]) of ``digit`` where one factor at a time can change.

    The digit, its place, the paper's noise and the specks' places come from streams of
    their own, so pictures that differ in ``gradient`` (light falling from left to right by
    that share), ``ruling`` ("plain", "ruled", "squared"), ``specks`` (dark dots), ``pen``
    (stroke width, share of the digit's height) or ``mark`` (a smaller scribble far from
    the digit) show the same digit at the same place.
    """
    # the streams Generator.spawn(4) gives (NumPy >= 1.25), made as NumPy 1.24 can
    streams = [np.random.default_rng(child) for child in np.random.SeedSequence(seed).spawn(4)]
    width, height = size
    strokes = _perturbed(digit_strokes(digit, 0), streams[0], TUNING)
    tall = digit_height * min(size)
    coverage = _draw_digit(
        strokes, height=tall, width=pen * tall, pressure=(1.0, 1.0), rng=streams[0]
    )
    paper = np.full((height, width), 0.9, dtype=np.float32)
    if ruling != "plain":
        style = TUNING
        paper *= 1.0 - 0.2 * _ruling(streams[1], (height, width), style, ruling)
    y, x = height // 2 - coverage.shape[0] // 2, width // 3 - coverage.shape[1] // 2
    paper[y : y + coverage.shape[0], x : x + coverage.shape[1]] *= 1.0 - 0.85 * coverage
    if mark:
        # a short scribble in a far corner, a fifth of the digit's size
        small = _draw_digit(
            strokes, height=tall / 5, width=pen * tall, pressure=(1.0, 1.0), rng=streams[0]
        )
        top, left = height - small.shape[0] - height // 10, width - small.shape[1] - width // 10
        paper[top : top + small.shape[0], left : left + small.shape[1]] *= 1.0 - 0.85 * small
    for _ in range(specks):
        sy, sx = (
            streams[2].integers(height // 10, height - height // 10),
            streams[2].integers(width // 10, width - width // 10),
        )
        paper[sy - 2 : sy + 2, sx - 2 : sx + 2] *= 0.3
    light = 1.0 - gradient * np.linspace(0.0, 1.0, width, dtype=np.float32)[None, :]
    picture = paper * light + streams[3].normal(0.0, 0.01, size=(height, width))
    result: _Float = np.clip(picture, 0.0, 1.0).astype(np.float32)
    return result
