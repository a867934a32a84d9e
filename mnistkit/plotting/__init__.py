"""Plots for data, predictions, training curves and what a model has learnt.

Every function draws with Matplotlib's object API and returns what it drew on: a
:class:`~matplotlib.figure.Figure` for grids and multi-panel plots, an
:class:`~matplotlib.axes.Axes` for single-panel plots, which also accept ``ax=`` to draw
into an existing one. Nothing here calls :func:`matplotlib.pyplot.show`; call it
yourself in a script, or let a notebook display the figure. Figures are created
through :mod:`matplotlib.pyplot` so that ``plt.show()`` and ``plt.close()`` know them;
pyplot is imported when the first figure is drawn, not by ``import mnistkit``.

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
:func:`plot_comparison`          the disagreements of classifiers compared on the same images
:func:`plot_ood_scores`          histograms of in- and out-of-distribution scores, a threshold
:func:`plot_weights`             the weights of a linear layer, one 28×28 image per output
:func:`plot_filters`             the kernels of a convolution layer
:func:`plot_feature_maps`        the output channels of a convolution layer for one image
:func:`plot_attributions`        digits with attribution heat maps and overlays, per method
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

from mnistkit.plotting.evaluation import (
    plot_calibration,
    plot_comparison,
    plot_confusion_matrix,
    plot_history,
    plot_ood_scores,
    plot_probabilities,
)
from mnistkit.plotting.explain import plot_attributions
from mnistkit.plotting.images import (
    show_misclassified,
    show_predictions,
    show_samples,
    show_top_losses,
)
from mnistkit.plotting.layers import plot_feature_maps, plot_filters, plot_weights

__all__ = [
    "plot_attributions",
    "plot_calibration",
    "plot_comparison",
    "plot_confusion_matrix",
    "plot_feature_maps",
    "plot_filters",
    "plot_history",
    "plot_ood_scores",
    "plot_probabilities",
    "plot_weights",
    "show_misclassified",
    "show_predictions",
    "show_samples",
    "show_top_losses",
]
