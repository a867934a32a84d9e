"""Metric kernels (private): arithmetic on tensors that are already checked.

The public functions of :mod:`mnistkit.metrics` check their arguments with
:mod:`mnistkit.metrics._checks` and then call these, which check nothing: labels are
``int64`` vectors in ``[0, C)``, probabilities a float64 ``(N, C)`` CPU matrix whose
rows sum to one, and ``N`` matches between them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch

__all__ = ["calibration", "confusion_counts", "nll", "safe_divide", "top_k"]


def confusion_counts(truth: torch.Tensor, pred: torch.Tensor, num_classes: int) -> torch.Tensor:
    """``int64`` ``(C, C)`` counts of (true, predicted) pairs, on the labels' device."""
    # One bincount over flat (row, column) indices instead of a Python loop.
    flat = truth * num_classes + pred
    return torch.bincount(flat, minlength=num_classes * num_classes).reshape(
        num_classes, num_classes
    )


def nll(p: torch.Tensor, y: torch.Tensor, eps: float) -> float:
    """Mean of ``-log(max(p[i, y_i], eps))`` over the samples."""
    p_true = p.gather(1, y.unsqueeze(1)).squeeze(1)  # (N,)
    return float(-p_true.clamp(min=eps).log().mean())


def top_k(p: torch.Tensor, y: torch.Tensor, ks: Iterable[int]) -> dict[int, float]:
    """``{k: fraction of samples with fewer than k classes strictly more probable than y}``."""
    p_true = p.gather(1, y.unsqueeze(1))  # (N, 1)
    rank = (p > p_true).sum(dim=1)  # (N,) classes ranked above the true one
    n = y.shape[0]
    return {k: int((rank < k).sum()) / n for k in ks}


def calibration(
    p: torch.Tensor, y: torch.Tensor, n_bins: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Equal-width confidence bins: ``(edges, confidence, accuracy, count)``.

    In the order of the fields of :class:`~mnistkit.metrics.CalibrationBins`; the mean
    confidence and accuracy of an empty bin are NaN.
    """
    pred = p.argmax(dim=1)  # (N,)
    conf = p.gather(1, pred.unsqueeze(1)).squeeze(1).clamp(0.0, 1.0)  # (N,)
    correct = (pred == y).to(torch.float64)  # (N,)
    edges = torch.linspace(0.0, 1.0, n_bins + 1, dtype=torch.float64)
    # right=False puts x into bin b when edges[b] < x <= edges[b + 1].
    index = torch.bucketize(conf, edges[1:-1], right=False)  # (N,)
    count = torch.bincount(index, minlength=n_bins)
    conf_sum = torch.bincount(index, weights=conf, minlength=n_bins)
    correct_sum = torch.bincount(index, weights=correct, minlength=n_bins)
    nan = torch.full((n_bins,), math.nan, dtype=torch.float64)
    filled = count > 0
    confidence = torch.where(filled, conf_sum / count.clamp(min=1), nan)
    accuracy = torch.where(filled, correct_sum / count.clamp(min=1), nan)
    return edges, confidence, accuracy, count


def safe_divide(numerator: torch.Tensor, denominator: torch.Tensor) -> torch.Tensor:
    """Element-wise ``numerator / denominator`` in float64, with ``0 / 0 := 0.0``."""
    num = numerator.to(torch.float64)
    den = denominator.to(torch.float64)
    return torch.where(den > 0, num / den.clamp(min=1.0), torch.zeros_like(num))
