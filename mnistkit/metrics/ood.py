"""Out-of-distribution scores: telling digits from pictures that are not digits.

Import from :mod:`mnistkit.metrics`, which re-exports every public name defined here.

A classifier trained on digits still names a digit for a shoe. :func:`ood_scores` turns a
model's logits into one score per image, higher for images that look like the training
data; :func:`ood_report` measures how well such scores separate a set of in-distribution
images (e.g. the MNIST test digits) from an out-of-distribution set (e.g. Fashion-MNIST);
:func:`threshold_for_recall` picks the rejection threshold that keeps a chosen share of
in-distribution images. Choose it on held-out validation digits, never on the test set.

Conventions
-----------
* Higher scores mean "more in-distribution", for every kind of score.
* In-distribution samples are the *positives*: the true-positive rate is the share of
  in-distribution samples kept, the false-positive rate the share of out-of-distribution
  samples kept.
* A sample is kept when its score is at least the threshold, rejected when below.

References
----------
* D. Hendrycks, K. Gimpel, "A baseline for detecting misclassified and
  out-of-distribution examples in neural networks", ICLR 2017 (maximum softmax
  probability, AUROC, AUPR).
* W. Liu, X. Wang, J. Owens, Y. Li, "Energy-based out-of-distribution detection",
  NeurIPS 2020 (the energy score).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

from mnistkit._validation import check_number, fail
from mnistkit.exceptions import ConfigError
from mnistkit.metrics import _checks, _format
from mnistkit.metrics._checks import ArrayLike

__all__ = [
    "OODReport",
    "RejectionThreshold",
    "ood_report",
    "ood_scores",
    "threshold_for_recall",
]

#: The kinds of score :func:`ood_scores` computes.
SCORE_KINDS = ("msp", "energy")
#: The true-positive rate of :attr:`OODReport.fpr_at_95_tpr`.
_TPR = 0.95


# --------------------------------------------------------------------------- #
# checks and kernels
# --------------------------------------------------------------------------- #


def _scores(values: ArrayLike, name: str) -> torch.Tensor:
    """A non-empty 1-D vector of finite scores, as float64 on the CPU."""
    t = _checks.to_tensor(values, name)
    if t.ndim != 1 or t.numel() == 0:
        raise ConfigError(
            f"Argument {name!r} must be a non-empty 1-D vector of scores, "
            f"but got shape {tuple(t.shape)}"
        )
    if t.dtype == torch.bool or t.is_complex():
        raise ConfigError(f"Argument {name!r} must hold real scores, but got dtype {t.dtype}")
    t = t.to(device="cpu", dtype=torch.float64)
    if not bool(torch.isfinite(t).all()):
        raise ConfigError(f"Argument {name!r} must be finite, but it contains NaN or inf")
    return t


def _share(value: object, name: str) -> float:
    return check_number(value, name, low=0, high=1, low_open=True)


def _kept_count(n: int, share: float) -> int:
    """The smallest ``k`` with ``k / n >= share``, compared in floats as a rate would be."""
    k = min(n, max(1, math.ceil(share * n)))
    while k > 1 and (k - 1) / n >= share:
        k -= 1
    while k < n and k / n < share:
        k += 1
    return k


def _threshold(scores: torch.Tensor, keep: float) -> float:
    """The largest ``t`` with ``mean(scores >= t) >= keep``: the ``k``-th largest score."""
    k = _kept_count(scores.shape[0], keep)
    return float(torch.topk(scores, k).values[-1])


def _auroc(pos: torch.Tensor, neg: torch.Tensor) -> float:
    """``P(pos > neg) + P(pos == neg) / 2``, from the ranks of the pooled scores (Mann-Whitney)."""
    pooled = torch.cat([pos, neg])
    _, inverse, counts = torch.unique(pooled, return_inverse=True, return_counts=True)
    # tied scores share the mean of the ranks they span (ranks start at 1)
    last = counts.cumsum(0).to(torch.float64)
    mean_rank = last - (counts.to(torch.float64) - 1) / 2
    rank_sum = float(mean_rank[inverse[: pos.shape[0]]].sum())
    n_pos, n_neg = pos.shape[0], neg.shape[0]
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def _average_precision(pos: torch.Tensor, neg: torch.Tensor) -> float:
    """Area under the precision-recall step curve, one step per distinct score.

    ``sum_t (R_t - R_{t-1}) P_t`` over thresholds ``t`` from the highest score down, where
    ``P_t`` and ``R_t`` are precision and recall when keeping the scores ``>= t``; the
    definition of scikit-learn's ``average_precision_score`` (no interpolation).
    """
    pooled = torch.cat([pos, neg])
    is_pos = torch.cat(
        [torch.ones_like(pos, dtype=torch.int64), torch.zeros_like(neg, dtype=torch.int64)]
    )
    values, inverse = torch.unique(pooled, return_inverse=True)  # ascending
    size = values.shape[0]
    tp = torch.zeros(size, dtype=torch.int64).index_add_(0, inverse, is_pos)
    total = torch.zeros(size, dtype=torch.int64).index_add_(0, inverse, torch.ones_like(is_pos))
    # from the highest score down: what is kept at each distinct threshold
    tp_kept = tp.flip(0).cumsum(0).to(torch.float64)
    all_kept = total.flip(0).cumsum(0).to(torch.float64)
    recall = tp_kept / pos.shape[0]
    precision = tp_kept / all_kept
    steps = torch.diff(recall, prepend=torch.zeros(1, dtype=torch.float64))
    return float((steps * precision).sum())


# --------------------------------------------------------------------------- #
# public
# --------------------------------------------------------------------------- #


def ood_scores(logits: ArrayLike, *, kind: str = "msp", temperature: float = 1.0) -> torch.Tensor:
    """One in-distribution score per sample from a classifier's logits; higher = more typical.

    Parameters
    ----------
    logits : tensor, ndarray or nested sequence, shape (N, C)
        The model's outputs before the softmax.
    kind : {"msp", "energy"}, default="msp"
        ``"msp"``: the maximum softmax probability ``max_c softmax(logits / T)_c``, in
        ``(1/C, 1]`` (Hendrycks and Gimpel, 2017). ``"energy"``: the negative free energy
        ``T * logsumexp(logits / T)`` (Liu et al., 2020), i.e. minus the energy
        ``E = -T logsumexp(logits / T)``, so that higher again means in-distribution. The
        energy keeps the logits' scale, which the softmax discards, and usually separates
        better.
    temperature : float, default=1.0
        The temperature ``T > 0`` dividing the logits.

    Returns
    -------
    torch.Tensor
        ``float64`` vector ``(N,)`` on the CPU.

    Raises
    ------
    ConfigError
        If ``logits`` is not a finite ``(N, C)`` matrix, ``kind`` is unknown or
        ``temperature`` is not positive.

    Examples
    --------
    >>> import torch
    >>> logits = torch.tensor([[8.0, 0.0, 0.0], [1.0, 1.0, 0.9]])
    >>> ood_scores(logits).round(decimals=3).tolist()
    [0.999, 0.344]
    >>> ood_scores(logits, kind="energy").round(decimals=3).tolist()
    [8.001, 2.066]
    """
    t = _checks.to_tensor(logits, "logits")
    if t.ndim != 2 or t.shape[0] == 0 or t.shape[1] == 0:
        raise ConfigError(
            f"Argument 'logits' must be a non-empty (N, C) matrix, but got shape {tuple(t.shape)}"
        )
    if t.dtype == torch.bool or t.is_complex():
        raise ConfigError(f"Argument 'logits' must hold real numbers, but got dtype {t.dtype}")
    t = t.to(device="cpu", dtype=torch.float64)
    if not bool(torch.isfinite(t).all()):
        raise ConfigError("Argument 'logits' must be finite, but it contains NaN or inf")
    if kind not in SCORE_KINDS:
        raise fail("kind", kind, "one of 'msp', 'energy'")
    temp = check_number(temperature, "temperature", low=0, low_open=True)
    scaled = t / temp  # (N, C)
    if kind == "msp":
        return torch.softmax(scaled, dim=1).amax(dim=1)
    return temp * torch.logsumexp(scaled, dim=1)


def threshold_for_recall(in_scores: ArrayLike, *, keep: float = 0.99) -> float:
    """The rejection threshold that keeps a share ``keep`` of in-distribution samples.

    Returns the largest ``t`` such that at least ``keep`` of ``in_scores`` are ``>= t``:
    the ``ceil(keep * N)``-th largest score. Reject a new sample when its score is below
    ``t``. Choose ``t`` on held-out in-distribution samples (validation digits); on new
    samples from the same distribution the share kept is then ``keep`` up to sampling
    noise (and ties).

    Parameters
    ----------
    in_scores : tensor, ndarray or sequence of float, shape (N,)
        Scores of in-distribution samples (from :func:`ood_scores`).
    keep : float, default=0.99
        Share of in-distribution samples to keep, in ``(0, 1]``.

    Returns
    -------
    float
        The threshold, one of the scores.

    Raises
    ------
    ConfigError
        If the scores are not a non-empty finite vector or ``keep`` is not in ``(0, 1]``.

    Examples
    --------
    >>> threshold_for_recall([0.1, 0.5, 0.9, 0.7], keep=0.75)
    0.5
    """
    share = _share(keep, "keep")
    return _threshold(_scores(in_scores, "in_scores"), share)


@dataclass(frozen=True, slots=True, eq=False)
class OODReport:
    """How well scores separate in-distribution from out-of-distribution samples.

    Built by :func:`ood_report`; see :mod:`mnistkit.metrics.ood` for the conventions
    (in-distribution = positive, higher score = more in-distribution).

    Parameters
    ----------
    num_in, num_out : int
        Numbers of in- and out-of-distribution samples.
    auroc : float
        Area under the ROC curve: the probability that a random in-distribution sample
        scores higher than a random out-of-distribution one, ties counting half. 0.5 is
        chance, 1.0 perfect separation.
    aupr_in : float
        Average precision with in-distribution samples as positives (AUPR-In).
    aupr_out : float
        Average precision with out-of-distribution samples as positives, scores negated
        (AUPR-Out).
    fpr_at_95_tpr : float
        Share of out-of-distribution samples kept at the threshold that keeps 95% of the
        in-distribution ones (:func:`threshold_for_recall` with ``keep=0.95``); lower is
        better.
    threshold : float or None, default=None
        A rejection threshold the two rates below were measured at.
    kept_in : float or None, default=None
        Share of in-distribution samples with a score ``>= threshold``.
    rejected_out : float or None, default=None
        Share of out-of-distribution samples with a score ``< threshold``.
    """

    num_in: int
    num_out: int
    auroc: float
    aupr_in: float
    aupr_out: float
    fpr_at_95_tpr: float
    threshold: float | None = None
    kept_in: float | None = None
    rejected_out: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-serialisable built-in objects.

        Returns
        -------
        dict
            One key per field; the threshold and its two rates are None when the report
            was made without a threshold.
        """
        return {
            "num_in": self.num_in,
            "num_out": self.num_out,
            "auroc": self.auroc,
            "aupr_in": self.aupr_in,
            "aupr_out": self.aupr_out,
            "fpr_at_95_tpr": self.fpr_at_95_tpr,
            "threshold": self.threshold,
            "kept_in": self.kept_in,
            "rejected_out": self.rejected_out,
        }

    def __str__(self) -> str:
        """One line per measure."""
        return _format.ood_table(self)

    def _repr_html_(self) -> str:
        """Jupyter's rich display: the table of :meth:`__str__` as HTML."""
        return _format.ood_html(self)

    def __repr__(self) -> str:
        return (
            f"OODReport(auroc={self.auroc:.4f}, fpr_at_95_tpr={self.fpr_at_95_tpr:.4f}, "
            f"n_in={self.num_in}, n_out={self.num_out})"
        )


