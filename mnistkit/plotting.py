"""Plots for data, predictions, training curves and what a model has learnt.

Every function draws with Matplotlib's object API and returns what it drew on: a
:class:`~matplotlib.figure.Figure` for grids and multi-panel plots, an
:class:`~matplotlib.axes.Axes` for single-panel plots, which also accept ``ax=`` to draw
into an existing one. Nothing here calls :func:`matplotlib.pyplot.show`; call it
yourself in a script, or let a notebook display the figure. Figures are created
through :mod:`matplotlib.pyplot` so that ``plt.show()`` and ``plt.close()`` know them.

===============================  =======================================================
function                         draws
===============================  =======================================================
:func:`show_samples`             a grid of images titled with their labels
:func:`show_predictions`         images titled with the prediction; wrong ones in red
:func:`show_misclassified`       the misclassified images among many
:func:`show_top_losses`          the images the model is most wrong about
:func:`plot_confusion_matrix`    a (normalised) confusion matrix with annotated cells
:func:`plot_history`             training and validation curves per epoch
:func:`plot_probabilities`       the class probabilities of one prediction as bars
:func:`plot_calibration`         a reliability diagram with the expected calibration error
:func:`plot_weights`             the weights of a linear layer, one 28×28 image per output
:func:`plot_filters`             the kernels of a convolution layer
:func:`plot_feature_maps`        the output channels of a convolution layer for one image
===============================  =======================================================

Images may be ``uint8`` pixels in ``[0, 255]`` or floats; floats in ``[0, 1]`` are shown
on that fixed scale, other floats (e.g. normalised images) each on their own range.

Examples
--------
>>> import matplotlib.pyplot as plt
>>> from mnistkit import datasets, plotting
>>> mnist = datasets.load("mnist")  # doctest: +SKIP
>>> fig = plotting.show_samples(mnist.train, n=16)  # doctest: +SKIP
>>> plt.show()  # doctest: +SKIP
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import numpy.typing as npt
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator
from torch import nn

from mnistkit._validation import class_names
from mnistkit.datasets import Split
from mnistkit.exceptions import ConfigError
from mnistkit.metrics import ArrayLike, Report, calibration_bins
from mnistkit.trainer import History

__all__ = [
    "plot_calibration",
    "plot_confusion_matrix",
    "plot_feature_maps",
    "plot_filters",
    "plot_history",
    "plot_probabilities",
    "plot_weights",
    "show_misclassified",
    "show_predictions",
    "show_samples",
    "show_top_losses",
]

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

#: Probabilities may leave [0, 1] by this much, and rows may miss summing to 1 by
#: ``_ROW_SUM_TOLERANCE`` (the same tolerances as :mod:`mnistkit.metrics`).
_RANGE_TOLERANCE = 1e-6
_ROW_SUM_TOLERANCE = 1e-2
#: Probabilities are clamped to at least this before taking the log of a loss.
_LOSS_EPS = 1e-12
#: Size in inches of one image cell in a grid: width, and height per title line.
_CELL_WIDTH = 1.3
_CELL_HEIGHT = 1.25
_TITLE_LINE = 0.18

_NORMALIZE_TITLES = {
    "true": "normalised over true labels (rows)",
    "pred": "normalised over predicted labels (columns)",
    "all": "normalised over all samples",
}


# --------------------------------------------------------------------------- #
# input validation
# --------------------------------------------------------------------------- #


def _as_int(value: object) -> int | None:
    """``value`` as an int if it is a Python, NumPy or 0-d tensor integer (not a bool)."""
    if isinstance(value, torch.Tensor) and value.ndim == 0 and not value.is_floating_point():
        value = value.item()
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        return None
    return int(value)


def _as_real(value: object) -> float | None:
    """``value`` as a float if it is a real Python or NumPy number (not a bool)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(
        value, (int, float, np.integer, np.floating)
    ):
        return None
    return float(value)


def _positive_int(value: object, name: str) -> int:
    number = _as_int(value)
    if number is None or number < 1:
        raise ConfigError(f"Argument {name!r} must be a positive integer, but got {value!r}")
    return number


def _optional_ncols(ncols: object) -> int | None:
    return None if ncols is None else _positive_int(ncols, "ncols")


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
    probabilities: object, name: str = "probabilities", *, n: int | None = None
) -> _FloatArray:
    """Validate an (N, C) matrix of class probabilities, N = ``n`` when given."""
    array = _array(probabilities, name)
    if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] == 0:
        raise ConfigError(
            f"Argument {name!r} must be a non-empty 2-D (N, C) matrix of class probabilities, "
            f"but got shape {array.shape}"
        )
    if n is not None and array.shape[0] != n:
        raise ConfigError(
            f"Argument {name!r} must have one row per image ({n}), but got {array.shape[0]} rows"
        )
    if array.dtype.kind == "b":
        raise ConfigError(f"Argument {name!r} must hold probabilities, but got dtype bool")
    values = array.astype(np.float64)
    if not np.isfinite(values).all():
        raise ConfigError(f"Argument {name!r} must be finite, but it contains NaN or inf")
    low, high = float(values.min()), float(values.max())
    if low < -_RANGE_TOLERANCE or high > 1.0 + _RANGE_TOLERANCE:
        raise ConfigError(
            f"Argument {name!r} must hold probabilities in [0, 1], but got values from "
            f"{low:.4g} to {high:.4g}; apply torch.softmax(logits, dim=1) first"
        )
    deviation = np.abs(values.sum(axis=1) - 1.0)
    worst = int(deviation.argmax())
    if deviation[worst] > _ROW_SUM_TOLERANCE:
        raise ConfigError(
            f"Argument {name!r} must have rows that sum to 1, but row {worst} sums to "
            f"{values[worst].sum():.4g}; apply torch.softmax(logits, dim=1) first"
        )
    return np.clip(values, 0.0, 1.0)


