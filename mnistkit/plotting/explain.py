"""Attribution maps side by side: the digit, then a heat map and an overlay per method.

The maps come from :mod:`mnistkit.explain` (or anywhere else): this module only draws
tensors and arrays, and needs neither Captum nor a model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from mnistkit._validation import check_number
from mnistkit.exceptions import ConfigError
from mnistkit.metrics import ArrayLike
from mnistkit.plotting._common import (
    _CELL_WIDTH,
    _array,
    _classes,
    _draw_image,
    _figure,
    _images,
    _labels,
    _name,
    _pixels,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["plot_attributions"]

#: Darkness of the ink under an overlay (1 would be black).
_FAINT = 0.35


def _symmetric_limit(values: np.ndarray) -> float:
    limit = float(np.abs(values).max()) if values.size else 0.0
    return limit if limit > 0 else 1.0


def _faint(digit: np.ndarray, unit: bool) -> np.ndarray:
    """The digit scaled to [0, 1] (when it is not already) and lightened to ``_FAINT``."""
    if not unit:
        low, span = float(digit.min()), float(np.ptp(digit))
        digit = (digit - low) / span if span > 0 else np.zeros_like(digit)
    return digit * _FAINT


def plot_attributions(
    images: ArrayLike,
    attributions: Mapping[str, ArrayLike],
    *,
    targets: ArrayLike | None = None,
    labels: ArrayLike | None = None,
    classes: Sequence[str] | None = None,
    cmap: str = "RdBu_r",
    alpha: float = 0.7,
    title: str | None = None,
) -> Figure:
    """Show each digit with every method's heat map and overlay, one row per digit.

    Parameters
    ----------
    images : tensor, ndarray or nested sequence
        The digits, (N, H, W) or (N, 1, H, W); ``uint8`` pixels or floats in [0, 1].
    attributions : mapping of str to array
        Method name -> attributions of the same shape as ``images`` (e.g. what
        :func:`mnistkit.explain.attributions` returns), drawn in the mapping's order.
    targets : tensor, ndarray or sequence of int, optional
        The class each digit's attributions explain; shown above the digit.
    labels : tensor, ndarray or sequence of int, optional
        The true labels; shown above the digit too.
    classes : sequence of str, optional
        Names indexed by class; default: the class numbers.
    cmap : str, default="RdBu_r"
        A diverging colormap: for signed methods (gradient x input, integrated
        gradients, occlusion) red raises the target's score and blue lowers it; saliency
        (``|gradient|``) and Grad-CAM are never negative, so they show red only.
    alpha : float, default=0.7
        Opacity of the strongest attribution in the overlay; weaker ones are more
        transparent, so the digit shows through where a method sees nothing.
    title : str, optional
        A title over the whole figure.

    Returns
    -------
    matplotlib.figure.Figure
        ``N`` rows of ``1 + 2 × len(attributions)`` image axes: the digit, then for each
        method its heat map and its overlay on the digit. Each heat map has its own colour
        scale, symmetric around zero and set by its largest magnitude, so the panels
        compare *where* methods look, not how much.

    Raises
    ------
    ConfigError
        For an empty mapping, or attributions whose shape differs from the images'.
    """
    digits = _images(images)
    n = digits.shape[0]
    pixels, unit = _pixels(digits)
    if not isinstance(attributions, Mapping) or not attributions:
        raise ConfigError(
            "Argument 'attributions' must be a non-empty mapping of method name to "
            f"attributions, but got {attributions!r:.60}"
        )
    maps: dict[str, np.ndarray] = {}
    for method, values in attributions.items():
        array = _array(values, f"attributions[{method!r}]").astype(np.float64)
        if array.ndim == 4 and array.shape[1] == 1:
            array = array[:, 0]
        if array.shape != digits.shape:
            raise ConfigError(
                f"Argument 'attributions[{method!r}]' must have the images' shape "
                f"{digits.shape} (or with a channel axis), but got {array.shape}"
            )
        maps[str(method)] = array
    names = _classes(classes, None)
    explained = _labels(targets, "targets", n, None) if targets is not None else None
    truth = _labels(labels, "labels", n, None) if labels is not None else None
    strength = check_number(alpha, "alpha", low=0.0, high=1.0)

    cols = 1 + 2 * len(maps)
    lines = int(explained is not None) + int(truth is not None)
    cell = _CELL_WIDTH * 1.1
    fig = _figure(cols * cell, n * cell + 0.45 * (title is not None) + 0.4 + 0.15 * lines)
    axes = fig.subplots(n, cols, squeeze=False)
    for row in range(n):
        digit = pixels[row]
        _draw_image(axes[row, 0], digit, cmap="gray_r", unit=unit)
        parts = []
        if explained is not None:
            parts.append(f"explains {_name(int(explained[row]), names)}")
        if truth is not None:
            parts.append(f"true {_name(int(truth[row]), names)}")
        if parts:
            axes[row, 0].set_title("\n".join(parts), fontsize=9)
        for index, (method, values) in enumerate(maps.items()):
            heat = values[row]
            limit = _symmetric_limit(heat)
            heat_ax, over_ax = axes[row, 1 + 2 * index], axes[row, 2 + 2 * index]
            _draw_image(heat_ax, heat, cmap=cmap, unit=False)
            heat_ax.images[0].set_clim(-limit, limit)
            # the digit in light grey, so that the colours on the ink stay readable
            _draw_image(over_ax, _faint(digit, unit), cmap="gray_r", unit=True)
            over_ax.imshow(
                heat,
                cmap=cmap,
                vmin=-limit,
                vmax=limit,
                alpha=strength * np.abs(heat) / limit,
                interpolation="nearest",
            )
            if row == 0:
                heat_ax.set_title(method.replace("_", " "), fontsize=9)
                over_ax.set_title("overlay", fontsize=9)
    if title is not None:
        fig.suptitle(title)
    return fig