def ood_report(
    in_scores: ArrayLike, out_scores: ArrayLike, *, threshold: float | None = None
) -> OODReport:
    """Measure how well scores separate in-distribution from out-of-distribution samples.

    Parameters
    ----------
    in_scores : tensor, ndarray or sequence of float, shape (N_in,)
        Scores of in-distribution samples, e.g. :func:`ood_scores` on the test digits.
    out_scores : tensor, ndarray or sequence of float, shape (N_out,)
        Scores of out-of-distribution samples, e.g. on Fashion-MNIST.
    threshold : float, optional
        A rejection threshold, e.g. from :func:`threshold_for_recall` on validation
        digits; the report then also gives the share of each set it keeps or rejects.

    Returns
    -------
    OODReport
        AUROC, AUPR-In, AUPR-Out and FPR at 95% TPR, equal to scikit-learn's
        ``roc_auc_score``, ``average_precision_score`` (in-distribution as positive, then
        out-of-distribution as positive on negated scores) and ``roc_curve`` with the
        in-distribution samples labelled 1.

    Raises
    ------
    ConfigError
        If either set of scores is not a non-empty finite vector or ``threshold`` is not
        a finite number.

    Examples
    --------
    >>> report = ood_report([0.9, 0.8, 0.7], [0.75, 0.2])
    >>> round(report.auroc, 4)
    0.8333
    """
    pos = _scores(in_scores, "in_scores")
    neg = _scores(out_scores, "out_scores")
    cut = _threshold(pos, _TPR)
    t: float | None = None
    kept_in: float | None = None
    rejected_out: float | None = None
    if threshold is not None:
        t = check_number(threshold, "threshold")
        kept_in = float((pos >= t).to(torch.float64).mean())
        rejected_out = float((neg < t).to(torch.float64).mean())
    return OODReport(
        num_in=int(pos.shape[0]),
        num_out=int(neg.shape[0]),
        auroc=_auroc(pos, neg),
        aupr_in=_average_precision(pos, neg),
        aupr_out=_average_precision(-neg, -pos),
        fpr_at_95_tpr=float((neg >= cut).to(torch.float64).mean()),
        threshold=t,
        kept_in=kept_in,
        rejected_out=rejected_out,
    )