def _classes(
    classes: object, num_classes: int | None, *, needed: int = 0
) -> tuple[str, ...] | None:
    """Validate class names: exactly ``num_classes`` of them, or at least ``needed``."""
    if classes is None:
        return None
    return class_names(classes, num_classes, needed=needed)


def _ax(ax: object) -> Axes | None:
    if ax is not None and not isinstance(ax, Axes):
        raise ConfigError(
            f"Argument 'ax' must be a matplotlib Axes or None, but got {type(ax).__name__}"
        )
    return ax


def _name(label: int, classes: tuple[str, ...] | None) -> str:
    return classes[label] if classes is not None else str(label)


# --------------------------------------------------------------------------- #
# image grids
# --------------------------------------------------------------------------- #


def _grid(
    count: int, ncols: int | None, *, title_lines: int = 1, cell: float = _CELL_WIDTH
) -> tuple[Figure, list[Axes]]:
    """A figure with ``count`` image axes in rows of ``ncols`` (default: a square)."""
    cols = min(ncols if ncols is not None else math.ceil(math.sqrt(count)), count)
    rows = math.ceil(count / cols)
    width = max(cols * cell, 3.0)
    height = rows * (cell * _CELL_HEIGHT / _CELL_WIDTH + title_lines * _TITLE_LINE) + 0.4
    fig = plt.figure(figsize=(width, height), layout="constrained")
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
    """Draw ``images`` with per-image titles; ``wrong`` ones get a thick red frame."""
    lines = max(t.count("\n") + 1 for t in titles)
    fig, axes = _grid(len(titles), ncols, title_lines=lines)
    fontsize = 9 if lines > 1 else 10
    for ax, image, text, color, bad in zip(axes, images, titles, colors, wrong, strict=True):
        if bad:
            _draw_image(ax, image, cmap=cmap, unit=unit, frame=_WRONG, linewidth=2.5)
        else:
            _draw_image(ax, image, cmap=cmap, unit=unit)
        ax.set_title(text, color=color, fontsize=fontsize, fontweight="bold" if bad else None)
    if title is not None:
        fig.suptitle(title)
    return fig


def show_samples(
    images: ArrayLike | Split,
    labels: ArrayLike | None = None,
    *,
    classes: Sequence[str] | None = None,
    n: int = 25,
    ncols: int | None = None,
    cmap: str = "gray_r",
    title: str | None = None,
) -> Figure:
    """Show the first ``n`` images in a grid, titled with their labels.

    Parameters
    ----------
    images : Split, tensor, ndarray or nested sequence
        Images of shape (N, H, W), (N, 1, H, W) or one (H, W) image; ``uint8`` pixels or
        floats. A :class:`~mnistkit.datasets.Split` supplies its images, and its labels and
        class names unless ``labels`` or ``classes`` are given.
    labels : tensor, ndarray or sequence of int, shape (N,), optional
        Class labels; without them the images are untitled.
    classes : sequence of str, optional
        Names indexed by label, e.g. ``mnist.classes``; default: the label numbers.
    n : int, default=25
        How many images to show, from the first; all of them if there are fewer.
    ncols : int, optional
        Images per row; default: as many as make the grid square.
    cmap : str, default="gray_r"
        Colormap; ``"gray_r"`` draws MNIST's white-on-black digits as dark ink on paper,
        ``"gray"`` as stored.
    title : str, optional
        A title over the whole grid.

    Returns
    -------
    matplotlib.figure.Figure
        One axes per shown image, in order.

    Raises
    ------
    ConfigError
        If an argument has the wrong type, shape or value.
    """
    if isinstance(images, Split):
        if labels is None:
            labels = images.labels
        if classes is None:
            classes = images.classes
        images = images.images
    count = _positive_int(n, "n")
    columns = _optional_ncols(ncols)
    stack = _images(images)
    shown = min(count, stack.shape[0])
    pixels, unit = _pixels(stack[:shown])
    if labels is None:
        names = _classes(classes, None)
        titles = [""] * shown
    else:
        values = _labels(labels, "labels", stack.shape[0], None)
        names = _classes(classes, None, needed=int(values.max()) + 1)
        titles = [_name(int(label), names) for label in values[:shown]]
    return _labelled_grid(
        pixels,
        unit,
        titles,
        [_PLAIN] * shown,
        [False] * shown,
        ncols=columns,
        cmap=cmap,
        title=title,
    )


def _percent(p: float) -> str:
    return f"{p:.0%}"


