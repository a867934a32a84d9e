"""The metric functions and :class:`Report`; see :mod:`mnistkit.metrics` for the conventions.

Import from :mod:`mnistkit.metrics`, which re-exports every public name defined here.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt
import torch

from mnistkit._validation import class_names
from mnistkit.exceptions import ConfigError

__all__ = [
    "CalibrationBins",
    "Report",
    "calibration_bins",
    "confusion_matrix",
    "expected_calibration_error",
    "negative_log_likelihood",
    "top_k_accuracy",
]

# Public, and documented, as mnistkit.metrics.ArrayLike.
ArrayLike: TypeAlias = "torch.Tensor | npt.NDArray[Any] | Sequence[Any]"

#: Rows of a probability matrix may deviate this much from summing to one.
#: Loose on purpose: half-precision softmax outputs must pass, logits must not.
_ROW_SUM_TOLERANCE = 1e-2
#: Probabilities may fall outside ``[0, 1]`` by this much (floating-point noise).
_RANGE_TOLERANCE = 1e-6
#: Probabilities are clamped to at least this before taking the log in the NLL.
_NLL_EPS = 1e-12
#: Default ``k`` values for top-k accuracy.
_DEFAULT_TOP_K = (1, 3, 5)
#: Label column width floor, so the average rows always fit.
_AVG_LABELS = ("accuracy", "macro avg", "weighted avg")


# --------------------------------------------------------------------------- #
# input validation
# --------------------------------------------------------------------------- #


def _to_tensor(x: ArrayLike, name: str) -> torch.Tensor:
    """Convert ``x`` to a tensor without touching its device if it already is one."""
    if isinstance(x, torch.Tensor):
        return x.detach()
    try:
        arr = np.asarray(x)
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"Argument {name!r} must be a tensor, a NumPy array or a rectangular sequence "
            f"of numbers, but got {type(x).__name__} that cannot be converted ({exc})"
        ) from exc
    if arr.dtype.kind == "b":
        return torch.from_numpy(arr.copy())
    if arr.dtype.kind in "iu":
        return torch.from_numpy(arr.astype(np.int64))
    if arr.dtype.kind == "f":
        return torch.from_numpy(arr.astype(np.float64))
    raise ConfigError(f"Argument {name!r} must hold numbers, but got an array of dtype {arr.dtype}")


def _as_int(value: object) -> int | None:
    """Return ``value`` as an int if it is a Python or NumPy integer (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        return None
    return int(value)


def _as_real(value: object) -> float | None:
    """Return ``value`` as a float if it is a real Python or NumPy number (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        return None
    return float(value)


def _is_integer_dtype(t: torch.Tensor) -> bool:
    return not (t.is_floating_point() or t.is_complex() or t.dtype == torch.bool)


def _check_num_classes(num_classes: object, name: str = "num_classes") -> int:
    value = _as_int(num_classes)
    if value is None or value < 1:
        raise ConfigError(f"Argument {name!r} must be a positive integer, but got {num_classes!r}")
    return value


def _labels(y: ArrayLike, name: str, num_classes: int | None) -> torch.Tensor:
    """Validate a 1-D vector of integer class labels and return it as int64."""
    t = _to_tensor(y, name)
    if t.ndim != 1:
        raise ConfigError(
            f"Argument {name!r} must be a 1-D vector of class labels, "
            f"but got shape {tuple(t.shape)}"
        )
    # An empty list becomes a float array in NumPy; it holds no labels to check.
    if not _is_integer_dtype(t) and t.numel() > 0:
        raise ConfigError(
            f"Argument {name!r} must hold integer class labels, but got dtype {t.dtype}; "
            "convert with .long(), or pass probabilities to the probability-based functions"
        )
    t = t.to(torch.int64)
    if num_classes is not None and t.numel() > 0:
        lo, hi = int(t.min()), int(t.max())
        if lo < 0 or hi >= num_classes:
            raise ConfigError(
                f"Argument {name!r} must hold labels in [0, {num_classes}), "
                f"but got values from {lo} to {hi}"
            )
    return t


def _probabilities(probs: ArrayLike, name: str = "probs") -> torch.Tensor:
    """Validate an ``(N, C)`` probability matrix and return it as float64 on the CPU."""
    t = _to_tensor(probs, name)
    if t.ndim != 2:
        raise ConfigError(
            f"Argument {name!r} must be a 2-D (N, C) matrix of class probabilities, "
            f"but got shape {tuple(t.shape)}"
        )
    if t.dtype == torch.bool or t.is_complex():
        raise ConfigError(
            f"Argument {name!r} must hold real-valued probabilities, but got dtype {t.dtype}"
        )
    n, c = t.shape
    if n == 0 or c == 0:
        raise ConfigError(
            f"Argument {name!r} must have at least one row and one column, "
            f"but got shape {tuple(t.shape)}"
        )
    # float64 on the CPU: exact enough for summing 10^5+ log terms, and works on
    # every backend (MPS has no float64).
    t = t.to(device="cpu", dtype=torch.float64)
    if not bool(torch.isfinite(t).all()):
        raise ConfigError(f"Argument {name!r} must be finite, but it contains NaN or inf")
    lo, hi = float(t.min()), float(t.max())
    if lo < -_RANGE_TOLERANCE or hi > 1.0 + _RANGE_TOLERANCE:
        raise ConfigError(
            f"Argument {name!r} must hold probabilities in [0, 1], but got values from "
            f"{lo:.4g} to {hi:.4g}; apply torch.softmax(logits, dim=1) first"
        )
    deviation = (t.sum(dim=1) - 1.0).abs()
    worst = int(deviation.argmax())
    if float(deviation[worst]) > _ROW_SUM_TOLERANCE:
        raise ConfigError(
            f"Argument {name!r} must have rows that sum to 1, but row {worst} sums to "
            f"{float(t[worst].sum()):.4g}; apply torch.softmax(logits, dim=1) first"
        )
    return t


def _probs_and_labels(probs: ArrayLike, y_true: ArrayLike) -> tuple[torch.Tensor, torch.Tensor]:
    p = _probabilities(probs)
    y = _labels(y_true, "y_true", p.shape[1]).cpu()
    if y.shape[0] != p.shape[0]:
        raise ConfigError(
            f"Arguments 'probs' and 'y_true' must have the same number of samples, "
            f"but got {p.shape[0]} rows and {y.shape[0]} labels"
        )
    return p, y


def _top_k_values(k: int | Sequence[int], num_classes: int) -> tuple[int, ...]:
    """Validate ``k`` and return the sorted distinct values that are <= num_classes."""
    values: object = (k,) if _as_int(k) is not None else k
    if isinstance(values, str) or not isinstance(values, Sequence) or len(values) == 0:
        raise ConfigError(
            f"Argument 'k' must be a positive integer or a non-empty sequence of them, "
            f"but got {k!r}"
        )
    checked: set[int] = set()
    for value in values:
        as_int = _as_int(value)
        if as_int is None or as_int < 1:
            raise ConfigError(
                f"Argument 'k' must contain only positive integers, but got {value!r} in {k!r}"
            )
        checked.add(as_int)
    return tuple(sorted(v for v in checked if v <= num_classes))


def _check_n_bins(n_bins: object) -> int:
    value = _as_int(n_bins)
    if value is None or value < 1:
        raise ConfigError(f"Argument 'n_bins' must be a positive integer, but got {n_bins!r}")
    return value


def _class_names(classes: Sequence[str] | None, num_classes: int | None) -> tuple[str, ...]:
    """Validate class names; ``num_classes=None`` only requires at least one name."""
    if classes is None:
        return tuple(str(i) for i in range(num_classes or 0))
    if num_classes is None and isinstance(classes, Sequence) and len(classes) == 0:
        raise ConfigError("Argument 'classes' must name at least one class, but got ()")
    return class_names(classes, num_classes, distinct=True)


def _safe_divide(numerator: torch.Tensor, denominator: torch.Tensor) -> torch.Tensor:
    """Element-wise ``numerator / denominator`` in float64, with ``0 / 0 := 0.0``."""
    num = numerator.to(torch.float64)
    den = denominator.to(torch.float64)
    return torch.where(den > 0, num / den.clamp(min=1.0), torch.zeros_like(num))


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
    c = _check_num_classes(num_classes)
    truth = _labels(y_true, "y_true", c)
    pred = _labels(y_pred, "y_pred", c).to(truth.device)
    if truth.shape != pred.shape:
        raise ConfigError(
            f"Arguments 'y_true' and 'y_pred' must have the same length, "
            f"but got {truth.shape[0]} and {pred.shape[0]}"
        )
    # One bincount over flat (row, column) indices instead of a Python loop.
    flat = truth * c + pred
    return torch.bincount(flat, minlength=c * c).reshape(c, c)


# --------------------------------------------------------------------------- #
# probability-based metrics
# --------------------------------------------------------------------------- #


def negative_log_likelihood(probs: ArrayLike, y_true: ArrayLike, *, eps: float = _NLL_EPS) -> float:
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
    clamp = _as_real(eps)
    if clamp is None or not 0.0 < clamp < 1.0:
        raise ConfigError(f"Argument 'eps' must be a number in (0, 1), but got {eps!r}")
    p, y = _probs_and_labels(probs, y_true)
    p_true = p.gather(1, y.unsqueeze(1)).squeeze(1)  # (N,)
    return float(-p_true.clamp(min=clamp).log().mean())


def top_k_accuracy(
    probs: ArrayLike, y_true: ArrayLike, *, k: int | Sequence[int] = _DEFAULT_TOP_K
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
    p, y = _probs_and_labels(probs, y_true)
    ks = _top_k_values(k, p.shape[1])
    p_true = p.gather(1, y.unsqueeze(1))  # (N, 1)
    rank = (p > p_true).sum(dim=1)  # (N,) classes ranked above the true one
    n = y.shape[0]
    return {kk: int((rank < kk).sum()) / n for kk in ks}


@dataclass(frozen=True, slots=True, eq=False)
class CalibrationBins:
    """Per-bin statistics of confidence versus accuracy, for ECE and reliability plots.

    Built by :func:`calibration_bins`. A sample's *confidence* is its largest class
    probability and it is *correct* when that class (the arg-max) is the true one.
    Bin ``b`` holds the samples with ``edges[b] < confidence <= edges[b + 1]``
    (the first bin also holds confidence 0). Instances compare by identity.

    Attributes
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
    bins = _check_n_bins(n_bins)
    p, y = _probs_and_labels(probs, y_true)
    pred = p.argmax(dim=1)  # (N,)
    conf = p.gather(1, pred.unsqueeze(1)).squeeze(1).clamp(0.0, 1.0)  # (N,)
    correct = (pred == y).to(torch.float64)  # (N,)
    edges = torch.linspace(0.0, 1.0, bins + 1, dtype=torch.float64)
    # right=False puts x into bin b when edges[b] < x <= edges[b + 1].
    index = torch.bucketize(conf, edges[1:-1], right=False)  # (N,)
    count = torch.bincount(index, minlength=bins)
    conf_sum = torch.bincount(index, weights=conf, minlength=bins)
    correct_sum = torch.bincount(index, weights=correct, minlength=bins)
    nan = torch.full((bins,), math.nan, dtype=torch.float64)
    filled = count > 0
    return CalibrationBins(
        edges=edges,
        confidence=torch.where(filled, conf_sum / count.clamp(min=1), nan),
        accuracy=torch.where(filled, correct_sum / count.clamp(min=1), nan),
        count=count,
    )


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


# --------------------------------------------------------------------------- #
# report
# --------------------------------------------------------------------------- #


def _optional_fraction(value: object, name: str) -> float | None:
    if value is None:
        return None
    number = _as_real(value)
    if number is None:
        raise ConfigError(f"Argument {name!r} must be a number or None, but got {value!r}")
    if not 0.0 <= number <= 1.0:
        raise ConfigError(f"Argument {name!r} must be in [0, 1], but got {number}")
    return number


@dataclass(frozen=True, slots=True, eq=False)
class Report:
    """An evaluation summary: one confusion matrix plus optional probability metrics.

    Build one with :meth:`from_probabilities` (all metrics) or
    :meth:`from_predictions` (hard labels only; then ``nll``, ``top_k_accuracy``
    and ``ece`` are None). Every count-based property is derived from
    :attr:`confusion_matrix`; ``0 / 0`` is defined as ``0.0``. Instances compare
    by identity; compare :meth:`to_dict` results for value equality.

    Parameters
    ----------
    confusion_matrix : torch.Tensor
        Integer tensor of shape ``(C, C)``, rows = true class, columns = predicted
        class, at least one sample. Stored as an ``int64`` CPU copy; do not modify
        it in place.
    classes : tuple of str
        One distinct name per class, in label order.
    nll : float or None, default=None
        Mean negative log-likelihood (see :func:`negative_log_likelihood`).
    top_k_accuracy : mapping of int to float or None, default=None
        ``{k: accuracy}`` (see :func:`top_k_accuracy`); stored read-only, sorted by k.
    ece : float or None, default=None
        Expected calibration error (see :func:`expected_calibration_error`).

    Raises
    ------
    ConfigError
        If any field is malformed or inconsistent with the others.

    Examples
    --------
    >>> report = Report.from_predictions([0, 1, 1], [0, 1, 0], classes=["cat", "dog"])
    >>> report.accuracy
    0.6666666666666666
    >>> report.precision.tolist()
    [1.0, 0.5]
    """

    confusion_matrix: torch.Tensor
    classes: tuple[str, ...]
    nll: float | None = None
    top_k_accuracy: Mapping[int, float] | None = None
    ece: float | None = None

    def __post_init__(self) -> None:
        cm = self.confusion_matrix
        if not isinstance(cm, torch.Tensor):
            raise ConfigError(
                f"Argument 'confusion_matrix' must be a torch.Tensor, but got {type(cm).__name__}"
            )
        if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or cm.shape[0] == 0:
            raise ConfigError(
                f"Argument 'confusion_matrix' must be a non-empty square (C, C) matrix, "
                f"but got shape {tuple(cm.shape)}"
            )
        if not _is_integer_dtype(cm):
            raise ConfigError(
                f"Argument 'confusion_matrix' must hold integer counts, but got dtype {cm.dtype}"
            )
        cm = cm.detach().to(device="cpu", dtype=torch.int64).clone()
        if int(cm.min()) < 0:
            raise ConfigError(
                f"Argument 'confusion_matrix' must hold non-negative counts, "
                f"but its smallest entry is {int(cm.min())}"
            )
        if int(cm.sum()) == 0:
            raise ConfigError(
                "Argument 'confusion_matrix' must count at least one sample, but it is all zeros"
            )
        object.__setattr__(self, "confusion_matrix", cm)
        object.__setattr__(self, "classes", _class_names(self.classes, cm.shape[0]))

        if self.nll is not None:
            nll = _as_real(self.nll)
            if nll is None or not (math.isfinite(nll) and nll >= 0.0):
                raise ConfigError(
                    f"Argument 'nll' must be a finite non-negative number or None, "
                    f"but got {self.nll!r}"
                )
            object.__setattr__(self, "nll", nll)
        object.__setattr__(self, "ece", _optional_fraction(self.ece, "ece"))

        if self.top_k_accuracy is not None:
            if not isinstance(self.top_k_accuracy, Mapping):
                raise ConfigError(
                    f"Argument 'top_k_accuracy' must be a mapping {{k: accuracy}} or None, "
                    f"but got {self.top_k_accuracy!r}"
                )
            topk: dict[int, float] = {}
            for k in sorted(self.top_k_accuracy):
                as_k = _as_int(k)
                if as_k is None or not 1 <= as_k <= cm.shape[0]:
                    raise ConfigError(
                        f"Argument 'top_k_accuracy' must have integer keys in "
                        f"[1, {cm.shape[0]}], but got key {k!r}"
                    )
                value = _optional_fraction(self.top_k_accuracy[k], f"top_k_accuracy[{k}]")
                if value is None:
                    raise ConfigError(
                        f"Argument 'top_k_accuracy' must map to numbers, but key {k} maps to None"
                    )
                topk[as_k] = value
            object.__setattr__(self, "top_k_accuracy", MappingProxyType(topk))

    # ----------------------------------------------------------------- builders

    @classmethod
    def from_probabilities(
        cls,
        probs: ArrayLike,
        y_true: ArrayLike,
        *,
        classes: Sequence[str] | None = None,
        top_k: int | Sequence[int] = _DEFAULT_TOP_K,
        n_bins: int = 15,
    ) -> Report:
        """Evaluate class probabilities: arg-max predictions plus NLL, top-k and ECE.

        Parameters
        ----------
        probs : tensor, ndarray or nested sequence, shape (N, C)
            Class probabilities, e.g. ``torch.softmax(logits, dim=1)``; every row must
            sum to 1 (within ``1e-2``). ``N`` must be at least 1.
        y_true : tensor, ndarray or sequence of int, shape (N,)
            True class labels in ``[0, C)``.
        classes : sequence of str, optional
            Names of the ``C`` classes; default ``"0"``, ``"1"``, ...
        top_k : int or sequence of int, default=(1, 3, 5)
            The ``k`` values for top-k accuracy; values above ``C`` are dropped.
        n_bins : int, default=15
            Number of equal-width bins for the expected calibration error.

        Returns
        -------
        Report

        Raises
        ------
        ConfigError
            If any argument is invalid.
        """
        p, y = _probs_and_labels(probs, y_true)
        num_classes = p.shape[1]
        names = _class_names(classes, num_classes)
        ks = _top_k_values(top_k, num_classes)
        bins = _check_n_bins(n_bins)
        pred = p.argmax(dim=1)
        return cls(
            confusion_matrix=confusion_matrix(y, pred, num_classes=num_classes),
            classes=names,
            nll=negative_log_likelihood(p, y),
            top_k_accuracy=top_k_accuracy(p, y, k=ks) if ks else {},
            ece=expected_calibration_error(p, y, n_bins=bins),
        )

    @classmethod
    def from_predictions(
        cls,
        y_pred: ArrayLike,
        y_true: ArrayLike,
        *,
        classes: Sequence[str] | None = None,
        num_classes: int | None = None,
    ) -> Report:
        """Evaluate hard predictions; probability-based metrics are left as None.

        Parameters
        ----------
        y_pred : tensor, ndarray or sequence of int, shape (N,)
            Predicted class labels.
        y_true : tensor, ndarray or sequence of int, shape (N,)
            True class labels. ``N`` must be at least 1.
        classes : sequence of str, optional
            Names of the classes, in label order.
        num_classes : int, optional
            Number of classes ``C``. Defaults to ``len(classes)`` if given, else to
            one more than the largest label seen, which misses trailing classes
            that never occur; pass it when you know it.

        Returns
        -------
        Report

        Raises
        ------
        ConfigError
            If any argument is invalid, or ``num_classes`` and ``classes`` disagree.
        """
        if num_classes is not None:
            c = _check_num_classes(num_classes)
        elif classes is not None:
            c = len(_class_names(classes, None))
        else:
            truth = _labels(y_true, "y_true", None)
            pred = _labels(y_pred, "y_pred", None)
            if truth.numel() == 0 or pred.numel() == 0:
                raise ConfigError(
                    "Arguments 'y_true' and 'y_pred' must contain at least one sample, "
                    "but got an empty vector"
                )
            # Negative labels leave c at 1 so that confusion_matrix reports the range.
            c = max(int(truth.max()), int(pred.max()), 0) + 1
        names = _class_names(classes, c)
        cm = confusion_matrix(y_true, y_pred, num_classes=c)
        if int(cm.sum()) == 0:
            raise ConfigError(
                "Arguments 'y_true' and 'y_pred' must contain at least one sample, "
                "but got empty vectors"
            )
        return cls(confusion_matrix=cm, classes=names)

    # ------------------------------------------------------------- count metrics

    @property
    def num_classes(self) -> int:
        """Number of classes ``C``."""
        return int(self.confusion_matrix.shape[0])

    @property
    def num_samples(self) -> int:
        """Number of evaluated samples ``N``."""
        return int(self.confusion_matrix.sum())

    @property
    def support(self) -> torch.Tensor:
        """``int64`` tensor ``(C,)``: number of samples of each true class (row sums)."""
        return self.confusion_matrix.sum(dim=1)

    @property
    def accuracy(self) -> float:
        """Fraction of samples on the diagonal of the confusion matrix."""
        return int(self.confusion_matrix.diagonal().sum()) / self.num_samples

    @property
    def precision(self) -> torch.Tensor:
        """``float64`` tensor ``(C,)``: ``TP / (TP + FP)`` per class, 0.0 if never predicted."""
        cm = self.confusion_matrix
        return _safe_divide(cm.diagonal(), cm.sum(dim=0))

    @property
    def recall(self) -> torch.Tensor:
        """``float64`` tensor ``(C,)``: ``TP / (TP + FN)`` per class, 0.0 if absent."""
        cm = self.confusion_matrix
        return _safe_divide(cm.diagonal(), cm.sum(dim=1))

    @property
    def f1(self) -> torch.Tensor:
        """``float64`` tensor ``(C,)``: harmonic mean of precision and recall per class.

        Computed as ``2 TP / (2 TP + FP + FN)``, which equals
        ``2 P R / (P + R)`` and is 0.0 when ``TP = 0``.
        """
        cm = self.confusion_matrix
        tp = cm.diagonal()
        return _safe_divide(2 * tp, cm.sum(dim=0) + cm.sum(dim=1))

    def _macro(self, values: torch.Tensor) -> float:
        return float(values.mean())

    def _weighted(self, values: torch.Tensor) -> float:
        return float((values * self.support.to(torch.float64)).sum()) / self.num_samples

    @property
    def macro_precision(self) -> float:
        """Unweighted mean of :attr:`precision` over all classes."""
        return self._macro(self.precision)

    @property
    def macro_recall(self) -> float:
        """Unweighted mean of :attr:`recall` over all classes."""
        return self._macro(self.recall)

    @property
    def macro_f1(self) -> float:
        """Unweighted mean of :attr:`f1` over all classes."""
        return self._macro(self.f1)

    @property
    def weighted_precision(self) -> float:
        """Mean of :attr:`precision` weighted by :attr:`support`."""
        return self._weighted(self.precision)

    @property
    def weighted_recall(self) -> float:
        """Mean of :attr:`recall` weighted by :attr:`support` (equals :attr:`accuracy`)."""
        return self._weighted(self.recall)

    @property
    def weighted_f1(self) -> float:
        """Mean of :attr:`f1` weighted by :attr:`support`."""
        return self._weighted(self.f1)

    # ---------------------------------------------------------------- exporting

    def to_dict(self) -> dict[str, Any]:
        """Return the report as JSON-serialisable built-in Python objects.

        Returns
        -------
        dict
            Keys ``"num_samples"``, ``"accuracy"``, ``"classes"`` (list of str),
            ``"confusion_matrix"`` (nested lists of int), ``"per_class"`` (class name
            to ``{"precision", "recall", "f1", "support"}``), ``"macro_avg"`` and
            ``"weighted_avg"`` (same keys, support = number of samples), ``"nll"``,
            ``"top_k_accuracy"`` (``{"1": ..., "3": ...}``: string keys, as JSON
            requires) and ``"ece"``. Rates are fractions in ``[0, 1]``; missing
            probability metrics are None.
        """
        precision = self.precision.tolist()
        recall = self.recall.tolist()
        f1 = self.f1.tolist()
        support = self.support.tolist()
        n = self.num_samples
        return {
            "num_samples": n,
            "accuracy": self.accuracy,
            "classes": list(self.classes),
            "confusion_matrix": self.confusion_matrix.tolist(),
            "per_class": {
                name: {
                    "precision": precision[i],
                    "recall": recall[i],
                    "f1": f1[i],
                    "support": support[i],
                }
                for i, name in enumerate(self.classes)
            },
            "macro_avg": {
                "precision": self.macro_precision,
                "recall": self.macro_recall,
                "f1": self.macro_f1,
                "support": n,
            },
            "weighted_avg": {
                "precision": self.weighted_precision,
                "recall": self.weighted_recall,
                "f1": self.weighted_f1,
                "support": n,
            },
            "nll": self.nll,
            "top_k_accuracy": (
                None
                if self.top_k_accuracy is None
                else {str(k): v for k, v in self.top_k_accuracy.items()}
            ),
            "ece": self.ece,
        }

    def to_json(self, *, indent: int | None = 2) -> str:
        """Return :meth:`to_dict` encoded as JSON.

        Parameters
        ----------
        indent : int or None, default=2
            Passed to :func:`json.dumps`; None gives a single line.

        Returns
        -------
        str
        """
        return json.dumps(self.to_dict(), indent=indent)

    def __str__(self) -> str:
        digits = 4
        extra: list[tuple[str, float]] = []
        if self.nll is not None:
            extra.append(("nll", self.nll))
        if self.top_k_accuracy is not None:
            extra.extend((f"top-{k} accuracy", v) for k, v in self.top_k_accuracy.items())
        if self.ece is not None:
            extra.append(("ece", self.ece))
        width = max(len(label) for label in (*self.classes, *_AVG_LABELS, *(e[0] for e in extra)))
        col = 10

        def row(label: str, values: Sequence[float | None], count: int) -> str:
            cells = "".join(" " * col if v is None else f"{v:>{col}.{digits}f}" for v in values)
            return f"{label:>{width}}{cells}{count:>{col}}"

        header = " " * width + "".join(
            f"{h:>{col}}" for h in ("precision", "recall", "f1-score", "support")
        )
        lines = [header, ""]
        precision, recall, f1 = self.precision.tolist(), self.recall.tolist(), self.f1.tolist()
        for i, (name, count) in enumerate(zip(self.classes, self.support.tolist(), strict=True)):
            lines.append(row(name, (precision[i], recall[i], f1[i]), count))
        n = self.num_samples
        lines += [
            "",
            row("accuracy", (None, None, self.accuracy), n),
            row("macro avg", (self.macro_precision, self.macro_recall, self.macro_f1), n),
            row(
                "weighted avg",
                (self.weighted_precision, self.weighted_recall, self.weighted_f1),
                n,
            ),
        ]
        if extra:
            lines.append("")
            lines += [f"{label:>{width}}{value:>{col}.{digits}f}" for label, value in extra]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"Report(accuracy={self.accuracy:.4f}, n={self.num_samples})"
