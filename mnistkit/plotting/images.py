"""Grids of images: samples, predictions, misclassified examples and top losses."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from mnistkit._validation import check_int
from mnistkit.datasets import Split
from mnistkit.metrics import ArrayLike
from mnistkit.plotting._common import (
    _LOSS_EPS,
    _PLAIN,
    _RIGHT,
    _WRONG,
    _classes,
    _figure,
    _FloatArray,
    _images,
    _IntArray,
    _labelled_grid,
    _labels,
    _name,
    _percent,
    _pixels,
    _probabilities,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["show_misclassified", "show_predictions", "show_samples", "show_top_losses"]


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
        One axes showing the images, in order, as one mosaic image; each image's title is
        one of the axes' texts and its frame one rectangle of the axes' collection.

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
    count = check_int(n, "n")
    columns = None if ncols is None else check_int(ncols, "ncols")
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
        One axes showing the images, in order, as one mosaic image; each image's title is
        one of the axes' texts and its frame one rectangle of the axes' collection.

    Raises
    ------
    ConfigError
        If an argument has the wrong type, shape or value, or the lengths disagree.

    Examples
    --------
    >>> probs = mnistkit.predict_proba(model, mnist.test.images[:25])  # doctest: +SKIP
    >>> images, labels = mnist.test.images[:25], mnist.test.labels[:25]  # doctest: +SKIP
    >>> fig = show_predictions(  # doctest: +SKIP
    ...     images, probs.argmax(1), labels, probabilities=probs
    ... )
    """
    count = check_int(n, "n")
    columns = None if ncols is None else check_int(ncols, "ncols")
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
        One axes showing the images as one mosaic, each titled (the axes' texts) and
        framed (its collection), in order; when nothing is misclassified, an empty axes
        saying so.

    Raises
    ------
    ConfigError
        If an argument has the wrong type, shape or value, or the lengths disagree.
    """
    count = check_int(n, "n")
    columns = None if ncols is None else check_int(ncols, "ncols")
    stack, probs, truth, names = _scored(images, probabilities, labels, classes)
    total = stack.shape[0]
    pred = probs.argmax(axis=1)
    wrong = np.flatnonzero(pred != truth)
    if wrong.size == 0:
        fig = _figure(4.0, 1.5)
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
        One axes showing the images as one mosaic, in order of decreasing loss, each
        titled (the axes' texts) and framed (its collection).

    Raises
    ------
    ConfigError
        If an argument has the wrong type, shape or value, or the lengths disagree.
    """
    count = check_int(k, "k")
    columns = None if ncols is None else check_int(ncols, "ncols")
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