def show_predictions(
    images: ArrayLike,
    predicted: ArrayLike,
    true: ArrayLike | None = None,
    *,
    classes: Sequence[str] | None = None,
    probabilities: ArrayLike | None = None,
    n: int = 25,
    ncols: int | None = None,
    cmap: str = "gray_r",
    title: str | None = None,
) -> Figure:
    """Show images titled with the model's prediction; wrong predictions in red.

    Each image is titled with its predicted class, followed by ``· 97%`` (the probability
    of the predicted class) when ``probabilities`` are given. When ``true`` labels are
    given, right predictions are titled in dark green, and wrong ones in bold red, with
    a second line ``(true 2)`` and a thick red frame, so they stand out without colour too.

    Parameters
    ----------
    images : tensor, ndarray or nested sequence
        Images of shape (N, H, W) or (N, 1, H, W); ``uint8`` pixels or floats.
    predicted : tensor, ndarray or sequence of int, shape (N,)
        Predicted class labels, e.g. ``mnistkit.predict(model, images)``.
    true : tensor, ndarray or sequence of int, shape (N,), optional
        True class labels.
    classes : sequence of str, optional
        Names indexed by label; default: the label numbers.
    probabilities : tensor, ndarray or nested sequence, shape (N, C), optional
        Class probabilities, e.g. ``mnistkit.predict_proba(model, images)``.
    n : int, default=25
        How many images to show, from the first; all of them if there are fewer.
    ncols : int, optional
        Images per row; default: as many as make the grid square.
    cmap : str, default="gray_r"
        Colormap of the images.
    title : str, optional
        A title over the whole grid.

    Returns
    -------
    matplotlib.figure.Figure
        One axes per shown image, in order.

    Raises
    ------
    ConfigError
        If an argument has the wrong type, shape or value, or the lengths disagree.

    Examples
    --------
    >>> probs = mnistkit.predict_proba(model, mnist.test.images[:25])  # doctest: +SKIP
    >>> fig = show_predictions(  # doctest: +SKIP
    ...     mnist.test.images[:25], probs.argmax(1), mnist.test.labels[:25], probabilities=probs
    ... )
    """
    count = _positive_int(n, "n")
    columns = _optional_ncols(ncols)
    stack = _images(images)
    total = stack.shape[0]
    probs = None if probabilities is None else _probabilities(probabilities, n=total)
    num_classes = None if probs is None else probs.shape[1]
    pred = _labels(predicted, "predicted", total, num_classes)
    truth = None if true is None else _labels(true, "true", total, num_classes)
    needed = int(pred.max()) + 1 if truth is None else max(int(pred.max()), int(truth.max())) + 1
    names = _classes(classes, num_classes, needed=needed)
    shown = min(count, total)
    pixels, unit = _pixels(stack[:shown])
    titles, colors, wrong = [], [], []
    for i in range(shown):
        text = _name(int(pred[i]), names)
        if probs is not None:
            text += f" · {_percent(float(probs[i, pred[i]]))}"
        bad = truth is not None and bool(pred[i] != truth[i])
        if truth is not None and bad:
            text += f"\n(true {_name(int(truth[i]), names)})"
        titles.append(text)
        colors.append(_PLAIN if truth is None else _WRONG if bad else _RIGHT)
        wrong.append(bad)
    return _labelled_grid(
        pixels, unit, titles, colors, wrong, ncols=columns, cmap=cmap, title=title
    )


def _scored(
    images: ArrayLike,
    probabilities: ArrayLike,
    labels: ArrayLike,
    classes: Sequence[str] | None,
) -> tuple[npt.NDArray[Any], _FloatArray, _IntArray, tuple[str, ...] | None]:
    """Validate images with their probabilities and true labels; return them as arrays."""
    stack = _images(images)
    probs = _probabilities(probabilities, n=stack.shape[0])
    truth = _labels(labels, "labels", stack.shape[0], probs.shape[1])
    return stack, probs, truth, _classes(classes, probs.shape[1])


def show_misclassified(
    images: ArrayLike,
    probabilities: ArrayLike,
    labels: ArrayLike,
    *,
    classes: Sequence[str] | None = None,
    n: int = 25,
    ncols: int | None = None,
    cmap: str = "gray_r",
) -> Figure:
    """Show the misclassified images, titled with prediction, its probability and truth.

    A sample is misclassified when the arg-max of its probabilities differs from its
    label. The first ``n`` of them are shown in data order, each titled like
    :func:`show_predictions` (``"7 · 62%"`` over ``"(true 2)"``), under a title counting
    all of them.

    Parameters
    ----------
    images : tensor, ndarray or nested sequence
        Images of shape (N, H, W) or (N, 1, H, W); ``uint8`` pixels or floats.
    probabilities : tensor, ndarray or nested sequence, shape (N, C)
        Class probabilities.
    labels : tensor, ndarray or sequence of int, shape (N,)
        True class labels.
    classes : sequence of str, optional
        Names of the ``C`` classes; default: the label numbers.
    n : int, default=25
        Show at most this many.
    ncols : int, optional
        Images per row; default: as many as make the grid square.
    cmap : str, default="gray_r"
        Colormap of the images.

    Returns
    -------
    matplotlib.figure.Figure
        One axes per shown image; when nothing is misclassified, a single empty axes
        saying so.

    Raises
    ------
    ConfigError
        If an argument has the wrong type, shape or value, or the lengths disagree.
    """
    count = _positive_int(n, "n")
    columns = _optional_ncols(ncols)
    stack, probs, truth, names = _scored(images, probabilities, labels, classes)
    total = stack.shape[0]
    pred = probs.argmax(axis=1)
    wrong = np.flatnonzero(pred != truth)
    if wrong.size == 0:
        fig = plt.figure(figsize=(4.0, 1.5), layout="constrained")
        ax = fig.subplots()
        ax.set_axis_off()
        ax.text(0.5, 0.5, f"No misclassified images among {total}", ha="center", va="center")
        return fig
    chosen = wrong[:count]
    pixels, unit = _pixels(stack[chosen])
    titles = [
        f"{_name(int(pred[i]), names)} · {_percent(float(probs[i, pred[i]]))}"
        f"\n(true {_name(int(truth[i]), names)})"
        for i in chosen
    ]
    return _labelled_grid(
        pixels,
        unit,
        titles,
        [_WRONG] * len(chosen),
        [True] * len(chosen),
        ncols=columns,
        cmap=cmap,
        title=f"{wrong.size} of {total} misclassified"
        + (f" (first {len(chosen)} shown)" if len(chosen) < wrong.size else ""),
    )


