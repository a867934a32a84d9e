"""How sure an accuracy is: confidence intervals and a paired comparison of models.

Import from :mod:`mnistkit.metrics`, which re-exports every public name defined here.

On MNIST's 10,000 test images one error is 0.01 points of accuracy, so two models a few
tenths of a point apart may not differ at all. This module answers two questions:

* How precise is one accuracy? :func:`wilson_interval` gives the Wilson score interval,
  which :class:`~mnistkit.metrics.Report` shows beside its accuracy.
* Is model A better than model B on the *same* images? :func:`compare` counts the images
  on which they disagree, tests them with the exact McNemar test
  (:func:`mcnemar_p_value`) and gives an interval for the accuracy difference
  (:func:`paired_difference_interval`). Evaluating both models on the same images makes
  this paired comparison much sharper than comparing two separate intervals: only the
  images where exactly one model is right carry information about the difference.

Everything here is plain arithmetic on counts (:mod:`math` and :mod:`statistics` from the
standard library); nothing needs SciPy.

References
----------
* E. B. Wilson (1927), "Probable inference, the law of succession, and statistical
  inference", J. Am. Stat. Assoc. 22 (1927), 209-212.
* Q. McNemar (1947), "Note on the sampling error of the difference between correlated
  proportions or percentages", Psychometrika 12 (1947), 153-157.
* R. G. Newcombe, "Improved confidence intervals for the difference between
  binomial proportions based on paired data", Stat. Med. 17 (1998), 2635-2650
  (method 10).
* M. W. Fagerland, S. Lydersen, P. Laake, "Statistical Analysis of Contingency
  Tables", CRC Press (2017), chapter 8 (the Newcombe square-and-add interval).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import torch

from mnistkit._validation import as_int, check_number
from mnistkit.exceptions import ConfigError
from mnistkit.metrics import _checks, _format
from mnistkit.metrics._checks import ArrayLike

__all__ = [
    "Comparison",
    "PairedComparison",
    "compare",
    "mcnemar_p_value",
    "paired_difference_interval",
    "wilson_interval",
]

#: The confidence level used unless one is asked for.
DEFAULT_CONFIDENCE = 0.95


# --------------------------------------------------------------------------- #
# argument checks and kernels
# --------------------------------------------------------------------------- #


def _count(value: object, name: str) -> int:
    number = as_int(value)
    if number is None or number < 0:
        raise ConfigError(f"Argument {name!r} must be a non-negative integer, but got {value!r}")
    return number


def _confidence(value: object) -> float:
    return check_number(value, "confidence", low=0, high=1, low_open=True, high_open=True)


def _z(confidence: float) -> float:
    """The two-sided normal quantile: 1.959964 for 95%."""
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def _wilson(successes: int, n: int, z: float) -> tuple[float, float]:
    """The Wilson score interval of ``successes / n`` (``n >= 1``), clamped to [0, 1]."""
    p = successes / n
    z2 = z * z
    denominator = 1.0 + z2 / n
    centre = (p + z2 / (2 * n)) / denominator
    half = z * math.sqrt(p * (1.0 - p) / n + z2 / (4 * n * n)) / denominator
    # at 0 or n successes one bound is exactly 0 or 1; rounding would leave a hair's width
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return low, high


def _binomial_half_tail(k: int, n: int) -> float:
    """``P(X <= k)`` for ``X ~ Binomial(n, 1/2)`` and ``k <= n / 2``, accurate for large ``n``.

    The terms are summed from the largest, ``P(X = k)``, downwards through the ratio
    ``P(X = i - 1) / P(X = i) = i / (n - i + 1)``, and only ``P(X = k)`` is formed in log
    space (from the exact integer ``comb(n, k)``), so nothing underflows before it stops
    mattering.
    """
    log_top = math.log(math.comb(n, k)) - n * math.log(2)
    total, term = 1.0, 1.0
    for i in range(k, 0, -1):
        term *= i / (n - i + 1)
        total += term
        if term < total * 1e-17:
            break
    return math.exp(log_top + math.log(total))


def _mcnemar(only_a: int, only_b: int) -> float:
    n = only_a + only_b
    if only_a == only_b:  # also covers n == 0: no discordant pair, no evidence
        return 1.0
    return min(1.0, 2.0 * _binomial_half_tail(min(only_a, only_b), n))


def _newcombe(
    both_right: int, only_a: int, only_b: int, both_wrong: int, z: float
) -> tuple[float, float]:
    n = both_right + only_a + only_b + both_wrong
    right_a, right_b = both_right + only_a, both_right + only_b
    p1, p2 = right_a / n, right_b / n
    l1, u1 = _wilson(right_a, n, z)
    l2, u2 = _wilson(right_b, n, z)
    # The correlation of the two accuracies (the phi coefficient of the 2x2 table), with
    # Newcombe's continuity correction of a positive numerator; 0 when a margin is empty.
    margins = right_a * (n - right_a) * right_b * (n - right_b)
    phi = 0.0
    if margins > 0:
        cross = both_right * both_wrong - only_a * only_b
        if cross > n / 2:
            phi = (cross - n / 2) / math.sqrt(margins)
        elif cross < 0:
            phi = cross / math.sqrt(margins)
    d = p1 - p2
    below = (p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2
    above = (u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2
    return max(-1.0, d - math.sqrt(max(below, 0.0))), min(1.0, d + math.sqrt(max(above, 0.0)))


# --------------------------------------------------------------------------- #
# public functions on counts
# --------------------------------------------------------------------------- #


def wilson_interval(
    successes: int, n: int, *, confidence: float = DEFAULT_CONFIDENCE
) -> tuple[float, float]:
    """Wilson score confidence interval for a proportion such as an accuracy.

    The set of proportions ``p`` that a two-sided score test at level ``1 - confidence``
    would not reject given ``successes`` out of ``n`` (Wilson, 1927). Unlike the textbook
    ``p ± z sqrt(p (1 - p) / n)`` it stays inside [0, 1] and does not shrink to a point
    when there are no errors (100% accuracy on 10,000 images gives 99.96-100%). It
    equals ``statsmodels.stats.proportion.proportion_confint(method="wilson")``.

    Parameters
    ----------
    successes : int
        Number of successes (correct predictions), ``0 <= successes <= n``.
    n : int
        Number of trials (evaluated samples), at least 1.
    confidence : float, default=0.95
        Confidence level in ``(0, 1)``.

    Returns
    -------
    tuple of float
        ``(low, high)``, fractions with ``0 <= low <= successes / n <= high <= 1``.

    Raises
    ------
    ConfigError
        If a count is not an integer, ``n < 1``, ``successes > n`` or ``confidence`` is
        not in ``(0, 1)``.

    Examples
    --------
    >>> low, high = wilson_interval(9936, 10_000)
    >>> f"{low:.4f} {high:.4f}"
    '0.9918 0.9950'
    """
    k, total = _count(successes, "successes"), _count(n, "n")
    if total < 1:
        raise ConfigError(f"Argument 'n' must be a positive integer, but got {n!r}")
    if k > total:
        raise ConfigError(
            f"Argument 'successes' must be at most n ({total}), but got {successes!r}"
        )
    return _wilson(k, total, _z(_confidence(confidence)))


def mcnemar_p_value(only_a: int, only_b: int) -> float:
    """Exact two-sided McNemar test of two classifiers evaluated on the same samples.

    Of the samples on which exactly one of the two classifiers is right, ``only_a`` favour
    A and ``only_b`` favour B. If both were equally accurate, each such sample would go
    either way with probability 1/2; the p-value is the two-sided binomial test of
    ``only_a`` out of ``only_a + only_b`` against 1/2 (McNemar, 1947), the exact form recommended
    for the small numbers of disagreements that good classifiers have. Samples on which
    both are right or both wrong carry no information about the difference and do not
    enter. The result equals ``scipy.stats.binomtest(only_a, only_a + only_b).pvalue``
    and ``statsmodels.stats.contingency_tables.mcnemar(table, exact=True).pvalue``.

    Parameters
    ----------
    only_a : int
        Number of samples that only A classifies correctly.
    only_b : int
        Number of samples that only B classifies correctly.

    Returns
    -------
    float
        The p-value in ``(0, 1]``; 1.0 when ``only_a == only_b`` (including no
        disagreement at all). Relative error below 1e-11 up to 10^5 disagreements; values
        below about 1e-308 round to 0.0.

    Raises
    ------
    ConfigError
        If a count is not a non-negative integer.

    Examples
    --------
    >>> round(mcnemar_p_value(12, 3), 4)
    0.0352
    """
    return _mcnemar(_count(only_a, "only_a"), _count(only_b, "only_b"))


def paired_difference_interval(
    both_right: int,
    only_a: int,
    only_b: int,
    both_wrong: int,
    *,
    confidence: float = DEFAULT_CONFIDENCE,
) -> tuple[float, float]:
    """Confidence interval for ``accuracy(A) - accuracy(B)`` measured on the same samples.

    Newcombe's hybrid score ("square-and-add") interval for the difference of two paired
    proportions, method 10 of Newcombe (1998), as in Fagerland et al. (2017, chapter 8):
    the Wilson intervals of the two accuracies are combined, allowing for their
    correlation through the phi coefficient of the 2x2 table. Its coverage stays close to
    the nominal level with few disagreements, where the Wald interval
    ``(b - c) / n ± z sqrt(...)`` is too narrow, and it never leaves ``[-1, 1]``.

    Parameters
    ----------
    both_right, only_a, only_b, both_wrong : int
        The 2x2 table of the ``n`` samples: both classifiers right, only A right, only B
        right, both wrong. ``n`` must be at least 1.
    confidence : float, default=0.95
        Confidence level in ``(0, 1)``.

    Returns
    -------
    tuple of float
        ``(low, high)`` around the observed difference ``(only_a - only_b) / n``.

    Raises
    ------
    ConfigError
        If a count is not a non-negative integer, all are zero, or ``confidence`` is not
        in ``(0, 1)``.

    Notes
    -----
    The interval and the exact test of :func:`mcnemar_p_value` are different methods;
    near the boundary one may exclude 0 while the other has ``p`` just above
    ``1 - confidence``. The verdict of :func:`compare` follows the test.

    Examples
    --------
    >>> low, high = paired_difference_interval(59, 6, 16, 80)
    >>> f"{low:.4f} {high:.4f}"
    '-0.1186 -0.0046'
    """
    table = (
        _count(both_right, "both_right"),
        _count(only_a, "only_a"),
        _count(only_b, "only_b"),
        _count(both_wrong, "both_wrong"),
    )
    if sum(table) == 0:
        raise ConfigError(
            "Arguments 'both_right', 'only_a', 'only_b' and 'both_wrong' must count at least "
            "one sample, but all four are 0"
        )
    return _newcombe(*table, _z(_confidence(confidence)))


# --------------------------------------------------------------------------- #
# comparing models
# --------------------------------------------------------------------------- #


def _interval_dict(low: float, high: float, confidence: float, method: str) -> dict[str, Any]:
    return {"confidence": confidence, "method": method, "low": low, "high": high}


@dataclass(frozen=True, slots=True, eq=False)
class PairedComparison:
    """Two classifiers on the same samples: their 2x2 table, the exact test, the difference.

    Built by :func:`compare`. ``a`` and ``b`` name the classifiers, in the order of the
    mapping given to :func:`compare`; differences are ``A - B``.

    Parameters
    ----------
    a, b : str
        Names of the two classifiers.
    both_right, only_a, only_b, both_wrong : int
        How many samples both classify correctly, only A, only B, neither.
    confidence : float, default=0.95
        Level of :attr:`difference_interval`; ``1 - confidence`` is the significance
        level of :attr:`verdict`.
    """

    a: str
    b: str
    both_right: int
    only_a: int
    only_b: int
    both_wrong: int
    confidence: float = DEFAULT_CONFIDENCE

    @property
    def num_samples(self) -> int:
        """Number of samples ``n``, the sum of the four counts."""
        return self.both_right + self.only_a + self.only_b + self.both_wrong

    @property
    def accuracy_a(self) -> float:
        """Accuracy of A: ``(both_right + only_a) / n``."""
        return (self.both_right + self.only_a) / self.num_samples

    @property
    def accuracy_b(self) -> float:
        """Accuracy of B: ``(both_right + only_b) / n``."""
        return (self.both_right + self.only_b) / self.num_samples

    @property
    def difference(self) -> float:
        """``accuracy_a - accuracy_b``, equal to ``(only_a - only_b) / n``."""
        return (self.only_a - self.only_b) / self.num_samples

    @property
    def difference_interval(self) -> tuple[float, float]:
        """``(low, high)``: :func:`paired_difference_interval` of the difference."""
        return _newcombe(
            self.both_right, self.only_a, self.only_b, self.both_wrong, _z(self.confidence)
        )

    @property
    def p_value(self) -> float:
        """The exact McNemar p-value (:func:`mcnemar_p_value`)."""
        return _mcnemar(self.only_a, self.only_b)

    @property
    def better(self) -> str | None:
        """The name of the significantly more accurate classifier, or None.

        Significant means :attr:`p_value` below ``1 - confidence``.
        """
        if self.p_value >= 1.0 - self.confidence:
            return None
        return self.a if self.only_a > self.only_b else self.b

    @property
    def verdict(self) -> str:
        """``"A is better (p = 0.003)"`` or ``"no evidence of a difference (p = 0.61)"``."""
        better = self.better
        head = "no evidence of a difference" if better is None else f"{better} is better"
        return f"{head} ({_format.format_p(self.p_value)})"

    def to_dict(self) -> dict[str, Any]:
        """The comparison as JSON-serialisable built-in objects.

        Returns
        -------
        dict
            Keys ``"a"``, ``"b"``, the four counts, ``"accuracy_a"``, ``"accuracy_b"``,
            ``"difference"`` (A - B), ``"difference_interval"`` (``{"confidence",
            "method", "low", "high"}``), ``"p_value"``, ``"test"``, ``"better"`` (a name or
            None) and ``"verdict"``.
        """
        low, high = self.difference_interval
        return {
            "a": self.a,
            "b": self.b,
            "both_right": self.both_right,
            "only_a": self.only_a,
            "only_b": self.only_b,
            "both_wrong": self.both_wrong,
            "accuracy_a": self.accuracy_a,
            "accuracy_b": self.accuracy_b,
            "difference": self.difference,
            "difference_interval": _interval_dict(low, high, self.confidence, "newcombe-10"),
            "p_value": self.p_value,
            "test": "mcnemar-exact",
            "better": self.better,
            "verdict": self.verdict,
        }

    def __repr__(self) -> str:
        return (
            f"PairedComparison(a={self.a!r}, b={self.b!r}, only_a={self.only_a}, "
            f"only_b={self.only_b}, p_value={self.p_value:.3g})"
        )


@dataclass(frozen=True, slots=True, eq=False)
class Comparison:
    """Several classifiers evaluated on the same samples, and every pair of them compared.

    Built by :func:`compare`. Instances compare by identity; compare :meth:`to_dict`
    results for value equality.

    Parameters
    ----------
    names : tuple of str
        The classifiers, in the order given to :func:`compare`.
    errors : tuple of int
        Each classifier's number of misclassified samples.
    num_samples : int
        Number of samples every classifier was evaluated on.
    pairs : tuple of PairedComparison
        One entry per pair ``(names[i], names[j])`` with ``i < j``, in that order.
    confidence : float, default=0.95
        Level of every interval; ``1 - confidence`` is the significance level of the
        verdicts.
    """

    names: tuple[str, ...]
    errors: tuple[int, ...]
    num_samples: int
    pairs: tuple[PairedComparison, ...]
    confidence: float = DEFAULT_CONFIDENCE

    @property
    def accuracies(self) -> dict[str, float]:
        """``{name: accuracy}``."""
        n = self.num_samples
        return {name: (n - e) / n for name, e in zip(self.names, self.errors, strict=True)}

    @property
    def accuracy_intervals(self) -> dict[str, tuple[float, float]]:
        """``{name: (low, high)}``: the Wilson interval (:func:`wilson_interval`) of each."""
        z, n = _z(self.confidence), self.num_samples
        return {name: _wilson(n - e, n, z) for name, e in zip(self.names, self.errors, strict=True)}

    def pair(self, a: str, b: str) -> PairedComparison:
        """The comparison of ``a`` with ``b``, in either order (differences are ``a - b``).

        Parameters
        ----------
        a, b : str
            Two different names of :attr:`names`.

        Returns
        -------
        PairedComparison
            With ``a`` as A and ``b`` as B: the counts are swapped if the pair was
            compared the other way round.

        Raises
        ------
        ConfigError
            If either name is not one of :attr:`names` or both are the same.
        """
        for name in (a, b):
            if name not in self.names:
                raise ConfigError(
                    f"Argument {name!r} must name a compared model, expected one of: "
                    f"{', '.join(self.names)}"
                )
        for pair in self.pairs:
            if (pair.a, pair.b) == (a, b):
                return pair
            if (pair.a, pair.b) == (b, a):
                return PairedComparison(
                    a, b, pair.both_right, pair.only_b, pair.only_a, pair.both_wrong,
                    pair.confidence,
                )  # fmt: skip
        raise ConfigError(f"Arguments 'a' and 'b' must name two different models, but got {a!r}")

    def to_dict(self) -> dict[str, Any]:
        """The comparison as JSON-serialisable built-in objects.

        Returns
        -------
        dict
            ``"confidence"``, ``"num_samples"``, ``"models"`` (name to ``{"accuracy",
            "errors", "accuracy_interval"}``, the interval as in
            :meth:`Report.to_dict <mnistkit.metrics.Report.to_dict>`) and ``"pairs"``
            (a list of :meth:`PairedComparison.to_dict`).
        """
        intervals = self.accuracy_intervals
        accuracies = self.accuracies
        return {
            "confidence": self.confidence,
            "num_samples": self.num_samples,
            "models": {
                name: {
                    "accuracy": accuracies[name],
                    "errors": errors,
                    "accuracy_interval": _interval_dict(
                        *intervals[name], self.confidence, "wilson"
                    ),
                }
                for name, errors in zip(self.names, self.errors, strict=True)
            },
            "pairs": [pair.to_dict() for pair in self.pairs],
        }

    def __str__(self) -> str:
        """Two text tables: each model's accuracy with its interval, then each pair."""
        return _format.comparison_table(self)

    def _repr_html_(self) -> str:
        """Jupyter's rich display: the tables of :meth:`__str__` as HTML."""
        return _format.comparison_html(self)

    def __repr__(self) -> str:
        return f"Comparison(names={self.names!r}, n={self.num_samples})"