@dataclass(frozen=True, slots=True)
class RejectionThreshold:
    """When a classifier's answer is "not a digit": a kind of score and a threshold.

    An image whose score (:func:`ood_scores` of the model's logits, with :attr:`score`
    and :attr:`temperature`) is below :attr:`threshold` is rejected. Made by
    :meth:`from_scores` on held-out in-distribution images, so that a share :attr:`keep`
    of such images is kept; ``mnistkit train`` stores one in the model file when it has a
    validation split (:attr:`ModelMetadata.rejection
    <mnistkit.checkpoints.ModelMetadata>`), and :func:`mnistkit.inference.predict` and
    ``mnistkit predict --reject`` apply it.

    Parameters
    ----------
    threshold : float
        Scores below it are rejected.
    score : {"msp", "energy"}, default="energy"
        The kind of score (see :func:`ood_scores`).
    temperature : float, default=1.0
        The temperature of the score.
    keep : float, default=0.99
        The share of in-distribution images it was chosen to keep, in ``(0, 1]``.
    chosen_on : str, default=""
        Which images it was chosen on, in words, e.g. ``"mnist validation split
        (val_fraction 0.1, seed 0)"``.
    num_images : int, default=0
        How many images that was (0: not recorded).

    Raises
    ------
    ConfigError
        For a threshold that is not a finite number, an unknown score, a temperature that
        is not positive or a ``keep`` outside ``(0, 1]``.

    Examples
    --------
    >>> import torch
    >>> rule = RejectionThreshold(threshold=5.0)
    >>> rule.rejects(torch.tensor([[9.0, 0.0], [1.0, 1.0]])).tolist()
    [False, True]
    """

    threshold: float
    score: str = "energy"
    temperature: float = 1.0
    keep: float = 0.99
    chosen_on: str = ""
    num_images: int = 0

    def __post_init__(self) -> None:
        who = "RejectionThreshold"
        object.__setattr__(self, "threshold", check_number(self.threshold, "threshold", who=who))
        if self.score not in SCORE_KINDS:
            raise fail("score", self.score, "one of 'msp', 'energy'", who=who)
        temperature = check_number(self.temperature, "temperature", low=0, low_open=True, who=who)
        object.__setattr__(self, "temperature", temperature)
        keep = check_number(self.keep, "keep", low=0, high=1, low_open=True, who=who)
        object.__setattr__(self, "keep", keep)
        if not isinstance(self.chosen_on, str):
            raise fail("chosen_on", self.chosen_on, "a str", who=who)
        if isinstance(self.num_images, bool) or not isinstance(self.num_images, int):
            raise fail("num_images", self.num_images, "an integer >= 0", who=who)
        if self.num_images < 0:
            raise fail("num_images", self.num_images, "an integer >= 0", who=who)

    @classmethod
    def from_scores(
        cls,
        in_scores: ArrayLike,
        *,
        keep: float = 0.99,
        score: str = "energy",
        temperature: float = 1.0,
        chosen_on: str = "",
    ) -> RejectionThreshold:
        """The threshold keeping a share ``keep`` of in-distribution images.

        Parameters
        ----------
        in_scores : tensor, ndarray or sequence of float, shape (N,)
            Scores of held-out in-distribution images (validation digits), computed with
            ``score`` and ``temperature``.
        keep : float, default=0.99
            Share to keep, in ``(0, 1]`` (see :func:`threshold_for_recall`).
        score : {"msp", "energy"}, default="energy"
            The kind of the scores.
        temperature : float, default=1.0
            Their temperature.
        chosen_on : str, default=""
            Which images they are, in words.

        Returns
        -------
        RejectionThreshold
            With ``num_images`` the number of scores.
        """
        values = _scores(in_scores, "in_scores")
        return cls(
            threshold=_threshold(values, _share(keep, "keep")),
            score=score,
            temperature=temperature,
            keep=keep,
            chosen_on=chosen_on,
            num_images=int(values.shape[0]),
        )

    def scores(self, logits: ArrayLike) -> torch.Tensor:
        """The scores of this kind for a model's logits (:func:`ood_scores`).

        Parameters
        ----------
        logits : tensor, ndarray or nested sequence, shape (N, C)
            A model's outputs before the softmax.

        Returns
        -------
        torch.Tensor
            ``float64`` vector ``(N,)`` on the CPU.
        """
        return ood_scores(logits, kind=self.score, temperature=self.temperature)

    def rejects(self, logits: ArrayLike) -> torch.Tensor:
        """Which images are rejected: score below the threshold.

        Parameters
        ----------
        logits : tensor, ndarray or nested sequence, shape (N, C)
            A model's outputs before the softmax.

        Returns
        -------
        torch.Tensor
            bool vector ``(N,)`` on the CPU, True where rejected.
        """
        return self.scores(logits) < self.threshold

    def to_dict(self) -> dict[str, Any]:
        """The rule as JSON-serialisable built-in objects (what a model file stores).

        Returns
        -------
        dict
            One key per field.
        """
        return {
            "threshold": self.threshold,
            "score": self.score,
            "temperature": self.temperature,
            "keep": self.keep,
            "chosen_on": self.chosen_on,
            "num_images": self.num_images,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RejectionThreshold:
        """Read back what :meth:`to_dict` wrote.

        Parameters
        ----------
        data : mapping
            Must hold ``threshold``; the other keys are optional.

        Returns
        -------
        RejectionThreshold

        Raises
        ------
        ConfigError
            For a mapping without a threshold, with unknown keys or with invalid values.
        """
        if not isinstance(data, Mapping) or "threshold" not in data:
            raise ConfigError(
                f"A rejection threshold must be a mapping with a 'threshold' key, but got {data!r}"
            )
        unknown = sorted(set(data) - set(cls.__slots__))
        if unknown:
            raise ConfigError(
                f"A rejection threshold has unknown keys {unknown}; expected some of "
                f"{', '.join(cls.__slots__)}"
            )
        return cls(**dict(data))

    def __str__(self) -> str:
        """The rule in words."""
        where = f": {self.chosen_on}" if self.chosen_on else ""
        temp = f" at temperature {self.temperature:g}" if self.temperature != 1.0 else ""
        return (
            f"not a digit when the {self.score} score{temp} is below {self.threshold:.4g} "
            f"(it keeps {self.keep:.1%} of the images it was chosen on{where})"
        )