def show_top_losses(
    images: ArrayLike,
    probabilities: ArrayLike,
    labels: ArrayLike,
    *,
    classes: Sequence[str] | None = None,
    k: int = 9,
    ncols: int | None = None,
    cmap: str = "gray_r",
) -> Figure:
    """Show the ``k`` images with the highest loss, the model's worst mistakes first.

    The loss of a sample is the cross-entropy ``-log p[true]``. Each image is titled
    ``prediction / true`` over ``loss / p[true]`` (the probability given to the true
    class), as in fastai's ``plot_top_losses``; wrong predictions are red and framed,
    right but unconfident ones dark green.

    Parameters
    ----------
    images : tensor, ndarray or nested sequence
        Images of shape (N, H, W) or (N, 1, H, W); ``uint8`` pixels or floats.
    probabilities : tensor, ndarray or nested sequence, shape (N, C)
        Class probabilities.
    labels : tensor, ndarray or sequence of int, shape (N,)
        True class labels.
    classes : sequence of str, optional
        Names of the ``C`` classes; default: the label numbers.
    k : int, default=9
        How many to show; all of them if there are fewer. Ties keep data order.
    ncols : int, optional
        Images per row; default: as many as make the grid square.
    cmap : str, default="gray_r"
        Colormap of the images.

    Returns
    -------
    matplotlib.figure.Figure
        One axes per shown image, in order of decreasing loss.

    Raises
    ------
    ConfigError
        If an argument has the wrong type, shape or value, or the lengths disagree.
    """
    count = _positive_int(k, "k")
    columns = _optional_ncols(ncols)
    stack, probs, truth, names = _scored(images, probabilities, labels, classes)
    total = stack.shape[0]
    p_true = probs[np.arange(total), truth]
    losses = -np.log(np.maximum(p_true, _LOSS_EPS))
    order = np.argsort(-losses, kind="stable")[:count]
    pixels, unit = _pixels(stack[order])
    pred = probs.argmax(axis=1)
    titles, colors, wrong = [], [], []
    for i in order:
        bad = bool(pred[i] != truth[i])
        titles.append(
            f"{_name(int(pred[i]), names)} / {_name(int(truth[i]), names)}"
            f"\n{losses[i]:.2f} / {p_true[i]:.2f}"
        )
        colors.append(_WRONG if bad else _RIGHT)
        wrong.append(bad)
    return _labelled_grid(
        pixels,
        unit,
        titles,
        colors,
        wrong,
        ncols=columns,
        cmap=cmap,
        title="prediction / true label\nloss / probability of the true label",
    )


# --------------------------------------------------------------------------- #
# evaluation plots
# --------------------------------------------------------------------------- #


def _text_color(rgba: npt.NDArray[Any]) -> str:
    """Black on light cells, white on dark ones (ITU-R BT.709 luma of the cell colour)."""
    luma = 0.2126 * float(rgba[0]) + 0.7152 * float(rgba[1]) + 0.0722 * float(rgba[2])
    return "white" if luma < 0.5 else "black"


def _tick_labels(ax: Axes, axis: str, names: Sequence[str]) -> None:
    """Class names as tick labels; x labels are slanted when longer than three characters."""
    positions = list(range(len(names)))
    if axis == "x":
        slant = max(len(name) for name in names) > 3
        ax.set_xticks(positions, labels=list(names))
        if slant:
            ax.tick_params(axis="x", labelrotation=45)
            for label in ax.get_xticklabels():
                label.set_horizontalalignment("right")
                label.set_rotation_mode("anchor")
    else:
        ax.set_yticks(positions, labels=list(names))


def plot_confusion_matrix(
    cm_or_report: Report | ArrayLike,
    *,
    classes: Sequence[str] | None = None,
    normalize: str | None = None,
    ax: Axes | None = None,
    cmap: str = "Blues",
    annotate: bool = True,
    colorbar: bool = True,
) -> Axes:
    """Draw a confusion matrix, rows = true class, columns = predicted class.

    Parameters
    ----------
    cm_or_report : Report, tensor, ndarray or nested sequence
        A :class:`~mnistkit.metrics.Report` (its matrix, class names and accuracy are
        used), or a square (C, C) matrix of non-negative counts with ``[i, j]`` = samples
        of true class ``i`` predicted as ``j``.
    classes : sequence of str, optional
        The ``C`` class names; default: the report's names, else ``"0"``, ``"1"``, ...
    normalize : {None, "true", "pred", "all"}, default=None
        Show counts (None), or divide each row ("true": per-class recall on the diagonal),
        each column ("pred": per-class precision on the diagonal) or the whole matrix
        ("all") by its sum. An empty row or column stays 0.
    ax : matplotlib.axes.Axes, optional
        Where to draw; default: a new figure.
    cmap : str, default="Blues"
        Colormap of the cells.
    annotate : bool, default=True
        Write each cell's value in it, in black or white, whichever contrasts with the
        cell: counts as integers, normalised values with two decimals.
    colorbar : bool, default=True
        Add a colour bar beside the matrix.

    Returns
    -------
    matplotlib.axes.Axes
        The axes holding the matrix; its texts are the annotations in row-major order.

    Raises
    ------
    ConfigError
        If the matrix is not square, not finite or negative, ``normalize`` is not one of
        the accepted values, or ``classes`` has the wrong length.
    """
    accuracy: float | None = None
    if isinstance(cm_or_report, Report):
        counts = cm_or_report.confusion_matrix.numpy().astype(np.float64)
        default_names: tuple[str, ...] | None = cm_or_report.classes
        accuracy = cm_or_report.accuracy
        integral = True
    else:
        array = _array(cm_or_report, "cm_or_report")
        if array.ndim != 2 or array.shape[0] != array.shape[1] or array.shape[0] == 0:
            raise ConfigError(
                f"Argument 'cm_or_report' must be a Report or a non-empty square (C, C) "
                f"matrix, but got shape {array.shape}"
            )
        if array.dtype.kind == "b":
            raise ConfigError("Argument 'cm_or_report' must hold counts, but got dtype bool")
        counts = array.astype(np.float64)
        if not np.isfinite(counts).all() or counts.min() < 0:
            raise ConfigError(
                "Argument 'cm_or_report' must hold finite non-negative counts, but its "
                f"values range from {counts.min():.4g} to {counts.max():.4g}"
            )
        default_names = None
        integral = bool(np.all(counts == np.round(counts)))
    if normalize is not None and normalize not in _NORMALIZE_TITLES:
        raise ConfigError(
            f"Argument 'normalize' must be None, 'true', 'pred' or 'all', but got {normalize!r}"
        )
    axes = _ax(ax)
    size = counts.shape[0]
    names = _classes(classes, size) or default_names or tuple(str(i) for i in range(size))

    values = counts
    if normalize is not None:
        if normalize == "true":
            totals = counts.sum(axis=1, keepdims=True)
        elif normalize == "pred":
            totals = counts.sum(axis=0, keepdims=True)
        else:
            totals = np.full((1, 1), counts.sum())
        values = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)

    if axes is None:
        side = max(4.5, 0.45 * size + 1.8)
        fig = plt.figure(figsize=(side + (1.0 if colorbar else 0.0), side), layout="constrained")
        axes = fig.subplots()
    top = float(values.max())
    image = axes.imshow(
        values, cmap=cmap, vmin=0.0, vmax=top if top > 0 else 1.0, interpolation="nearest"
    )
    if colorbar:
        axes.figure.colorbar(
            image, ax=axes, fraction=0.046, pad=0.04, label="fraction" if normalize else "count"
        )
    if annotate:
        fontsize = 9 if size <= 12 else max(5, int(110 / size))
        cell_colors = image.to_rgba(values)  # (C, C, 4)
        for i in range(size):
            for j in range(size):
                value = float(values[i, j])
                if normalize is not None:
                    text = f"{value:.2f}"
                else:
                    text = f"{value:.0f}" if integral else f"{value:.3g}"
                axes.text(
                    j,
                    i,
                    text,
                    ha="center",
                    va="center",
                    fontsize=fontsize,
                    color=_text_color(cell_colors[i, j]),
                )
    _tick_labels(axes, "x", names)
    _tick_labels(axes, "y", names)
    title = "Confusion matrix"
    if normalize is not None:
        title += f", {_NORMALIZE_TITLES[normalize]}"
    if accuracy is not None:
        title += f"\naccuracy {accuracy:.2%}"
    axes.set(xlabel="Predicted label", ylabel="True label", title=title)
    return axes