def _correct(value: ArrayLike, name: str, truth: torch.Tensor) -> torch.Tensor:
    """Which samples ``value`` (predictions or per-class scores) classifies correctly."""
    t = _checks.to_tensor(value, f"predictions_or_probs[{name!r}]")
    label = f"predictions_or_probs[{name!r}]"
    if t.ndim == 2:
        if not (t.is_floating_point() and bool(torch.isfinite(t).all())) or t.shape[1] == 0:
            raise ConfigError(
                f"Argument {label} must be finite (N, C) probabilities or logits, "
                f"but got dtype {t.dtype} and shape {tuple(t.shape)}"
            )
        pred = t.argmax(dim=1)
    elif t.ndim == 1:
        pred = _checks.labels(t, label)
    else:
        raise ConfigError(
            f"Argument {label} must be (N,) predicted labels or (N, C) probabilities, "
            f"but got shape {tuple(t.shape)}"
        )
    if pred.shape[0] != truth.shape[0]:
        raise ConfigError(
            f"Argument {label} must have one row per label ({truth.shape[0]}), "
            f"but got {pred.shape[0]}"
        )
    return pred.to(truth.device) == truth


def compare(
    predictions_or_probs: Mapping[str, ArrayLike],
    labels: ArrayLike,
    *,
    confidence: float = DEFAULT_CONFIDENCE,
) -> Comparison:
    """Compare classifiers evaluated on the same samples, pair by pair.

    For each pair ``(A, B)`` (in mapping order) the samples are split into both right,
    only A right, only B right and both wrong. Only the two middle counts can tell the
    classifiers apart: the exact McNemar test (:func:`mcnemar_p_value`) asks whether they
    differ more than chance would, and Newcombe's interval
    (:func:`paired_difference_interval`) bounds the accuracy difference. The verdict says
    "A is better" when the p-value is below ``1 - confidence``, else "no evidence of a
    difference".

    With more than two classifiers each pair is tested on its own, with no correction for
    multiple comparisons: with many pairs, some will pass by chance.

    Parameters
    ----------
    predictions_or_probs : mapping of str to tensor, ndarray or sequence
        For each classifier, its name and either its predicted labels, shape ``(N,)``, or
        its class probabilities (or logits: only the arg-max is used), shape ``(N, C)``.
        At least two classifiers.
    labels : tensor, ndarray or sequence of int, shape (N,)
        True class labels of the ``N >= 1`` samples, the same for every classifier.
    confidence : float, default=0.95
        Level of the intervals; ``1 - confidence`` is the level of the test.

    Returns
    -------
    Comparison
        Each classifier's errors and every pair's 2x2 table, p-value, interval and
        verdict; ``str()`` of it is a table.

    Raises
    ------
    ConfigError
        If fewer than two classifiers are given, a name is not a non-empty string, or the
        shapes do not match the labels.

    Examples
    --------
    >>> labels = [0, 1, 1, 0, 1]
    >>> result = compare({"cnn": [0, 1, 1, 0, 1], "mlp": [0, 1, 0, 0, 0]}, labels)
    >>> result.pairs[0].only_a, result.pairs[0].only_b
    (2, 0)
    >>> result.pairs[0].verdict
    'no evidence of a difference (p = 0.5)'
    """
    level = _confidence(confidence)
    if not isinstance(predictions_or_probs, Mapping):
        raise ConfigError(
            "Argument 'predictions_or_probs' must be a mapping of names to predictions, "
            f"but got {type(predictions_or_probs).__name__}"
        )
    if len(predictions_or_probs) < 2:
        raise ConfigError(
            "Argument 'predictions_or_probs' must hold at least two classifiers, "
            f"but got {len(predictions_or_probs)}"
        )
    for key in predictions_or_probs:
        if not isinstance(key, str) or not key:
            raise ConfigError(
                f"Argument 'predictions_or_probs' must have non-empty str names, but got {key!r}"
            )
    truth = _checks.labels(labels, "labels")
    if truth.numel() == 0:
        raise ConfigError("Argument 'labels' must hold at least one label, but it is empty")
    names = tuple(predictions_or_probs)
    correct = {name: _correct(predictions_or_probs[name], name, truth) for name in names}
    n = int(truth.shape[0])
    pairs = []
    for a, b in itertools.combinations(names, 2):
        ra, rb = correct[a], correct[b]
        pairs.append(
            PairedComparison(
                a=a,
                b=b,
                both_right=int((ra & rb).sum()),
                only_a=int((ra & ~rb).sum()),
                only_b=int((~ra & rb).sum()),
                both_wrong=int((~ra & ~rb).sum()),
                confidence=level,
            )
        )
    return Comparison(
        names=names,
        errors=tuple(n - int(correct[name].sum()) for name in names),
        num_samples=n,
        pairs=tuple(pairs),
        confidence=level,
    )
