"""Plots of results: confusion matrix, learning curves, probabilities, calibration,
paired comparisons and out-of-distribution scores."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from mnistkit._validation import as_int, fail
from mnistkit.exceptions import ConfigError
from mnistkit.metrics import ArrayLike, Comparison, Report, calibration_bins, ood_report
from mnistkit.plotting._common import (
    _HIGHLIGHT,
    _MUTED,
    _NORMALIZE_TITLES,
    _RIGHT,
    _WRONG,
    _array,
    _ax,
    _classes,
    _figure,
    _labels,
    _percent,
    _probabilities,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from mnistkit.history import History

__all__ = [
    "plot_calibration",
    "plot_comparison",
    "plot_confusion_matrix",
    "plot_history",
    "plot_ood_scores",
    "plot_probabilities",
]

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
        raise fail("normalize", normalize, "None, 'true', 'pred' or 'all'")
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
        fig = _figure(side + (1.0 if colorbar else 0.0), side)
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
    # a History is known by its records, not its class: History.plot calls this function,
    # so importing mnistkit.history here would close an import circle
    records = getattr(history, "records", history)
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

    from matplotlib.ticker import MaxNLocator

    fig = _figure(4.2 * len(names), 3.4)
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
        target = as_int(true)
        if target is None or not 0 <= target < size:
            raise fail("true", true, f"a class index in [0, {size}) or None")
    axes = _ax(ax)
    if axes is None:
        fig = _figure(max(4.0, 0.45 * size + 1.5), 3.2)
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
    from matplotlib.patches import Patch

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
        fig = _figure(4.6, 4.6)
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


def plot_comparison(comparison: Comparison, *, ax: Axes | None = None) -> Axes:
    """The disagreements of each pair of classifiers, as bars on either side of zero.

    One row per pair of :attr:`Comparison.pairs <mnistkit.metrics.Comparison.pairs>`: to the
    left, the samples only the first classifier (A) gets right; to the right, those only
    the second (B) gets right. Only these samples tell the two apart, so equal bars mean no
    difference whatever the accuracies. Each row is labelled with the pair and the verdict
    of the exact McNemar test.

    Parameters
    ----------
    comparison : Comparison
        What :func:`mnistkit.metrics.compare` returns.
    ax : matplotlib.axes.Axes, optional
        Where to draw; default: a new figure.

    Returns
    -------
    matplotlib.axes.Axes
        Its two bar containers hold, per pair in order, ``-only_a`` (label ``"only A
        right"``) and ``only_b`` (label ``"only B right"``).

    Raises
    ------
    ConfigError
        If ``comparison`` is not a :class:`~mnistkit.metrics.Comparison`.
    """
    if not isinstance(comparison, Comparison):
        raise ConfigError(
            "Argument 'comparison' must be a mnistkit.metrics.Comparison (from "
            f"metrics.compare), but got {type(comparison).__name__}"
        )
    pairs = comparison.pairs
    axes = _ax(ax)
    if axes is None:
        fig = _figure(6.4, 1.0 + 0.75 * len(pairs))
        axes = fig.subplots()
    rows = list(range(len(pairs)))[::-1]  # the first pair on top
    only_a = [p.only_a for p in pairs]
    only_b = [p.only_b for p in pairs]
    axes.barh(rows, [-v for v in only_a], color=_HIGHLIGHT, label="only A right")
    axes.barh(rows, only_b, color="#ff7f0e", label="only B right")
    widest = max([*only_a, *only_b, 1])
    for row, pair in zip(rows, pairs, strict=True):
        axes.text(-pair.only_a - 0.02 * widest, row, f"{pair.only_a:,}", ha="right", va="center")
        axes.text(pair.only_b + 0.02 * widest, row, f"{pair.only_b:,}", ha="left", va="center")
    axes.axvline(0.0, color="#595959", linewidth=0.8)
    axes.set_yticks(rows, labels=[f"{p.a} vs {p.b}\n{p.verdict}" for p in pairs])
    axes.set_xlim(-1.25 * widest, 1.25 * widest)
    axes.xaxis.set_major_formatter(lambda value, _: f"{abs(value):,.0f}")
    axes.set(
        xlabel="samples only A right  |  samples only B right",
        title=f"Disagreements on {comparison.num_samples:,} samples",
    )
    return axes


def plot_ood_scores(
    in_scores: ArrayLike,
    out_scores: ArrayLike,
    *,
    threshold: float | None = None,
    labels: tuple[str, str] = ("in-distribution", "out-of-distribution"),
    bins: int = 50,
    ax: Axes | None = None,
) -> Axes:
    """Histograms of the scores of in- and out-of-distribution samples, and a threshold.

    Both histograms share their bins and are normalised to unit area, so sets of
    different sizes compare. The title gives the AUROC
    (:func:`mnistkit.metrics.ood_report`); a threshold, when given, is drawn as a dashed
    line labelled with the share of each set it keeps or rejects.

    Parameters
    ----------
    in_scores, out_scores : tensor, ndarray or sequence of float, shape (N,)
        Scores from :func:`mnistkit.metrics.ood_scores`; higher means in-distribution.
    threshold : float, optional
        A rejection threshold, e.g. from :func:`mnistkit.metrics.threshold_for_recall`.
    labels : tuple of str, default=("in-distribution", "out-of-distribution")
        Legend names of the two sets, e.g. ``("MNIST", "Fashion-MNIST")``.
    bins : int, default=50
        Number of equal-width bins over the range of all scores.
    ax : matplotlib.axes.Axes, optional
        Where to draw; default: a new figure.

    Returns
    -------
    matplotlib.axes.Axes
        Its first two containers are the histograms, in the order of ``labels``.

    Raises
    ------
    ConfigError
        If the scores are not non-empty finite vectors, ``labels`` is not two strings or
        ``bins`` is not a positive integer.
    """
    report = ood_report(in_scores, out_scores, threshold=threshold)
    if (
        not isinstance(labels, tuple | list)
        or len(labels) != 2
        or not all(isinstance(label, str) for label in labels)
    ):
        raise fail("labels", labels, "a pair of strings")
    count = as_int(bins)
    if count is None or count < 1:
        raise fail("bins", bins, "a positive integer")
    pos = _array(in_scores, "in_scores").astype(np.float64).ravel()
    neg = _array(out_scores, "out_scores").astype(np.float64).ravel()
    edges = np.histogram_bin_edges(np.concatenate([pos, neg]), bins=count).tolist()
    axes = _ax(ax)
    if axes is None:
        fig = _figure(6.0, 3.6)
        axes = fig.subplots()
    axes.hist(pos, bins=edges, density=True, alpha=0.6, color=_HIGHLIGHT, label=labels[0])
    axes.hist(neg, bins=edges, density=True, alpha=0.6, color=_WRONG, label=labels[1])
    if report.threshold is not None and report.kept_in is not None:
        axes.axvline(
            report.threshold,
            color="#262626",
            linestyle="--",
            label=(
                f"threshold: keeps {report.kept_in:.1%} of {labels[0]}, "
                f"rejects {report.rejected_out:.1%} of {labels[1]}"
            ),
        )
    axes.set(
        xlabel="score (higher = more in-distribution)",
        ylabel="density",
        title=f"Out-of-distribution scores (AUROC {report.auroc:.4f})",
    )
    axes.legend(loc="upper left", fontsize="small")
    return axes