def plot_history(
    history: History | Sequence[Mapping[str, float]],
    *,
    metrics: str | Sequence[str] = ("loss", "accuracy"),
) -> Figure:
    """Plot training curves: one axes per metric, training and validation per epoch.

    Parameters
    ----------
    history : History or sequence of mapping
        What :meth:`mnistkit.Trainer.fit` returns, or its list of per-epoch records.
    metrics : str or sequence of str, default=("loss", "accuracy")
        For a name ``m``, the records' ``train_m`` is drawn as "train" and ``val_m``, when
        the run was validated, as "validation". A name that is itself a key, such as
        ``"lr"`` or ``"seconds"``, is drawn as one curve.

    Returns
    -------
    matplotlib.figure.Figure
        One axes per metric, in order, each with a legend; the x axis is the epoch.

    Raises
    ------
    ConfigError
        If the history is empty or a metric is not in its records.
    """
    records = history.records if isinstance(history, History) else history
    if not isinstance(records, Sequence) or not all(isinstance(r, Mapping) for r in records):
        raise ConfigError(
            f"Argument 'history' must be a History or a sequence of per-epoch record dicts, "
            f"but got {type(history).__name__}"
        )
    if not records:
        raise ConfigError("Argument 'history' must hold at least one epoch, but it is empty")
    names = (metrics,) if isinstance(metrics, str) else tuple(metrics)
    if not names or not all(isinstance(m, str) for m in names):
        raise ConfigError(
            f"Argument 'metrics' must be a metric name or a non-empty sequence of them, "
            f"but got {metrics!r}"
        )
    keys: list[str] = []
    for record in records:
        keys.extend(key for key in record if key not in keys)
    available = sorted(
        {key.split("_", 1)[1] for key in keys if key.startswith(("train_", "val_"))}
        | {key for key in keys if key != "epoch" and not key.startswith(("train_", "val_"))}
    )
    epochs = [float(r.get("epoch", i + 1)) for i, r in enumerate(records)]

    def series(key: str) -> list[float]:
        return [float(r.get(key, math.nan)) for r in records]

    plan: list[list[tuple[str, str]]] = []
    for metric in names:
        curves = [
            (key, label)
            for key, label in ((f"train_{metric}", "train"), (f"val_{metric}", "validation"))
            if key in keys
        ]
        if not curves and metric in keys and metric != "epoch":
            curves = [(metric, metric)]
        if not curves:
            raise ConfigError(
                f"Argument 'metrics' must name metrics in the history, but got {metric!r}; "
                f"expected some of: {', '.join(available)}"
            )
        plan.append(curves)

    fig = plt.figure(figsize=(4.2 * len(names), 3.4), layout="constrained")
    grid = fig.subplots(1, len(names), squeeze=False)
    for ax, metric, curves in zip(grid[0], names, plan, strict=True):
        for key, label in curves:
            ax.plot(epochs, series(key), marker="o", markersize=4, label=label)
        ax.set(xlabel="epoch", ylabel=metric, title=metric)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend()
    return fig


