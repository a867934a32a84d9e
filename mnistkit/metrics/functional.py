"""The metric functions: a confusion matrix and the probability-based metrics.

See :mod:`mnistkit.metrics` for the conventions, and import from there: it re-exports every
public name defined here. :class:`~mnistkit.metrics.Report` gathers them into one summary.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from mnistkit._validation import check_int, check_number
from mnistkit.metrics import _checks, _kernels
from mnistkit.metrics._checks import ArrayLike

__all__ = [
    "CalibrationBins",
    "calibration_bins",
    "confusion_matrix",
    "expected_calibration_error",
    "negative_log_likelihood",
    "top_k_accuracy",
]

#: Probabilities are clamped to at least this before taking the log in the NLL.
NLL_EPS = 1e-12
#: Default ``k`` values for top-k accuracy.
DEFAULT_TOP_K = (1, 3, 5)


# --------------------------------------------------------------------------- #
# hard-prediction metrics
# --------------------------------------------------------------------------- #


def confusion_matrix(y_true: ArrayLike, y_pred: ArrayLike, *, num_classes: int) -> torch.Tensor:
    """Count (true class, predicted class) pairs.

    Parameters
    ----------
    y_true : tensor, ndarray or sequence of int, shape (N,)
        True class labels in ``[0, num_classes)``.
    y_pred : tensor, ndarray or sequence of int, shape (N,)
        Predicted class labels in ``[0, num_classes)``.
    num_classes : int
        Number of classes ``C``. Passed explicitly so that a class missing from
        both vectors still gets its row and column.

    Returns
    -------
    torch.Tensor
        ``int64`` tensor of shape ``(C, C)`` where entry ``[i, j]`` is the number
        of samples of true class ``i`` predicted as ``j``. It lives on the device of
        ``y_true`` (the CPU for NumPy input), so matrices of successive batches can
        be summed on the accelerator. Empty inputs give a matrix of zeros.

    Raises
    ------
    ConfigError
        If a vector is not 1-D or not integer, the lengths differ, a label is
        outside ``[0, num_classes)`` or ``num_classes`` is not a positive integer.

    Examples
    --------
    >>> confusion_matrix([0, 1, 1, 2], [0, 2, 1, 2], num_classes=3).tolist()
    [[1, 0, 0], [0, 1, 1], [0, 0, 1]]
    """
    c = check_int(num_classes, "num_classes")
    truth, pred = _checks.label_pair(y_true, y_pred, c)
    return _kernels.confusion_counts(truth, pred, c)


# --------------------------------------------------------------------------- #
# probability-based metrics
# --------------------------------------------------------------------------- #


def negative_log_likelihood(probs: ArrayLike, y_true: ArrayLike, *, eps: float = NLL_EPS) -> float:
    """Mean negative log-likelihood (cross-entropy, "log loss") of the true classes.

    ``NLL = -(1/N) * sum_i log(max(probs[i, y_i], eps))``

    Parameters
    ----------
    probs : tensor, ndarray or nested sequence, shape (N, C)
        Class probabilities; every row must sum to 1 (within ``1e-2``).
    y_true : tensor, ndarray or sequence of int, shape (N,)
        True class labels in ``[0, C)``.
    eps : float, default=1e-12
        Lower clamp for the probability of the true class, so that a confident
        mistake (probability 0) costs ``-log(eps)`` (about 27.6) instead of infinity.

    Returns
    -------
    float
        The mean over samples, in nats.

    Raises
    ------
    ConfigError
        If the inputs have the wrong shape or dtype, labels are out of range, a row
        is not a probability distribution, or ``eps`` is not in ``(0, 1)``.
    """
    clamp = check_number(eps, "eps", low=0, high=1, low_open=True, high_open=True)
    p, y = _checks.probs_and_labels(probs, y_true)
    return _kernels.nll(p, y, clamp)


def top_k_accuracy(
    probs: ArrayLike, y_true: ArrayLike, *, k: int | Sequence[int] = DEFAULT_TOP_K
) -> dict[int, float]:
    """Fraction of samples whose true class is among the ``k`` most probable.

    Parameters
    ----------
    probs : tensor, ndarray or nested sequence, shape (N, C)
        Class probabilities; every row must sum to 1 (within ``1e-2``).
    y_true : tensor, ndarray or sequence of int, shape (N,)
        True class labels in ``[0, C)``.
    k : int or sequence of int, default=(1, 3, 5)
        The values of ``k``. Values larger than ``C`` are dropped (top-``C``
        accuracy is always 1); duplicates are ignored.

    Returns
    -------
    dict of int to float
        ``{k: accuracy}`` in increasing order of ``k``.

    Raises
    ------
    ConfigError
        If ``k`` is empty or holds a value that is not a positive integer, or the
        inputs are invalid (see :func:`negative_log_likelihood`).

    Notes
    -----
    A sample counts as correct for ``k`` when fewer than ``k`` classes have a
    probability *strictly* greater than that of its true class, so ties are
    resolved in the sample's favour and the result does not depend on sort order.
    """
    p, y = _checks.probs_and_labels(probs, y_true)
    ks = _checks.top_k_values(k, p.shape[1])
    return _kernels.top_k(p, y, ks)


@dataclass(frozen=True, slots=True, eq=False)
class CalibrationBins:
    """Per-bin statistics of confidence versus accuracy, for ECE and reliability plots.

    Built by :func:`calibration_bins`. A sample's *confidence* is its largest class
    probability and it is *correct* when that class (the arg-max) is the true one.
    Bin ``b`` holds the samples with ``edges[b] < confidence <= edges[b + 1]``
    (the first bin also holds confidence 0). Instances compare by identity.

    Parameters
    ----------
    edges : torch.Tensor
        ``float64`` tensor of shape ``(n_bins + 1,)``, equally spaced from 0 to 1.
    confidence : torch.Tensor
        ``float64`` tensor of shape ``(n_bins,)``: mean confidence in each bin,
        NaN for an empty bin.
    accuracy : torch.Tensor
        ``float64`` tensor of shape ``(n_bins,)``: fraction correct in each bin,
        NaN for an empty bin.
    count : torch.Tensor
        ``int64`` tensor of shape ``(n_bins,)``: number of samples in each bin.
    """

    edges: torch.Tensor
    confidence: torch.Tensor
    accuracy: torch.Tensor
    count: torch.Tensor

    @property
    def n_bins(self) -> int:
        """Number of bins."""
        return int(self.count.shape[0])

    @property
    def num_samples(self) -> int:
        """Total number of samples over all bins."""
        return int(self.count.sum())

    @property
    def ece(self) -> float:
        """Expected calibration error over these bins.

        ``ECE = sum_b (count[b] / N) * |accuracy[b] - confidence[b]|``, summed over
        the non-empty bins, where ``N`` is the total number of samples.
        """
        n = self.num_samples
        if n == 0:
            return 0.0
        filled = self.count > 0
        weights = self.count[filled].to(torch.float64) / n
        gaps = (self.accuracy[filled] - self.confidence[filled]).abs()
        return float((weights * gaps).sum())

    def __repr__(self) -> str:
        return f"CalibrationBins(n_bins={self.n_bins}, n={self.num_samples}, ece={self.ece:.4f})"


def calibration_bins(probs: ArrayLike, y_true: ArrayLike, *, n_bins: int = 15) -> CalibrationBins:
    """Group samples into equal-width confidence bins.

    Parameters
    ----------
    probs : tensor, ndarray or nested sequence, shape (N, C)
        Class probabilities; every row must sum to 1 (within ``1e-2``).
    y_true : tensor, ndarray or sequence of int, shape (N,)
        True class labels in ``[0, C)``.
    n_bins : int, default=15
        Number of equal-width bins on ``[0, 1]``.

    Returns
    -------
    CalibrationBins
        Bin edges and per-bin mean confidence, accuracy and count.

    Raises
    ------
    ConfigError
        If ``n_bins`` is not a positive integer or the inputs are invalid
        (see :func:`negative_log_likelihood`).
    """
    bins = check_int(n_bins, "n_bins")
    p, y = _checks.probs_and_labels(probs, y_true)
    return CalibrationBins(*_kernels.calibration(p, y, bins))


def expected_calibration_error(probs: ArrayLike, y_true: ArrayLike, *, n_bins: int = 15) -> float:
    """Expected calibration error (ECE) with equal-width bins on the top probability.

    ``ECE = sum_b (n_b / N) * |acc_b - conf_b|`` where, for each non-empty bin
    ``b`` of :func:`calibration_bins`, ``n_b`` is its number of samples, ``acc_b``
    the fraction of them whose arg-max class is correct and ``conf_b`` their mean
    largest probability. 0 means perfectly calibrated; the maximum is 1.

    Parameters
    ----------
    probs : tensor, ndarray or nested sequence, shape (N, C)
        Class probabilities; every row must sum to 1 (within ``1e-2``).
    y_true : tensor, ndarray or sequence of int, shape (N,)
        True class labels in ``[0, C)``.
    n_bins : int, default=15
        Number of equal-width bins on ``[0, 1]``.

    Returns
    -------
    float
        The ECE, a fraction in ``[0, 1]``.

    Raises
    ------
    ConfigError
        As for :func:`calibration_bins`.
    """
    return calibration_bins(probs, y_true, n_bins=n_bins).ece
