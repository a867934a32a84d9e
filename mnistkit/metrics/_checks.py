"""Checks of the metrics' inputs (private).

Each public function in :mod:`mnistkit.metrics` passes its arguments through these once and
hands the checked tensors to :mod:`mnistkit.metrics._kernels`, which checks nothing again.
Generic checks (integers, numbers, class names) are the shared ones of
:mod:`mnistkit._validation`; the ones here know about labels and probabilities.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt
import torch

from mnistkit._validation import as_int, check_number, class_names
from mnistkit.exceptions import ConfigError

__all__ = [
    "ArrayLike",
    "classes",
    "count_matrix",
    "label_pair",
    "label_range",
    "labels",
    "probabilities",
    "probs_and_labels",
    "same_length",
    "to_tensor",
    "top_k_scores",
    "top_k_values",
]

# Public, and documented, as mnistkit.metrics.ArrayLike.
ArrayLike: TypeAlias = "torch.Tensor | npt.NDArray[Any] | Sequence[Any]"

#: Rows of a probability matrix may deviate this much from summing to one.
#: Loose on purpose: half-precision softmax outputs must pass, logits must not.
_ROW_SUM_TOLERANCE = 1e-2
#: Probabilities may fall outside ``[0, 1]`` by this much (floating-point noise).
_RANGE_TOLERANCE = 1e-6


def to_tensor(x: ArrayLike, name: str) -> torch.Tensor:
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


def _is_integer_dtype(t: torch.Tensor) -> bool:
    return not (t.is_floating_point() or t.is_complex() or t.dtype == torch.bool)


# --------------------------------------------------------------------------- labels


def labels(y: ArrayLike, name: str, num_classes: int | None = None) -> torch.Tensor:
    """A 1-D vector of integer class labels, as int64; in ``[0, num_classes)`` when given."""
    t = to_tensor(y, name)
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
    if num_classes is not None:
        label_range(t, name, num_classes)
    return t


def label_range(t: torch.Tensor, name: str, num_classes: int) -> None:
    """Raise unless every label of the int64 vector ``t`` lies in ``[0, num_classes)``."""
    if t.numel() == 0:
        return
    lo, hi = int(t.min()), int(t.max())
    if lo < 0 or hi >= num_classes:
        raise ConfigError(
            f"Argument {name!r} must hold labels in [0, {num_classes}), "
            f"but got values from {lo} to {hi}"
        )


def same_length(truth: torch.Tensor, pred: torch.Tensor) -> None:
    """Raise unless the label vectors ``y_true`` and ``y_pred`` have the same length."""
    if truth.shape != pred.shape:
        raise ConfigError(
            f"Arguments 'y_true' and 'y_pred' must have the same length, "
            f"but got {truth.shape[0]} and {pred.shape[0]}"
        )


def label_pair(
    y_true: ArrayLike, y_pred: ArrayLike, num_classes: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """True and predicted labels in ``[0, num_classes)``, of one length, on ``y_true``'s device."""
    truth = labels(y_true, "y_true", num_classes)
    pred = labels(y_pred, "y_pred", num_classes).to(truth.device)
    same_length(truth, pred)
    return truth, pred


# --------------------------------------------------------------------------- probabilities


def probabilities(probs: ArrayLike, name: str = "probs") -> torch.Tensor:
    """An ``(N, C)`` probability matrix with ``N, C >= 1``, as float64 on the CPU."""
    t = to_tensor(probs, name)
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


def probs_and_labels(probs: ArrayLike, y_true: ArrayLike) -> tuple[torch.Tensor, torch.Tensor]:
    """Checked ``probs`` (see :func:`probabilities`) and one label in ``[0, C)`` per row."""
    p = probabilities(probs)
    y = labels(y_true, "y_true", p.shape[1]).cpu()
    if y.shape[0] != p.shape[0]:
        raise ConfigError(
            f"Arguments 'probs' and 'y_true' must have the same number of samples, "
            f"but got {p.shape[0]} rows and {y.shape[0]} labels"
        )
    return p, y


# --------------------------------------------------------------------------- the rest


def top_k_values(k: object, num_classes: int) -> tuple[int, ...]:
    """The sorted distinct values of ``k`` (an int or a sequence of them) up to ``num_classes``."""
    values: object = (k,) if as_int(k) is not None else k
    if isinstance(values, str) or not isinstance(values, Sequence) or len(values) == 0:
        raise ConfigError(
            f"Argument 'k' must be a positive integer or a non-empty sequence of them, "
            f"but got {k!r}"
        )
    checked: set[int] = set()
    for value in values:
        number = as_int(value)
        if number is None or number < 1:
            raise ConfigError(
                f"Argument 'k' must contain only positive integers, but got {value!r} in {k!r}"
            )
        checked.add(number)
    return tuple(sorted(v for v in checked if v <= num_classes))


def classes(names: Sequence[str] | None, num_classes: int | None) -> tuple[str, ...]:
    """Distinct class names, ``num_classes`` of them when given, else at least one.

    ``names=None`` gives the default names ``"0"``, ``"1"``, ... (none without ``num_classes``).
    """
    if names is None:
        return tuple(str(i) for i in range(num_classes or 0))
    if num_classes is None and isinstance(names, Sequence) and len(names) == 0:
        raise ConfigError("Argument 'classes' must name at least one class, but got ()")
    return class_names(names, num_classes, distinct=True)


def count_matrix(cm: object) -> torch.Tensor:
    """A report's confusion matrix: square, integer, non-negative, not all zeros.

    Returns an ``int64`` copy on the CPU, so that the report owns its data.
    """
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
    return cm


def top_k_scores(scores: object, num_classes: int) -> dict[int, float]:
    """A report's ``{k: accuracy}``: integer keys in ``[1, C]``, values in ``[0, 1]``, sorted."""
    if not isinstance(scores, Mapping):
        raise ConfigError(
            f"Argument 'top_k_accuracy' must be a mapping {{k: accuracy}} or None, "
            f"but got {scores!r}"
        )
    checked: dict[int, float] = {}
    for key in sorted(scores):
        k = as_int(key)
        if k is None or not 1 <= k <= num_classes:
            raise ConfigError(
                f"Argument 'top_k_accuracy' must have integer keys in "
                f"[1, {num_classes}], but got key {key!r}"
            )
        checked[k] = check_number(scores[key], f"top_k_accuracy[{key}]", low=0, high=1)
    return checked
