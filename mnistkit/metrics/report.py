"""The evaluation summary, :class:`Report`; see :mod:`mnistkit.metrics` for the conventions.

Import from :mod:`mnistkit.metrics`, which re-exports it. The metric functions it is made of
live in :mod:`mnistkit.metrics.functional`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import torch

from mnistkit._validation import as_real, check_int, check_optional_number, fail
from mnistkit.exceptions import ConfigError
from mnistkit.metrics import _checks, _format, _kernels
from mnistkit.metrics._checks import ArrayLike
from mnistkit.metrics.functional import DEFAULT_TOP_K, NLL_EPS, CalibrationBins
from mnistkit.metrics.stats import wilson_interval

#: The confidence level of :attr:`Report.accuracy_interval`.
ACCURACY_CONFIDENCE = 0.95

__all__ = ["Report"]


# --------------------------------------------------------------------------- #
# report
# --------------------------------------------------------------------------- #


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
        cm = _checks.count_matrix(self.confusion_matrix)
        object.__setattr__(self, "confusion_matrix", cm)
        object.__setattr__(self, "classes", _checks.classes(self.classes, cm.shape[0]))
        if self.nll is not None:
            nll = as_real(self.nll)
            if nll is None or not (math.isfinite(nll) and nll >= 0.0):
                raise fail("nll", self.nll, "a finite non-negative number or None")
            object.__setattr__(self, "nll", nll)
        object.__setattr__(self, "ece", check_optional_number(self.ece, "ece", low=0, high=1))
        if self.top_k_accuracy is not None:
            topk = _checks.top_k_scores(self.top_k_accuracy, cm.shape[0])
            object.__setattr__(self, "top_k_accuracy", MappingProxyType(topk))

    # ----------------------------------------------------------------- builders

    @classmethod
    def from_probabilities(
        cls,
        probs: ArrayLike,
        y_true: ArrayLike,
        *,
        classes: Sequence[str] | None = None,
        top_k: int | Sequence[int] = DEFAULT_TOP_K,
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
        p, y = _checks.probs_and_labels(probs, y_true)
        num_classes = p.shape[1]
        names = _checks.classes(classes, num_classes)
        ks = _checks.top_k_values(top_k, num_classes)
        bins = check_int(n_bins, "n_bins")
        # Everything below works on the checked tensors: no second pass over `probs`.
        return cls(
            confusion_matrix=_kernels.confusion_counts(y, p.argmax(dim=1), num_classes),
            classes=names,
            nll=_kernels.nll(p, y, NLL_EPS),
            top_k_accuracy=_kernels.top_k(p, y, ks),
            ece=CalibrationBins(*_kernels.calibration(p, y, bins)).ece,
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
        names: tuple[str, ...] | None = None
        if num_classes is not None:
            names = _checks.classes(classes, check_int(num_classes, "num_classes"))
        elif classes is not None:
            names = _checks.classes(classes, None)
        if names is not None:
            c = len(names)
            truth, pred = _checks.label_pair(y_true, y_pred, c)
        else:
            truth = _checks.labels(y_true, "y_true")
            pred = _checks.labels(y_pred, "y_pred").to(truth.device)
            if truth.numel() == 0 or pred.numel() == 0:
                raise ConfigError(
                    "Arguments 'y_true' and 'y_pred' must contain at least one sample, "
                    "but got an empty vector"
                )
            # Negative labels leave c at 1 so that the range check reports them.
            c = max(int(truth.max()), int(pred.max()), 0) + 1
            names = _checks.classes(None, c)
            _checks.label_range(truth, "y_true", c)
            _checks.label_range(pred, "y_pred", c)
            _checks.same_length(truth, pred)
        if truth.numel() == 0:
            raise ConfigError(
                "Arguments 'y_true' and 'y_pred' must contain at least one sample, "
                "but got empty vectors"
            )
        return cls(confusion_matrix=_kernels.confusion_counts(truth, pred, c), classes=names)

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
    def errors(self) -> int:
        """Number of misclassified samples (off the diagonal of the confusion matrix)."""
        return self.num_samples - int(self.confusion_matrix.diagonal().sum())

    @property
    def accuracy_interval(self) -> tuple[float, float]:
        """``(low, high)``: the 95% Wilson score interval of :attr:`accuracy`.

        How far the accuracy on these samples may lie from the accuracy on the population
        they were drawn from; see :func:`~mnistkit.metrics.wilson_interval`, which gives
        other confidence levels.
        """
        correct = self.num_samples - self.errors
        return wilson_interval(correct, self.num_samples, confidence=ACCURACY_CONFIDENCE)

    @property
    def precision(self) -> torch.Tensor:
        """``float64`` tensor ``(C,)``: ``TP / (TP + FP)`` per class, 0.0 if never predicted."""
        cm = self.confusion_matrix
        return _kernels.safe_divide(cm.diagonal(), cm.sum(dim=0))

    @property
    def recall(self) -> torch.Tensor:
        """``float64`` tensor ``(C,)``: ``TP / (TP + FN)`` per class, 0.0 if absent."""
        cm = self.confusion_matrix
        return _kernels.safe_divide(cm.diagonal(), cm.sum(dim=1))

    @property
    def f1(self) -> torch.Tensor:
        """``float64`` tensor ``(C,)``: harmonic mean of precision and recall per class.

        Computed as ``2 TP / (2 TP + FP + FN)``, which equals
        ``2 P R / (P + R)`` and is 0.0 when ``TP = 0``.
        """
        cm = self.confusion_matrix
        tp = cm.diagonal()
        return _kernels.safe_divide(2 * tp, cm.sum(dim=0) + cm.sum(dim=1))

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
            Keys ``"num_samples"``, ``"accuracy"``, ``"errors"`` (int),
            ``"accuracy_interval"`` (``{"confidence": 0.95, "method": "wilson", "low",
            "high"}``, see :attr:`accuracy_interval`), ``"classes"`` (list of str),
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
        low, high = self.accuracy_interval
        return {
            "num_samples": n,
            "accuracy": self.accuracy,
            "errors": self.errors,
            "accuracy_interval": {
                "confidence": ACCURACY_CONFIDENCE,
                "method": "wilson",
                "low": low,
                "high": high,
            },
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
            The JSON text.
        """
        return json.dumps(self.to_dict(), indent=indent)

    def __str__(self) -> str:
        """A classification-report table: per-class rows, averages, errors with the accuracy's
        95% interval, probability metrics."""
        return _format.report_table(self)

    def _repr_html_(self) -> str:
        """Jupyter's rich display: the table of :meth:`__str__` as HTML."""
        return _format.report_html(self)

    def __repr__(self) -> str:
        return f"Report(accuracy={self.accuracy:.4f}, n={self.num_samples})"