def plot_probabilities(
    probabilities: ArrayLike,
    *,
    classes: Sequence[str] | None = None,
    true: int | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Bar chart of the class probabilities of one prediction.

    The predicted (most probable) class is highlighted: blue without a true label,
    dark green when it is right, red when it is wrong. The true class, when given, is
    outlined in black and its tick label is bold.

    Parameters
    ----------
    probabilities : tensor, ndarray or sequence of float, shape (C,) or (1, C)
        The probabilities of one sample; they must sum to 1.
    classes : sequence of str, optional
        The ``C`` class names; default: ``"0"``, ``"1"``, ...
    true : int, optional
        The true class.
    ax : matplotlib.axes.Axes, optional
        Where to draw; default: a new figure.

    Returns
    -------
    matplotlib.axes.Axes
        Its first container holds the ``C`` bars, in class order; y runs from 0 to 1.

    Raises
    ------
    ConfigError
        If the probabilities are not one valid distribution or ``true`` is out of range.
    """
    array = _array(probabilities, "probabilities")
    if array.ndim == 2 and array.shape[0] == 1:
        array = array[0]
    if array.ndim != 1:
        raise ConfigError(
            f"Argument 'probabilities' must be one sample's vector of shape (C,) or (1, C), "
            f"but got shape {array.shape}; pick a row, e.g. probs[i]"
        )
    probs = _probabilities(array[None])[0]
    size = probs.shape[0]
    names = _classes(classes, size) or tuple(str(i) for i in range(size))
    target: int | None = None
    if true is not None:
        target = _as_int(true)
        if target is None or not 0 <= target < size:
            raise ConfigError(
                f"Argument 'true' must be a class index in [0, {size}) or None, but got {true!r}"
            )
    axes = _ax(ax)
    if axes is None:
        fig = plt.figure(figsize=(max(4.0, 0.45 * size + 1.5), 3.2), layout="constrained")
        axes = fig.subplots()
    pred = int(probs.argmax())
    colors = [_MUTED] * size
    colors[pred] = _HIGHLIGHT if target is None else _RIGHT if pred == target else _WRONG
    edges = ["none"] * size
    widths = [0.0] * size
    if target is not None:
        edges[target], widths[target] = "black", 2.0
    positions = list(range(size))
    axes.bar(positions, probs, color=colors, edgecolor=edges, linewidth=widths)
    axes.text(pred, probs[pred] + 0.02, _percent(float(probs[pred])), ha="center", va="bottom")
    _tick_labels(axes, "x", names)
    handles = [Patch(facecolor=colors[pred], label="predicted")]
    if target is not None:
        axes.get_xticklabels()[target].set_fontweight("bold")
        handles.append(Patch(facecolor="none", edgecolor="black", linewidth=2.0, label="true"))
    title = f"predicted {names[pred]} ({probs[pred]:.1%})"
    if target is not None:
        title += f", true {names[target]}"
    axes.set(ylim=(0.0, 1.0), xlabel="class", ylabel="probability", title=title)
    axes.legend(handles=handles, loc="upper right", fontsize="small")
    return axes


def plot_calibration(
    probabilities: ArrayLike,
    labels: ArrayLike,
    *,
    n_bins: int = 15,
    ax: Axes | None = None,
) -> Axes:
    """Reliability diagram: accuracy against confidence, with the calibration error.

    Samples are grouped by confidence (their largest probability) into ``n_bins``
    equal-width bins (:func:`mnistkit.metrics.calibration_bins`). Each non-empty bin
    gets a blue bar as high as the fraction of its samples predicted right, and a red
    hatched bar from there to the bin's mean confidence: the gap. A perfectly
    calibrated model has no gaps; its bars meet the dashed diagonal. The title gives the
    expected calibration error (ECE), the gaps weighted by the bins' sample counts.

    Parameters
    ----------
    probabilities : tensor, ndarray or nested sequence, shape (N, C)
        Class probabilities.
    labels : tensor, ndarray or sequence of int, shape (N,)
        True class labels.
    n_bins : int, default=15
        Number of confidence bins on [0, 1].
    ax : matplotlib.axes.Axes, optional
        Where to draw; default: a new figure.

    Returns
    -------
    matplotlib.axes.Axes
        Its containers are the accuracy bars (label ``"accuracy"``) and the gap bars
        (label ``"gap"``), one bar per non-empty bin.

    Raises
    ------
    ConfigError
        If an argument has the wrong type, shape or value, or the lengths disagree.
    """
    probs = _probabilities(probabilities)
    truth = _labels(labels, "labels", probs.shape[0], probs.shape[1])
    bins = calibration_bins(probs, truth, n_bins=n_bins)
    axes = _ax(ax)
    if axes is None:
        fig = plt.figure(figsize=(4.6, 4.6), layout="constrained")
        axes = fig.subplots()
    filled = (bins.count > 0).numpy()
    left = bins.edges[:-1].numpy()[filled]
    width = 1.0 / bins.n_bins
    accuracy = bins.accuracy.numpy()[filled]
    confidence = bins.confidence.numpy()[filled]
    axes.bar(
        left,
        accuracy,
        width=width,
        align="edge",
        color=_HIGHLIGHT,
        edgecolor="white",
        linewidth=0.5,
        label="accuracy",
    )
    axes.bar(
        left,
        confidence - accuracy,
        bottom=accuracy,
        width=width,
        align="edge",
        color=_WRONG,
        alpha=0.3,
        edgecolor=_WRONG,
        hatch="//",
        linewidth=0.5,
        label="gap",
    )
    axes.plot([0.0, 1.0], [0.0, 1.0], linestyle="--", color="#595959", label="perfect calibration")
    axes.set(
        xlim=(0.0, 1.0),
        ylim=(0.0, 1.0),
        xlabel="confidence (largest probability)",
        ylabel="accuracy",
        title=f"Reliability diagram (ECE = {bins.ece:.2%})",
    )
    axes.set_aspect("equal")
    axes.legend(loc="upper left", fontsize="small")
    return axes


# --------------------------------------------------------------------------- #
# model internals
# --------------------------------------------------------------------------- #


def _module(model: object, name: str) -> nn.Module:
    if not isinstance(model, nn.Module):
        raise ConfigError(
            f"Argument {name!r} must be a torch.nn.Module, but got {type(model).__name__}"
        )
    return model


def _symmetric_limit(values: _FloatArray) -> float:
    limit = float(np.abs(values).max()) if values.size else 0.0
    return limit if limit > 0 else 1.0


def plot_weights(
    model_or_weight: nn.Module | ArrayLike,
    *,
    classes: Sequence[str] | None = None,
    ncols: int = 5,
    cmap: str = "RdBu_r",
) -> Figure:
    """Show the weights of a fully connected layer as one image per output unit.

    For :class:`mnistkit.models.Linear` (softmax regression) each class has one weight
    per pixel, so its 784 weights form a 28×28 "template" of the class: pixels that
    raise the class's score are red, pixels that lower it blue. All images share one
    colour scale, symmetric around 0, shown by the colour bar.

    Parameters
    ----------
    model_or_weight : torch.nn.Module, tensor, ndarray or nested sequence
        A model (its first :class:`torch.nn.Linear` layer is used: the classifier of
        ``Linear``, the first hidden layer of ``MLP``), an ``nn.Linear``, or a weight
        matrix of shape (K, H·W) or (K, H, W). ``H·W`` must be a square number.
    classes : sequence of str, optional
        Names of the ``K`` outputs; default: ``"0"``, ``"1"``, ...
    ncols : int, default=5
        Images per row.
    cmap : str, default="RdBu_r"
        A diverging colormap.

    Returns
    -------
    matplotlib.figure.Figure
        One image axes per output unit, in order, plus the colour bar's axes.

    Raises
    ------
    ConfigError
        If the model has no linear layer or the weights cannot be drawn as square images.
    """
    columns = _positive_int(ncols, "ncols")
    if isinstance(model_or_weight, nn.Module):
        linear = next((m for m in model_or_weight.modules() if isinstance(m, nn.Linear)), None)
        if linear is None:
            raise ConfigError(
                f"Argument 'model_or_weight' must contain a torch.nn.Linear layer, but "
                f"{type(model_or_weight).__name__} has none; use plot_filters for convolutions"
            )
        weight = linear.weight.detach().cpu().double().numpy()
    else:
        weight = _array(model_or_weight, "model_or_weight").astype(np.float64)
    if weight.ndim == 3:
        weight = weight.reshape(weight.shape[0], -1)
    side = math.isqrt(weight.shape[1]) if weight.ndim == 2 else 0
    if weight.ndim != 2 or weight.shape[0] == 0 or side == 0 or side * side != weight.shape[1]:
        raise ConfigError(
            f"Argument 'model_or_weight' must give a (K, H*W) weight matrix with a square "
            f"number of inputs, such as (10, 784), but got shape {weight.shape}"
        )
    if not np.isfinite(weight).all():
        raise ConfigError("Argument 'model_or_weight' must be finite, but it has NaN or inf")
    units = weight.shape[0]
    names = _classes(classes, units) or tuple(str(i) for i in range(units))
    limit = _symmetric_limit(weight)
    fig, axes = _grid(units, columns, cell=1.5)
    for ax, row, name in zip(axes, weight, names, strict=True):
        ax.imshow(
            row.reshape(side, side), cmap=cmap, vmin=-limit, vmax=limit, interpolation="nearest"
        )
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(name, fontsize=10)
    fig.colorbar(axes[0].images[0], ax=axes, shrink=0.8, label="weight")
    fig.suptitle(f"Weights of {units} units over {side}×{side} inputs")
    return fig


def _convolutions(model: nn.Module) -> list[tuple[str, nn.Conv2d]]:
    return [(name, m) for name, m in model.named_modules() if isinstance(m, nn.Conv2d)]


def _conv_layer(model: nn.Module, layer: int | str, name: str) -> tuple[str, nn.Conv2d]:
    """The chosen Conv2d of ``model``: by index among its Conv2d layers, or by name."""
    convs = _convolutions(model)
    if not convs:
        raise ConfigError(
            f"Argument {name!r} must contain a torch.nn.Conv2d layer, but "
            f"{type(model).__name__} has none; use plot_weights for fully connected models"
        )
    listing = ", ".join(repr(n or type(m).__name__) for n, m in convs)
    if isinstance(layer, str):
        for conv_name, conv in convs:
            if conv_name == layer:
                return conv_name, conv
        raise ConfigError(
            f"Argument 'layer' must name a Conv2d layer of {type(model).__name__}, but got "
            f"{layer!r}; expected one of: {listing}"
        )
    index = _as_int(layer)
    count = len(convs)
    if index is None or not -count <= index < count:
        raise ConfigError(
            f"Argument 'layer' must be an index in [{-count}, {count}) among the {count} Conv2d "
            f"layer(s) of {type(model).__name__} ({listing}), or one of their names, "
            f"but got {layer!r}"
        )
    return convs[index]


def plot_filters(
    model_or_conv: nn.Module,
    *,
    layer: int | str = 0,
    ncols: int = 8,
    in_channel: int | None = None,
    max_filters: int = 64,
    cmap: str = "RdBu_r",
) -> Figure:
    """Show the kernels of a convolution layer, one image per output channel.

    A kernel of a layer with several input channels is a stack of 2-D kernels, one per
    input channel; by default their mean is shown, or pass ``in_channel`` to see one of
    them. For the first layer of an MNIST model there is one input channel and the
    choice does not matter. All kernels share one colour scale, symmetric around 0.

    Parameters
    ----------
    model_or_conv : torch.nn.Module
        A model or a :class:`torch.nn.Conv2d`.
    layer : int or str, default=0
        Which Conv2d: its index among the model's Conv2d layers in definition order
        (0 is the first, -1 the last), or its name in ``model.named_modules()`` such as
        ``"features.3"``.
    ncols : int, default=8
        Images per row.
    in_channel : int, optional
        Show this input channel of each kernel instead of the mean over input channels.
    max_filters : int, default=64
        Show at most this many output channels, from the first.
    cmap : str, default="RdBu_r"
        A diverging colormap.

    Returns
    -------
    matplotlib.figure.Figure
        One image axes per shown filter, in channel order, plus the colour bar's axes.

    Raises
    ------
    ConfigError
        If the model has no Conv2d layer, or ``layer`` or ``in_channel`` is out of range.
    """
    model = _module(model_or_conv, "model_or_conv")
    columns = _positive_int(ncols, "ncols")
    limit_count = _positive_int(max_filters, "max_filters")
    name, conv = _conv_layer(model, layer, "model_or_conv")
    weight = conv.weight.detach().cpu().double().numpy()  # (out, in / groups, kh, kw)
    inputs = weight.shape[1]
    if in_channel is None:
        kernels = weight.mean(axis=1)
        source = "" if inputs == 1 else f", mean over {inputs} input channels"
    else:
        channel = _as_int(in_channel)
        if channel is None or not 0 <= channel < inputs:
            raise ConfigError(
                f"Argument 'in_channel' must be an index in [0, {inputs}) or None, "
                f"but got {in_channel!r}"
            )
        kernels = weight[:, channel]
        source = f", input channel {channel}"
    total = kernels.shape[0]
    kernels = kernels[:limit_count]
    limit = _symmetric_limit(kernels)
    fig, axes = _grid(len(kernels), columns, cell=1.0)
    for i, (ax, kernel) in enumerate(zip(axes, kernels, strict=True)):
        ax.imshow(kernel, cmap=cmap, vmin=-limit, vmax=limit, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(str(i), fontsize=8)
    fig.colorbar(axes[0].images[0], ax=axes, shrink=0.8, label="weight")
    height, width = kernels.shape[1:]
    shown = f"{len(kernels)} of {total}" if len(kernels) < total else f"{total}"
    fig.suptitle(
        f"{name or type(conv).__name__}: {shown} filters of {height}×{width}{source}", fontsize=11
    )
    return fig


def _one_image(image: object) -> torch.Tensor:
    """One image as a float32 (1, 1, H, W) tensor in [0, 1]."""
    array = _array(image, "image")
    if array.ndim == 4 and array.shape[:2] == (1, 1):
        array = array[0, 0]
    elif array.ndim == 3 and array.shape[0] == 1:
        array = array[0]
    if array.ndim != 2 or 0 in array.shape:
        raise ConfigError(
            f"Argument 'image' must be one image of shape (H, W), (1, H, W) or (1, 1, H, W), "
            f"but got shape {array.shape}; pick one, e.g. images[0]"
        )
    if array.dtype == np.uint8:
        values = array.astype(np.float32) / 255.0
    elif array.dtype.kind == "f":
        values = array.astype(np.float32)
        if not np.isfinite(values).all() or values.min() < 0.0 or values.max() > 1.0:
            raise ConfigError(
                f"Argument 'image' must hold uint8 pixels or floats in [0, 1], but got floats "
                f"from {values.min():.4g} to {values.max():.4g}; pass unnormalised pixels, "
                "the model's normalisation is applied with 'mean' and 'std'"
            )
    else:
        raise ConfigError(
            f"Argument 'image' must hold uint8 pixels or floats in [0, 1], "
            f"but got dtype {array.dtype}"
        )
    return torch.from_numpy(np.ascontiguousarray(values))[None, None]


def plot_feature_maps(
    model: nn.Module,
    image: ArrayLike,
    *,
    layer: int | str = 0,
    mean: float = 0.1307,
    std: float = 0.3081,
    ncols: int = 8,
    max_maps: int = 32,
    cmap: str = "viridis",
) -> Figure:
    """Show what a convolution layer outputs for one image, one panel per channel.

    The image is normalised with ``mean`` and ``std`` and passed through ``model`` in
    evaluation mode under :func:`torch.inference_mode` (the training flag is restored
    afterwards); a forward hook records the chosen layer's output. That is the
    convolution's own output, before any batch normalisation, activation or pooling
    that follows it, so it can be negative. Each map is coloured on its own range.

    Parameters
    ----------
    model : torch.nn.Module
        A model taking normalised (1, 1, H, W) images, e.g. ``get_model("cnn")``.
    image : tensor, ndarray or nested sequence
        One image of shape (H, W), (1, H, W) or (1, 1, H, W): ``uint8`` pixels or floats
        in [0, 1], as in :class:`~mnistkit.datasets.Split`.
    layer : int or str, default=0
        Which Conv2d: its index among the model's Conv2d layers in definition order
        (0 is the first, -1 the last), or its name in ``model.named_modules()``.
    mean, std : float, default=0.1307, 0.3081
        The normalisation the model was trained with (MNIST's by default).
    ncols : int, default=8
        Maps per row.
    max_maps : int, default=32
        Show at most this many channels, from the first.
    cmap : str, default="viridis"
        Colormap of the maps.

    Returns
    -------
    matplotlib.figure.Figure
        One axes per shown channel, in channel order.

    Raises
    ------
    ConfigError
        If the model has no Conv2d layer, ``layer`` is out of range, the chosen layer is
        not used by the forward pass, or another argument is invalid.
    """
    net = _module(model, "model")
    columns = _positive_int(ncols, "ncols")
    limit_count = _positive_int(max_maps, "max_maps")
    shift, scale = _as_real(mean), _as_real(std)
    if shift is None or not math.isfinite(shift):
        raise ConfigError(f"Argument 'mean' must be a finite number, but got {mean!r}")
    if scale is None or not math.isfinite(scale) or scale <= 0:
        raise ConfigError(f"Argument 'std' must be a positive finite number, but got {std!r}")
    name, conv = _conv_layer(net, layer, "model")
    batch = _one_image(image)
    parameter = next(net.parameters(), None)
    if parameter is not None:
        batch = batch.to(device=parameter.device, dtype=parameter.dtype)
    batch = (batch - shift) / scale  # (1, 1, H, W)

    captured: list[torch.Tensor] = []

    def record(module: nn.Module, inputs: tuple[Any, ...], output: torch.Tensor) -> None:
        if not captured:
            captured.append(output.detach())

    handle = conv.register_forward_hook(record)
    was_training = net.training
    net.eval()
    try:
        with torch.inference_mode():
            net(batch)
    finally:
        handle.remove()
        net.train(was_training)
    label = name or type(conv).__name__
    if not captured:
        raise ConfigError(
            f"Argument 'layer' chose {label!r}, but the model's forward pass does not use it"
        )
    maps = captured[0][0].float().cpu().numpy()  # (C, H', W')
    total = maps.shape[0]
    maps = maps[:limit_count]
    fig, axes = _grid(len(maps), columns, cell=1.1)
    for i, (ax, feature) in enumerate(zip(axes, maps, strict=True)):
        ax.imshow(feature, cmap=cmap, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(str(i), fontsize=8)
    height, width = maps.shape[1:]
    shown = f"{len(maps)} of {total}" if len(maps) < total else f"{total}"
    fig.suptitle(f"{label} output: {shown} channels of {height}×{width}", fontsize=11)
    return fig
