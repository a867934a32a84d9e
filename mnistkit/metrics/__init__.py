"""Classification metrics: a confusion matrix and everything derived from it.

Every count-based metric in this module is read off a single confusion matrix,
so accuracy, precision, recall, F1 and the averages in a :class:`Report` are
always consistent with each other. Probability-based metrics (negative
log-likelihood, top-k accuracy, expected calibration error) are computed from
an ``(N, C)`` matrix of class probabilities.

How sure an accuracy is (:mod:`mnistkit.metrics.stats`): every :class:`Report` gives its
number of errors and a 95% interval for its accuracy (:func:`wilson_interval`), and
:func:`compare` tests whether classifiers evaluated on the same images differ
(:func:`mcnemar_p_value`, :func:`paired_difference_interval`). Whether an image is a
digit at all (:mod:`mnistkit.metrics.ood`): :func:`ood_scores` scores images from a
model's logits, :func:`ood_report` measures how well the scores separate two sets, and
:func:`threshold_for_recall` picks a rejection threshold, which
:class:`RejectionThreshold` keeps with its kind of score.

Conventions
-----------
* ``confusion[i, j]`` counts samples whose **true** class is ``i`` and whose
  **predicted** class is ``j`` (rows = truth, columns = prediction).
* A ratio whose denominator is zero is defined as ``0.0``. This happens for the
  precision of a class that is never predicted, the recall of a class that never
  occurs, and the F1 of a class with no true positives, false positives or false
  negatives. It matches scikit-learn's ``zero_division=0.0``.
* Macro averages weight every class equally, including classes with no samples;
  weighted averages weight each class by its support (number of true samples).

Examples
--------
>>> import torch
>>> from mnistkit.metrics import Report
>>> probs = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4]])
>>> report = Report.from_probabilities(probs, torch.tensor([0, 1, 0]))
>>> report
Report(accuracy=0.6667, n=3)
>>> report.confusion_matrix.tolist()
[[1, 0, 1], [0, 1, 0], [0, 0, 0]]
"""

from __future__ import annotations

from typing import TypeAlias

from mnistkit.metrics._checks import ArrayLike as _ArrayLike
from mnistkit.metrics.functional import (
    CalibrationBins,
    calibration_bins,
    confusion_matrix,
    expected_calibration_error,
    negative_log_likelihood,
    top_k_accuracy,
)
from mnistkit.metrics.ood import (
    OODReport,
    RejectionThreshold,
    ood_report,
    ood_scores,
    threshold_for_recall,
)
from mnistkit.metrics.report import Report
from mnistkit.metrics.stats import (
    Comparison,
    PairedComparison,
    compare,
    mcnemar_p_value,
    paired_difference_interval,
    wilson_interval,
)

__all__ = [
    "ArrayLike",
    "CalibrationBins",
    "Comparison",
    "OODReport",
    "PairedComparison",
    "RejectionThreshold",
    "Report",
    "calibration_bins",
    "compare",
    "confusion_matrix",
    "expected_calibration_error",
    "mcnemar_p_value",
    "negative_log_likelihood",
    "ood_report",
    "ood_scores",
    "paired_difference_interval",
    "threshold_for_recall",
    "top_k_accuracy",
    "wilson_interval",
]

# Assigned here rather than only imported, so that Sphinx finds the docstring below on the
# public name ``mnistkit.metrics.ArrayLike``.
ArrayLike: TypeAlias = _ArrayLike
"""What the functions in this module accept as input: a tensor, a NumPy array or a
(nested) sequence of numbers."""
