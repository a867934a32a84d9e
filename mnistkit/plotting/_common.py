"""Shared validation, colours and the image grid of the plotting functions (private).

Matplotlib is imported here only when a figure is drawn (:func:`_figure`, :func:`_ax`), so
that ``import mnistkit`` does not load :mod:`matplotlib.pyplot` and its backend.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import torch

from mnistkit._io import atomic_open
from mnistkit._validation import class_names
from mnistkit.exceptions import ConfigError
from mnistkit.metrics import ArrayLike
from mnistkit.metrics._checks import probabilities as check_probabilities

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = []

_FloatArray = npt.NDArray[np.float64]
_IntArray = npt.NDArray[np.int64]

#: Title and frame colour of a wrong prediction (Matplotlib's "tab:red").
_WRONG = "#d62728"
#: Title colour of a right prediction: a dark green that still reads as text.
_RIGHT = "#1b7837"
#: Title colour when there is nothing to judge (no true label given).
_PLAIN = "#262626"
#: Thin frame around every image cell so that light images stand out from the page.
_FRAME = "#c8c8c8"
#: Highlight of the predicted bar when no true label is given.
_HIGHLIGHT = "#1f77b4"
#: Bars of the other classes.
_MUTED = "#b4b4b4"

#: Probabilities are clamped to at least this before taking the log of a loss.
_LOSS_EPS = 1e-12
#: Size in inches of one image cell in a grid: width, and height per title line.
_CELL_WIDTH = 1.3
_CELL_HEIGHT = 1.25
_TITLE_LINE = 0.18
#: A labelled grid's image side, gap between images and space under a title, in inches,
#: and its least width (room for the figure's title).
_IMAGE_SIDE = 1.1
_GAP = 0.2
_TITLE_PAD = 0.12
_MIN_WIDTH = 3.0

_NORMALIZE_TITLES = {
    "true": "normalised over true labels (rows)",
    "pred": "normalised over predicted labels (columns)",
    "all": "normalised over all samples",
}


# --------------------------------------------------------------------------- #
# input validation
# --------------------------------------------------------------------------- #


def _array(value: object, name: str) -> npt.NDArray[Any]:
    """A NumPy array from a tensor (any device), an array or a nested sequence."""
    if isinstance(value, torch.Tensor):
        tensor = value.detach().cpu()
        if tensor.is_floating_point() and tensor.dtype not in (torch.float32, torch.float64):
            tensor = tensor.float()  # NumPy has no bfloat16
        return tensor.numpy()
    if isinstance(value, (str, bytes, Mapping)):
        raise ConfigError(
            f"Argument {name!r} must be a tensor, a NumPy array or a sequence of numbers, "
            f"but got {type(value).__name__}"
        )
    try:
        array = np.asarray(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"Argument {name!r} must be a tensor, a NumPy array or a rectangular sequence of "
            f"numbers, but got {type(value).__name__} that cannot be converted ({exc})"
        ) from exc
    if array.dtype.kind not in "biuf":
        raise ConfigError(
            f"Argument {name!r} must hold numbers, but got {type(value).__name__} "
            f"of dtype {array.dtype}"
        )
    return array


def _images(images: object, name: str = "images") -> npt.NDArray[Any]:
    """Validate the shape of an image stack; return it as an (N, H, W) array.

    Accepts (N, H, W), (N, 1, H, W) or a single (H, W) image. A CPU tensor or an array
    is not copied: only the images to be drawn are converted, by :func:`_pixels`.
    """
    array = _array(images, name)
    if array.ndim == 4 and array.shape[1] == 1:
        array = array[:, 0]
    elif array.ndim == 2:
        array = array[None]
    if array.ndim != 3:
        raise ConfigError(
            f"Argument {name!r} must have shape (N, H, W), (N, 1, H, W) or (H, W), "
            f"but got shape {array.shape}"
        )
    if array.shape[0] == 0 or array.shape[1] == 0 or array.shape[2] == 0:
        raise ConfigError(
            f"Argument {name!r} must hold at least one non-empty image, but got shape {array.shape}"
        )
    if array.dtype.kind == "b":
        raise ConfigError(
            f"Argument {name!r} must hold uint8 pixels or floats, but got dtype bool; "
            "convert with .astype(np.uint8) * 255"
        )
    return array


def _pixels(array: npt.NDArray[Any], name: str = "images") -> tuple[_FloatArray, bool]:
    """Images to draw as float64, and whether they lie in [0, 1] (then shown on that scale).

    ``uint8`` (or other integer) pixels in [0, 255] are divided by 255; floats must be
    finite.
    """
    if array.dtype.kind in "iu":
        low, high = int(array.min()), int(array.max())
        if low < 0 or high > 255:
            raise ConfigError(
                f"Argument {name!r} must hold integer pixels in [0, 255], "
                f"but got values from {low} to {high}"
            )
        return array.astype(np.float64) / 255.0, True
    values = array.astype(np.float64)
    if not np.isfinite(values).all():
        raise ConfigError(f"Argument {name!r} must be finite, but it contains NaN or inf")
    unit = bool(values.min() >= 0.0 and values.max() <= 1.0)
    return values, unit


def _labels(labels: object, name: str, n: int, num_classes: int | None) -> _IntArray:
    """Validate a vector of ``n`` integer labels, each in [0, num_classes) when given."""
    array = _array(labels, name)
    if array.ndim != 1 or array.shape[0] != n:
        raise ConfigError(
            f"Argument {name!r} must be a 1-D vector with one label per image ({n}), "
            f"but got shape {array.shape}"
        )
    if array.dtype.kind not in "iu":
        raise ConfigError(
            f"Argument {name!r} must hold integer class labels, but got dtype {array.dtype}; "
            "convert with .long() or .astype(int)"
        )
    values = array.astype(np.int64)
    low, high = int(values.min()), int(values.max())
    if low < 0 or (num_classes is not None and high >= num_classes):
        accepted = f"[0, {num_classes})" if num_classes is not None else "0 or more"
        raise ConfigError(
            f"Argument {name!r} must hold labels in {accepted}, but got values from {low} to {high}"
        )
    return values


def _probabilities(
    probabilities: ArrayLike, name: str = "probabilities", *, n: int | None = None
) -> _FloatArray:
    """An (N, C) matrix of class probabilities, N = ``n`` when given, clipped to [0, 1].

    The values are checked by :mod:`mnistkit.metrics`' check, the one for the whole
    package (same tolerances, same messages); the clip removes the floating-point noise
    it lets through, which a bar or a log would show.
    """
    checked = check_probabilities(probabilities, name)
    if n is not None and checked.shape[0] != n:
        raise ConfigError(
            f"Argument {name!r} must have one row per image ({n}), but got {checked.shape[0]} rows"
        )
    clipped: _FloatArray = np.clip(checked.numpy(), 0.0, 1.0)
    return clipped


def _classes(
    classes: object, num_classes: int | None, *, needed: int = 0
) -> tuple[str, ...] | None:
    """Validate class names: exactly ``num_classes`` of them, or at least ``needed``."""
    if classes is None:
        return None
    return class_names(classes, num_classes, needed=needed)


def _ax(ax: object) -> Axes | None:
    from matplotlib.axes import Axes

    if ax is not None and not isinstance(ax, Axes):
        raise ConfigError(
            f"Argument 'ax' must be a matplotlib Axes or None, but got {type(ax).__name__}"
        )
    return ax


def _name(label: int, classes: tuple[str, ...] | None) -> str:
    return classes[label] if classes is not None else str(label)


# --------------------------------------------------------------------------- #
# figures and image grids
# --------------------------------------------------------------------------- #


def _figure(width: float, height: float) -> Figure:
    """A new figure of ``width`` × ``height`` inches with constrained layout.

    Made through :mod:`matplotlib.pyplot`, imported here on first use, so that
    ``plt.show()`` and ``plt.close()`` know the figure.
    """
    import matplotlib.pyplot as plt

    return plt.figure(figsize=(width, height), layout="constrained")


def _grid(
    count: int, ncols: int | None, *, title_lines: int = 1, cell: float = _CELL_WIDTH
) -> tuple[Figure, list[Axes]]:
    """A figure with ``count`` image axes in rows of ``ncols`` (default: a square)."""
    cols = min(ncols if ncols is not None else math.ceil(math.sqrt(count)), count)
    rows = math.ceil(count / cols)
    width = max(cols * cell, 3.0)
    height = rows * (cell * _CELL_HEIGHT / _CELL_WIDTH + title_lines * _TITLE_LINE) + 0.4
    fig = _figure(width, height)
    grid = fig.subplots(rows, cols, squeeze=False)
    axes: list[Axes] = list(grid.ravel())
    for spare in axes[count:]:
        spare.remove()
    return fig, axes[:count]


def _draw_image(
    ax: Axes,
    image: _FloatArray,
    *,
    cmap: str,
    unit: bool,
    frame: str = _FRAME,
    linewidth: float = 0.8,
) -> None:
    """Show one image without ticks, inside a frame of the given colour."""
    ax.imshow(
        image,
        cmap=cmap,
        vmin=0.0 if unit else None,
        vmax=1.0 if unit else None,
        interpolation="nearest",
    )
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_color(frame)
        spine.set_linewidth(linewidth)


def _labelled_grid(
    images: _FloatArray,
    unit: bool,
    titles: Sequence[str],
    colors: Sequence[str],
    wrong: Sequence[bool],
    *,
    ncols: int | None,
    cmap: str,
    title: str | None,
) -> Figure:
    """Draw ``images`` with per-image titles; ``wrong`` ones get a thick red frame.

    The images are laid out as one mosaic in a single axes, whose coordinates are the
    mosaic's pixels: one image, one text per title and one collection of frames. A
    subplot per image with constrained layout looked the same and took seconds for a
    6 x 6 grid; this takes a few hundredths. The axes' ``texts`` are the titles and its
    first collection's paths the frames (exactly around each image), both in image order.
    """
    from matplotlib import colormaps
    from matplotlib.collections import PatchCollection
    from matplotlib.patches import Rectangle

    count = len(titles)
    cols = min(ncols if ncols is not None else math.ceil(math.sqrt(count)), count)
    rows = math.ceil(count / cols)
    height, width = images.shape[1], images.shape[2]
    lines = max(t.count("\n") + 1 for t in titles)
    # everything is measured in image pixels of this many inches
    pixel = _IMAGE_SIDE / max(height, width)
    gap = math.ceil(_GAP / pixel)
    band = math.ceil((lines * _TITLE_LINE + _TITLE_PAD) / pixel) if any(titles) else gap
    top = math.ceil((0.1 + 0.24 * (title.count("\n") + 1)) / pixel) if title is not None else 0
    fontsize = 9 if lines > 1 else 10
    # a cell is as wide as its image or its neighbours' widest title, whichever is wider
    widest = max(
        _text_width(text, fontsize, bold=bad) for text, bad in zip(titles, wrong, strict=True)
    )
    cell_w = max(width + gap, math.ceil((widest + _GAP / 2) / pixel))
    cell_h = height + band
    mosaic_w = cols * cell_w + gap
    least = max(_MIN_WIDTH, _text_width(title, 12.0) + _GAP) if title is not None else _MIN_WIDTH
    total_w = max(mosaic_w, math.ceil(least / pixel))
    total_h = top + rows * cell_h + gap
    left = (total_w - mosaic_w) // 2 + gap

    mosaic = np.full((total_h, total_w), np.nan)
    frames, edges, widths = [], [], []
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(total_w * pixel, total_h * pixel))
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    for index, (image, text, color, bad) in enumerate(
        zip(images, titles, colors, wrong, strict=True)
    ):
        row, col = divmod(index, cols)
        x, y = left + col * cell_w + (cell_w - gap - width) // 2, top + row * cell_h + band
        if not unit:  # each image on its own scale, as an image's own axes would show it
            low, span = float(image.min()), float(np.ptp(image))
            image = (image - low) / span if span > 0 else np.zeros_like(image)
        mosaic[y : y + height, x : x + width] = image
        frames.append(Rectangle((x, y), width, height))
        edges.append(_WRONG if bad else _FRAME)
        widths.append(2.5 if bad else 0.8)
        ax.text(
            x + width / 2,
            y - 0.05 / pixel,
            text,
            ha="center",
            va="bottom",
            color=color,
            fontsize=fontsize,
            fontweight="bold" if bad else None,
        )
    # the gaps are NaN, drawn transparent, so the page shows through
    palette = colormaps[cmap].with_extremes(bad=(0.0, 0.0, 0.0, 0.0))
    ax.imshow(
        np.ma.masked_invalid(mosaic),
        cmap=palette,
        vmin=0.0,
        vmax=1.0,
        interpolation="nearest",
        extent=(0.0, float(total_w), float(total_h), 0.0),
        aspect="auto",
    )
    ax.add_collection(
        PatchCollection(frames, facecolors="none", edgecolors=edges, linewidths=widths, zorder=3)
    )
    ax.set_xlim(0.0, float(total_w))
    ax.set_ylim(float(total_h), 0.0)
    ax.set_axis_off()
    if title is not None:
        fig.suptitle(title, y=1.0 - 0.08 / (total_h * pixel), va="top")
    return fig


def _text_width(text: str, fontsize: float, *, bold: bool = False) -> float:
    """Width in inches of ``text``'s widest line in Matplotlib's default font."""
    if not text:
        return 0.0
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import text_to_path

    font = FontProperties(size=fontsize, weight="bold" if bold else "normal")
    points = max(
        text_to_path.get_text_width_height_descent(line, font, ismath=False)[0]
        for line in text.split("\n")
    )
    return float(points) / 72.0


def _percent(p: float) -> str:
    return f"{p:.0%}"


def save_png(figure: Figure, path: Path) -> None:
    """Write ``figure`` to ``path`` as a PNG (atomically, as every file mnistkit writes) and
    close it, so a run that draws many figures does not keep them all in memory.

    A figure laid out by a layout engine is cropped to what it shows ("tight", which draws
    it twice); one without (a labelled grid, sized to its mosaic) is written as it is.
    """
    import matplotlib.pyplot as plt

    tight = figure.get_layout_engine() is not None
    with atomic_open(path, "wb") as handle:
        figure.savefig(handle, format="png", dpi=100, bbox_inches="tight" if tight else None)
    plt.close(figure)
