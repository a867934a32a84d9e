"""Tests for mnistkit.metrics, cross-checked against scikit-learn."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable
from typing import Any
from unittest import mock

import numpy as np
import numpy.typing as npt
import pytest
import torch
from sklearn import metrics as skm  # type: ignore[import-untyped]

from mnistkit.exceptions import ConfigError
from mnistkit.metrics import (
    CalibrationBins,
    Report,
    _checks,
    calibration_bins,
    confusion_matrix,
    expected_calibration_error,
    negative_log_likelihood,
    top_k_accuracy,
)

NUM_CLASSES = 10
LABELS = list(range(NUM_CLASSES))

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def _softmax(z: FloatArray) -> FloatArray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def fitted() -> tuple[FloatArray, IntArray]:
    """Test-set probabilities of a softmax regression fitted on a 10-class problem.

    Gaussian clusters in 20 dimensions with heavy overlap and unequal class sizes,
    fitted by 25 steps of full-batch gradient descent: accuracy lands well below
    100 %, so every row and column of the confusion matrix carries information.
    """
    rng = np.random.default_rng(0)
    dim = 20
    centers = rng.normal(size=(NUM_CLASSES, dim))
    prior = rng.dirichlet(np.full(NUM_CLASSES, 4.0))

    def sample(n: int) -> tuple[FloatArray, IntArray]:
        y = rng.choice(NUM_CLASSES, size=n, p=prior)
        return centers[y] + 2.0 * rng.normal(size=(n, dim)), y

    x_train, y_train = sample(2000)
    x_test, y_test = sample(1500)
    weights = np.zeros((dim, NUM_CLASSES))
    bias = np.zeros(NUM_CLASSES)
    onehot = np.eye(NUM_CLASSES)[y_train]
    for _ in range(25):
        grad = _softmax(x_train @ weights + bias) - onehot
        weights -= 0.5 * x_train.T @ grad / len(y_train)
        bias -= 0.5 * grad.mean(axis=0)
    probs = _softmax(x_test @ weights + bias)
    accuracy = float((probs.argmax(axis=1) == y_test).mean())
    assert 0.5 < accuracy < 0.95, accuracy  # guards the fixture, not the library
    return probs, y_test


@pytest.fixture(scope="module")
def dirichlet() -> tuple[FloatArray, IntArray]:
    """Random Dirichlet probabilities with labels drawn from them (fixed seed)."""
    rng = np.random.default_rng(1)
    probs = rng.dirichlet(np.full(NUM_CLASSES, 0.3), size=800)
    y = np.array([rng.choice(NUM_CLASSES, p=row) for row in probs])
    return probs, y


def _plain(value: Any) -> bool:
    """True if ``value`` is built only from JSON's Python types."""
    if value is None or type(value) in (bool, int, float, str):
        return True
    if type(value) is list:
        return all(_plain(v) for v in value)
    if type(value) is dict:
        return all(type(k) is str and _plain(v) for k, v in value.items())
    return False


def _numpy_ece(probs: FloatArray, y: IntArray, n_bins: int) -> float:
    """Straightforward per-sample loop, independent of the vectorised version."""
    totals = [[0, 0.0, 0.0] for _ in range(n_bins)]  # count, sum conf, sum correct
    for row, label in zip(probs, y, strict=True):
        pred = int(np.argmax(row))
        conf = float(row[pred])
        b = min(max(math.ceil(conf * n_bins) - 1, 0), n_bins - 1)
        totals[b][0] += 1
        totals[b][1] += conf
        totals[b][2] += float(pred == label)
    n = len(y)
    return sum(c / n * abs(s_acc / c - s_conf / c) for c, s_conf, s_acc in totals if c)


# --------------------------------------------------------------------------- #
# confusion matrix and count metrics
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize(
    "convert",
    [
        torch.from_numpy,
        lambda a: a.astype(np.int32),
        lambda a: a.tolist(),
        lambda a: torch.from_numpy(a).to(torch.uint8),
    ],
    ids=["torch-int64", "numpy-int32", "list", "torch-uint8"],
)
def test_confusion_matrix_matches_sklearn(
    fitted: tuple[FloatArray, IntArray], convert: Any
) -> None:
    probs, y = fitted
    pred = probs.argmax(axis=1)
    cm = confusion_matrix(convert(y), convert(pred), num_classes=NUM_CLASSES)
    assert cm.dtype == torch.int64
    assert cm.shape == (NUM_CLASSES, NUM_CLASSES)
    expected = skm.confusion_matrix(y, pred, labels=LABELS)
    np.testing.assert_array_equal(cm.numpy(), expected)
    assert not np.array_equal(expected, expected.T)  # so a transposed result would fail


def test_confusion_matrix_of_batches_adds_up(fitted: tuple[FloatArray, IntArray]) -> None:
    probs, y = fitted
    pred = probs.argmax(axis=1)
    whole = confusion_matrix(y, pred, num_classes=NUM_CLASSES)
    parts = torch.zeros_like(whole)
    for i in range(0, len(y), 400):
        parts += confusion_matrix(y[i : i + 400], pred[i : i + 400], num_classes=NUM_CLASSES)
    assert torch.equal(whole, parts)


def test_confusion_matrix_small_hand_example() -> None:
    cm = confusion_matrix([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 2], num_classes=4)
    assert cm.tolist() == [[1, 1, 0, 0], [0, 1, 0, 0], [1, 0, 2, 0], [0, 0, 0, 0]]
    assert confusion_matrix([], [], num_classes=2).tolist() == [[0, 0], [0, 0]]


def test_count_metrics_match_sklearn(fitted: tuple[FloatArray, IntArray]) -> None:
    probs, y = fitted
    pred = probs.argmax(axis=1)
    report = Report.from_predictions(pred, y, num_classes=NUM_CLASSES)

    p, r, f, s = skm.precision_recall_fscore_support(
        y, pred, labels=LABELS, average=None, zero_division=0.0
    )
    np.testing.assert_allclose(report.precision.numpy(), p, rtol=0, atol=1e-12)
    np.testing.assert_allclose(report.recall.numpy(), r, rtol=0, atol=1e-12)
    np.testing.assert_allclose(report.f1.numpy(), f, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(report.support.numpy(), s)
    assert report.accuracy == pytest.approx(skm.accuracy_score(y, pred), abs=1e-12)
    assert report.num_samples == len(y)
    assert report.num_classes == NUM_CLASSES

    for average in ("macro", "weighted"):
        p_avg, r_avg, f_avg, _ = skm.precision_recall_fscore_support(
            y, pred, labels=LABELS, average=average, zero_division=0.0
        )
        assert getattr(report, f"{average}_precision") == pytest.approx(p_avg, abs=1e-12)
        assert getattr(report, f"{average}_recall") == pytest.approx(r_avg, abs=1e-12)
        assert getattr(report, f"{average}_f1") == pytest.approx(f_avg, abs=1e-12)
    # Precision and recall differ per class, so swapping them would be caught.
    assert not np.allclose(p, r)


def test_never_predicted_and_absent_classes_give_zero_not_nan(
    fitted: tuple[FloatArray, IntArray],
) -> None:
    probs, y = fitted
    pred = probs.argmax(axis=1)
    pred = np.where(pred == 7, 3, pred)  # class 7 is never predicted: precision 0/0
    num_classes = NUM_CLASSES + 1  # class 10 never occurs at all: everything 0/0
    labels = list(range(num_classes))
    report = Report.from_predictions(pred, y, num_classes=num_classes)

    assert int(report.confusion_matrix[:, 7].sum()) == 0
    assert int(report.support[7]) > 0
    for values in (report.precision, report.recall, report.f1):
        assert not torch.isnan(values).any()
    assert float(report.precision[7]) == 0.0
    assert float(report.f1[7]) == 0.0
    assert float(report.precision[10]) == float(report.recall[10]) == 0.0
    assert float(report.f1[10]) == 0.0
    assert int(report.support[10]) == 0

    p, r, f, s = skm.precision_recall_fscore_support(
        y, pred, labels=labels, average=None, zero_division=0.0
    )
    np.testing.assert_allclose(report.precision.numpy(), p, atol=1e-12)
    np.testing.assert_allclose(report.recall.numpy(), r, atol=1e-12)
    np.testing.assert_allclose(report.f1.numpy(), f, atol=1e-12)
    np.testing.assert_array_equal(report.support.numpy(), s)
    for average in ("macro", "weighted"):
        p_avg, r_avg, f_avg, _ = skm.precision_recall_fscore_support(
            y, pred, labels=labels, average=average, zero_division=0.0
        )
        assert getattr(report, f"{average}_precision") == pytest.approx(p_avg, abs=1e-12)
        assert getattr(report, f"{average}_recall") == pytest.approx(r_avg, abs=1e-12)
        assert getattr(report, f"{average}_f1") == pytest.approx(f_avg, abs=1e-12)


def test_hand_computed_small_report() -> None:
    # true: 0 0 0 1 1 2 ; pred: 0 0 1 1 2 2
    report = Report.from_predictions([0, 0, 1, 1, 2, 2], [0, 0, 0, 1, 1, 2])
    assert report.confusion_matrix.tolist() == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    assert report.accuracy == pytest.approx(4 / 6)
    assert report.precision.tolist() == pytest.approx([1.0, 0.5, 0.5])
    assert report.recall.tolist() == pytest.approx([2 / 3, 0.5, 1.0])
    assert report.f1.tolist() == pytest.approx([0.8, 0.5, 2 / 3])
    assert report.macro_precision == pytest.approx(2 / 3)
    assert report.weighted_recall == pytest.approx(report.accuracy)
    assert report.weighted_f1 == pytest.approx((3 * 0.8 + 2 * 0.5 + 2 / 3) / 6)


def test_from_predictions_infers_num_classes_and_names() -> None:
    report = Report.from_predictions(np.array([0, 2, 1]), np.array([0, 1, 1]))
    assert report.num_classes == 3
    assert report.classes == ("0", "1", "2")
    named = Report.from_predictions([0, 1], [0, 1], classes=["cat", "dog", "emu"])
    assert named.num_classes == 3
    assert named.classes == ("cat", "dog", "emu")


# --------------------------------------------------------------------------- #
# probability-based metrics
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("source", ["fitted", "dirichlet"])
def test_probability_metrics_match_sklearn(source: str, request: pytest.FixtureRequest) -> None:
    probs, y = request.getfixturevalue(source)
    assert negative_log_likelihood(probs, y) == pytest.approx(
        skm.log_loss(y, probs, labels=LABELS), rel=1e-9
    )
    topk = top_k_accuracy(torch.from_numpy(probs), torch.from_numpy(y), k=(5, 1, 3, 3))
    assert list(topk) == [1, 3, 5]
    for k, value in topk.items():
        expected = skm.top_k_accuracy_score(y, probs, k=k, labels=LABELS)
        assert value == pytest.approx(expected, abs=1e-12)
    assert topk[1] < topk[3] < topk[5] < 1.0


def test_probability_metrics_accept_float32_tensors(dirichlet: tuple[FloatArray, IntArray]) -> None:
    probs, y = dirichlet
    probs32 = torch.from_numpy(probs).float()
    # float32 rows do not sum to 1 in float64 (sklearn would warn): use the formula.
    p64 = probs32.double().numpy()
    expected = -np.log(p64[np.arange(len(y)), y]).mean()
    assert negative_log_likelihood(probs32, torch.from_numpy(y)) == pytest.approx(
        expected, rel=1e-9
    )


def test_report_from_probabilities_matches_sklearn(fitted: tuple[FloatArray, IntArray]) -> None:
    probs, y = fitted
    names = [f"digit {i}" for i in range(NUM_CLASSES)]
    report = Report.from_probabilities(probs, y, classes=names)
    pred = probs.argmax(axis=1)
    np.testing.assert_array_equal(
        report.confusion_matrix.numpy(), skm.confusion_matrix(y, pred, labels=LABELS)
    )
    assert report.accuracy == pytest.approx(skm.accuracy_score(y, pred), abs=1e-12)
    assert report.nll == pytest.approx(skm.log_loss(y, probs, labels=LABELS), rel=1e-9)
    assert report.top_k_accuracy is not None
    assert list(report.top_k_accuracy) == [1, 3, 5]
    assert report.top_k_accuracy[1] == pytest.approx(report.accuracy, abs=1e-12)
    for k in (3, 5):
        assert report.top_k_accuracy[k] == pytest.approx(
            skm.top_k_accuracy_score(y, probs, k=k, labels=LABELS), abs=1e-12
        )
    assert report.ece == pytest.approx(_numpy_ece(probs, y, 15), abs=1e-12)
    assert report.classes == tuple(names)


@pytest.mark.parametrize(
    "evaluate",
    [
        Report.from_probabilities,
        negative_log_likelihood,
        top_k_accuracy,
        calibration_bins,
        expected_calibration_error,
    ],
    ids=lambda f: f.__qualname__,
)
def test_probabilities_are_checked_once(
    evaluate: Callable[[FloatArray, IntArray], object], fitted: tuple[FloatArray, IntArray]
) -> None:
    # Report.from_probabilities used to check `probs` four times: once itself, then again
    # in each public probability function it called.
    probs, y = fitted
    with mock.patch.object(_checks, "probabilities", wraps=_checks.probabilities) as spy:
        evaluate(probs, y)
    assert spy.call_count == 1


def test_report_agrees_with_the_public_functions(fitted: tuple[FloatArray, IntArray]) -> None:
    probs, y = fitted
    report = Report.from_probabilities(probs, y, top_k=(1, 2), n_bins=10)
    expected_cm = confusion_matrix(y, probs.argmax(axis=1), num_classes=NUM_CLASSES)
    assert torch.equal(report.confusion_matrix, expected_cm)
    assert report.nll == negative_log_likelihood(probs, y)
    assert report.top_k_accuracy == top_k_accuracy(probs, y, k=(1, 2))
    assert report.ece == expected_calibration_error(probs, y, n_bins=10)


def test_negative_log_likelihood_clamps_zero_probability() -> None:
    probs = [[1.0, 0.0], [0.5, 0.5]]
    nll = negative_log_likelihood(probs, [1, 0])
    assert math.isfinite(nll)
    assert nll == pytest.approx((-math.log(1e-12) - math.log(0.5)) / 2)
    assert negative_log_likelihood(probs, [1, 0], eps=1e-3) == pytest.approx(
        (-math.log(1e-3) - math.log(0.5)) / 2
    )
    assert negative_log_likelihood([[1.0, 0.0]], [0]) == 0.0


def test_top_k_limited_to_num_classes_and_ties_count_in_favour() -> None:
    rng = np.random.default_rng(2)
    probs = rng.dirichlet(np.ones(4), size=50)
    y = rng.integers(0, 4, size=50)
    assert list(top_k_accuracy(probs, y)) == [1, 3]  # default (1, 3, 5) with C = 4
    assert list(top_k_accuracy(probs, y, k=(2, 9))) == [2]
    report = Report.from_probabilities(probs, y)
    assert report.top_k_accuracy is not None
    assert list(report.top_k_accuracy) == [1, 3]
    # True class tied for first place: correct at k = 1, whatever the sort order.
    tied = [[0.4, 0.4, 0.2], [0.4, 0.4, 0.2]]
    assert top_k_accuracy(tied, [0, 1], k=1) == {1: 1.0}
    assert top_k_accuracy([[0.5, 0.3, 0.2]], [2], k=[1, 2, 3]) == {1: 0.0, 2: 0.0, 3: 1.0}


def test_ece_hand_computed_example() -> None:
    # Two bins: (0, 0.5] and (0.5, 1].
    probs = [
        [0.9, 0.05, 0.05],  # conf 0.9, correct
        [0.8, 0.1, 0.1],  # conf 0.8, wrong
        [0.2, 0.6, 0.2],  # conf 0.6, correct
        [0.4, 0.3, 0.3],  # conf 0.4, wrong
    ]
    y = [0, 2, 1, 1]
    bins = calibration_bins(probs, y, n_bins=2)
    assert isinstance(bins, CalibrationBins)
    assert bins.edges.tolist() == [0.0, 0.5, 1.0]
    assert bins.count.tolist() == [1, 3]
    assert bins.confidence.tolist() == pytest.approx([0.4, (0.9 + 0.8 + 0.6) / 3])
    assert bins.accuracy.tolist() == pytest.approx([0.0, 2 / 3])
    # ECE = 1/4 * |0 - 0.4| + 3/4 * |2/3 - 2.3/3| = 0.1 + 0.075
    assert bins.ece == pytest.approx(0.175)
    assert expected_calibration_error(probs, y, n_bins=2) == pytest.approx(0.175)
    assert bins.n_bins == 2
    assert bins.num_samples == 4


def test_calibration_bins_edges_empty_bins_and_extremes() -> None:
    # Confidence exactly on an edge goes to the lower bin (bins are right-closed).
    bins = calibration_bins([[0.5, 0.25, 0.25]], [0], n_bins=2)
    assert bins.count.tolist() == [1, 0]
    assert math.isnan(float(bins.confidence[1]))
    assert math.isnan(float(bins.accuracy[1]))
    assert bins.ece == pytest.approx(0.5)
    eye = torch.eye(3, dtype=torch.float64)
    assert expected_calibration_error(eye, [0, 1, 2]) == 0.0
    assert expected_calibration_error(eye, [1, 2, 0]) == 1.0


def test_ece_matches_independent_loop(dirichlet: tuple[FloatArray, IntArray]) -> None:
    probs, y = dirichlet
    for n_bins in (1, 10, 15):
        bins = calibration_bins(probs, y, n_bins=n_bins)
        assert int(bins.count.sum()) == len(y)
        assert bins.ece == pytest.approx(_numpy_ece(probs, y, n_bins), abs=1e-12)
    assert expected_calibration_error(probs, y) == pytest.approx(_numpy_ece(probs, y, 15))


# --------------------------------------------------------------------------- #
# Report object
# --------------------------------------------------------------------------- #


def test_to_dict_is_plain_and_round_trips_through_json(
    fitted: tuple[FloatArray, IntArray],
) -> None:
    probs, y = fitted
    names = [f"digit {i}" for i in range(NUM_CLASSES)]
    for report in (
        Report.from_probabilities(probs, y, classes=names),
        Report.from_predictions(probs.argmax(axis=1), y, classes=names),
    ):
        data = report.to_dict()
        assert _plain(data)
        assert json.loads(report.to_json()) == data
        assert json.loads(report.to_json(indent=None)) == data
        assert data["classes"] == names
        assert data["confusion_matrix"] == report.confusion_matrix.tolist()
        assert data["accuracy"] == report.accuracy
        assert data["num_samples"] == len(y)
        assert list(data["per_class"]) == names
        assert data["per_class"]["digit 3"] == {
            "precision": float(report.precision[3]),
            "recall": float(report.recall[3]),
            "f1": float(report.f1[3]),
            "support": int(report.support[3]),
        }
        assert data["macro_avg"]["f1"] == report.macro_f1
        assert data["weighted_avg"]["precision"] == report.weighted_precision

    with_probs = Report.from_probabilities(probs, y).to_dict()
    assert set(with_probs["top_k_accuracy"]) == {"1", "3", "5"}
    assert with_probs["nll"] > 0
    assert 0 <= with_probs["ece"] <= 1
    without = Report.from_predictions(probs.argmax(axis=1), y).to_dict()
    assert without["nll"] is None
    assert without["top_k_accuracy"] is None
    assert without["ece"] is None


def test_str_is_a_classification_table(fitted: tuple[FloatArray, IntArray]) -> None:
    probs, y = fitted
    names = [f"digit {i}" for i in range(NUM_CLASSES)]
    report = Report.from_probabilities(probs, y, classes=names)
    text = str(report)
    lines = text.splitlines()
    assert lines[0].split() == ["precision", "recall", "f1-score", "support"]
    for i, name in enumerate(names):
        (row,) = [line for line in lines if line.strip().startswith(name)]
        assert row.split()[-4:] == [
            f"{float(report.precision[i]):.4f}",
            f"{float(report.recall[i]):.4f}",
            f"{float(report.f1[i]):.4f}",
            str(int(report.support[i])),
        ]
    (accuracy_line,) = [line for line in lines if line.strip().startswith("accuracy")]
    assert accuracy_line.split() == ["accuracy", f"{report.accuracy:.4f}", str(len(y))]
    assert any(line.split()[:2] == ["macro", "avg"] for line in lines)
    assert any(line.split()[:2] == ["weighted", "avg"] for line in lines)
    assert any(line.split() == ["nll", f"{report.nll:.4f}"] for line in lines)
    assert any(line.strip().startswith("top-5 accuracy") for line in lines)
    assert any(line.split() == ["ece", f"{report.ece:.4f}"] for line in lines)
    low, high = report.accuracy_interval
    errors = f"{report.errors:,} error" + ("" if report.errors == 1 else "s")
    assert (
        f"{errors} of {len(y):,}: accuracy {report.accuracy:.2%}, "
        f"95% CI {100 * low:.2f}-{100 * high:.2f}%"
    ) in lines

    hard = str(Report.from_predictions(probs.argmax(axis=1), y, classes=names))
    assert "accuracy" in hard
    assert "nll" not in hard
    assert "top-1" not in hard
    assert "ece" not in hard


def test_str_layout_is_exact() -> None:
    # Pins the table byte for byte (column widths, blank lines, no trailing newline).
    probs = [[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4]]
    report = Report.from_probabilities(probs, [0, 1, 0])
    assert str(report) == (
        "               precision    recall  f1-score   support\n"
        "\n"
        "             0    1.0000    0.5000    0.6667         2\n"
        "             1    1.0000    1.0000    1.0000         1\n"
        "             2    0.0000    0.0000    0.0000         0\n"
        "\n"
        "      accuracy                        0.6667         3\n"
        "     macro avg    0.6667    0.5000    0.5556         3\n"
        "  weighted avg    1.0000    0.6667    0.7778         3\n"
        "\n"
        "1 error of 3: accuracy 66.67%, 95% CI 20.77-93.85%\n"
        "\n"
        "           nll    0.5946\n"
        "top-1 accuracy    0.6667\n"
        "top-3 accuracy    1.0000\n"
        "           ece    0.3000"
    )


def test_repr_is_short(fitted: tuple[FloatArray, IntArray]) -> None:
    probs, y = fitted
    report = Report.from_probabilities(probs, y)
    assert repr(report) == f"Report(accuracy={report.accuracy:.4f}, n={len(y)})"
    assert "\n" not in repr(calibration_bins(probs, y))


def test_report_is_frozen_and_owns_its_data() -> None:
    cm = torch.tensor([[3, 1], [0, 2]])
    topk = {2: 1.0, 1: 0.5}
    report = Report(cm, ("a", "b"), nll=0.7, top_k_accuracy=topk, ece=0.1)
    cm[0, 0] = 100
    topk[1] = 0.0
    assert report.confusion_matrix.tolist() == [[3, 1], [0, 2]]
    assert report.top_k_accuracy == {1: 0.5, 2: 1.0}
    assert report.top_k_accuracy is not None
    assert list(report.top_k_accuracy) == [1, 2]
    with pytest.raises(dataclasses.FrozenInstanceError):
        report.nll = 0.0  # type: ignore[misc]
    with pytest.raises(TypeError):
        report.top_k_accuracy[1] = 0.0  # type: ignore[index]
    assert report.accuracy == pytest.approx(5 / 6)


# --------------------------------------------------------------------------- #
# bad input
# --------------------------------------------------------------------------- #

_PROBS = [[0.7, 0.2, 0.1], [0.1, 0.8, 0.1]]


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: confusion_matrix([[0, 1]], [[0, 1]], num_classes=2), "'y_true'.*1-D"),
        (lambda: confusion_matrix([0, 1], [0, 1, 1], num_classes=2), "same length.*2 and 3"),
        (lambda: confusion_matrix([0, 2], [0, 1], num_classes=2), r"'y_true'.*\[0, 2\).*2"),
        (lambda: confusion_matrix([0, 1], [-1, 1], num_classes=2), r"'y_pred'.*-1"),
        (lambda: confusion_matrix([0.0, 1.0], [0, 1], num_classes=2), "'y_true'.*integer"),
        (lambda: confusion_matrix([True], [False], num_classes=2), "'y_true'.*integer"),
        (lambda: confusion_matrix(["a"], ["b"], num_classes=2), "'y_true'.*dtype"),
        (lambda: confusion_matrix([0], [0], num_classes=0), "'num_classes'.*positive.*0"),
        (lambda: confusion_matrix([0], [0], num_classes=True), "'num_classes'"),
        (lambda: negative_log_likelihood([0.5, 0.5], [0]), "'probs'.*2-D.*\\(2,\\)"),
        (lambda: negative_log_likelihood(np.ones((1, 2, 2)) / 2, [0]), "'probs'.*2-D"),
        (lambda: negative_log_likelihood(np.zeros((0, 3)), []), "'probs'.*at least one"),
        (lambda: negative_log_likelihood(_PROBS, [0]), "same number of samples"),
        (lambda: negative_log_likelihood(_PROBS, [0, 3]), r"'y_true'.*\[0, 3\)"),
        (lambda: negative_log_likelihood([[2.0, -1.0]], [0]), "'probs'.*\\[0, 1\\].*softmax"),
        (lambda: negative_log_likelihood([[0.3, 0.3]], [0]), "'probs'.*sum to 1.*row 0"),
        (lambda: negative_log_likelihood([[math.nan, 1.0]], [0]), "'probs'.*finite"),
        (lambda: negative_log_likelihood(_PROBS, [0, 1], eps=0.0), "'eps'"),
        (lambda: top_k_accuracy(_PROBS, [0, 1], k=0), "'k'.*positive.*0"),
        (lambda: top_k_accuracy(_PROBS, [0, 1], k=(1, -2)), "'k'.*-2"),
        (lambda: top_k_accuracy(_PROBS, [0, 1], k=()), "'k'.*non-empty"),
        (lambda: top_k_accuracy(_PROBS, [0, 1], k=1.5), "'k'"),  # type: ignore[arg-type]
        (lambda: calibration_bins(_PROBS, [0, 1], n_bins=0), "'n_bins'.*0"),
        (lambda: Report.from_probabilities(_PROBS, [0, 1], top_k=(0,)), "'k'"),
        (lambda: Report.from_probabilities(_PROBS, [0, 1], n_bins=-3), "'n_bins'.*-3"),
        (lambda: Report.from_probabilities([[1.0]], [[0]]), "'y_true'.*1-D"),
        (lambda: Report.from_probabilities(_PROBS, [0, 1], classes=["a"]), "'classes'.*3"),
        (lambda: Report.from_probabilities(_PROBS, [0, 1], classes="abc"), "'classes'"),
        (
            lambda: Report.from_probabilities(_PROBS, [0, 1], classes=["a", "b", "a"]),
            "'classes'.*duplicates.*'a'",
        ),
        (
            lambda: Report.from_predictions([0, 1], [0, 1], classes=[0, 1]),  # type: ignore[list-item]
            "'classes'.*strings",
        ),
        (
            lambda: Report.from_predictions([0, 1], [0, 1], classes=["a"], num_classes=2),
            "'classes'.*2 classes",
        ),
        (lambda: Report.from_predictions([0, 5], [0, 1], num_classes=3), r"'y_pred'.*\[0, 3\)"),
        (lambda: Report.from_predictions([], []), "at least one sample"),
        (lambda: Report.from_predictions([], [], num_classes=2), "at least one sample"),
        (lambda: Report.from_predictions([-1], [-1]), r"'y_true'.*-1"),
        (lambda: Report(torch.zeros(2, 3, dtype=torch.int64), ("a", "b")), "square"),
        (lambda: Report(torch.ones(2, 2), ("a", "b")), "integer counts"),
        (lambda: Report(torch.tensor([[1, -1], [0, 1]]), ("a", "b")), "non-negative"),
        (lambda: Report(torch.zeros(2, 2, dtype=torch.int64), ("a", "b")), "at least one"),
        (lambda: Report(torch.eye(2, dtype=torch.int64), ("a", "b"), nll=-1.0), "'nll'"),
        (lambda: Report(torch.eye(2, dtype=torch.int64), ("a", "b"), ece=1.5), "'ece'"),
        (
            lambda: Report(torch.eye(2, dtype=torch.int64), ("a", "b"), top_k_accuracy={3: 1.0}),
            "'top_k_accuracy'.*key 3",
        ),
    ],
)
def test_bad_input_raises_config_error(call: Any, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        call()


def test_config_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="'k'"):
        top_k_accuracy(_PROBS, [0, 1], k=-1)


# --------------------------------------------------------------------------- #
# what mutation testing found unpinned (tests/README.md, "Mutation testing")
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: confusion_matrix([[0, 1], [2]], [0, 1], num_classes=3),
            "Argument 'y_true' must be a tensor, a NumPy array or a rectangular sequence of "
            "numbers, but got list that cannot be converted",
        ),
        (
            lambda: negative_log_likelihood([[0.5, 0.5], [1.0]], [0, 0]),
            "Argument 'probs' must be a tensor, a NumPy array or a rectangular sequence",
        ),
        (
            lambda: confusion_matrix([0.0], [0], num_classes=2),
            "Argument 'y_true' must hold integer class labels, but got dtype torch.float64; "
            "convert with .long(), or pass probabilities to the probability-based functions",
        ),
        (
            lambda: negative_log_likelihood(torch.tensor([[True, False]]), [0]),
            "Argument 'probs' must hold real-valued probabilities, but got dtype torch.bool",
        ),
        (
            lambda: negative_log_likelihood([[0.5, 0.25, 0.25], [0.5, 0.25, 0.25]], [0]),
            "Arguments 'probs' and 'y_true' must have the same number of samples, "
            "but got 2 rows and 1 labels",
        ),
        (
            lambda: Report.from_predictions([0], [0], classes=[]),
            "Argument 'classes' must name at least one class, but got ()",
        ),
        (
            lambda: Report([[1, 0], [0, 1]], ("a", "b")),  # type: ignore[arg-type]
            "Argument 'confusion_matrix' must be a torch.Tensor, but got list",
        ),
        (
            lambda: Report(torch.zeros(2, 2, dtype=torch.int64), ("a", "b")),
            "Argument 'confusion_matrix' must count at least one sample, but it is all zeros",
        ),
        (
            lambda: Report(torch.eye(2, dtype=torch.int64), ("a", "b", "c")),
            "Argument 'classes' must name all 2 classes, but got 3 names",
        ),
        (
            lambda: Report(torch.eye(2, dtype=torch.int64), ("a", "b"), nll=-1.0),
            "Argument 'nll' must be a finite non-negative number or None, but got -1.0",
        ),
        (
            lambda: Report(torch.eye(2, dtype=torch.int64), ("a", "b"), ece=-0.5),
            "Argument 'ece' must be",
        ),
        (
            lambda: Report(torch.eye(2, dtype=torch.int64), ("a", "b"), top_k_accuracy=[1.0]),  # type: ignore[arg-type]
            "Argument 'top_k_accuracy' must be a mapping {k: accuracy} or None, but got [1.0]",
        ),
        (
            lambda: Report(torch.eye(2, dtype=torch.int64), ("a", "b"), top_k_accuracy={1: 1.5}),
            "Argument 'top_k_accuracy[1]' must be",
        ),
        (
            lambda: Report(torch.eye(2, dtype=torch.int64), ("a", "b"), top_k_accuracy={1: -0.5}),
            "Argument 'top_k_accuracy[1]' must be",
        ),
        (lambda: negative_log_likelihood(_PROBS, [0, 1], eps=1.0), "Argument 'eps' must be"),
        (lambda: negative_log_likelihood(_PROBS, [0, 1], eps=1.5), "Argument 'eps' must be"),
        (
            lambda: Report.from_predictions([0], [0], num_classes=0),
            "Argument 'num_classes' must be a positive integer, but got 0",
        ),
        (
            lambda: Report.from_predictions([0], [0.5]),
            "Argument 'y_true' must hold integer class labels",
        ),
        (
            lambda: Report.from_predictions([0.5], [0]),
            "Argument 'y_pred' must hold integer class labels",
        ),
        (
            lambda: Report.from_predictions([], [0]),
            "Arguments 'y_true' and 'y_pred' must contain at least one sample, "
            "but got an empty vector",
        ),
        (
            lambda: Report.from_predictions([], [], num_classes=2),
            "Arguments 'y_true' and 'y_pred' must contain at least one sample, "
            "but got empty vectors",
        ),
        (
            lambda: Report.from_predictions([-1], [-1]),
            "Argument 'y_true' must hold labels in [0, 1), but got values from -1 to -1",
        ),
        (
            lambda: Report.from_predictions([-1], [0]),
            "Argument 'y_pred' must hold labels in [0, 1), but got values from -1 to -1",
        ),
    ],
)
def test_error_messages_name_the_argument_and_the_fix(call: Any, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        call()
    assert str(caught.value).startswith(message)


@pytest.mark.parametrize(
    ("probs", "message"),
    [
        ([[-0.2, 0.6, 0.6]], r"in \[0, 1\], but got values from -0.2 to 0.6"),  # low end only
        ([[1.5, 0.0]], r"in \[0, 1\], but got values from 0 to 1.5"),  # high end only
        ([[0.5, 0.3]], "rows that sum to 1, but row 0 sums to 0.8"),
    ],
)
def test_probabilities_outside_the_unit_interval_are_named_as_such(
    probs: list[list[float]], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        negative_log_likelihood(probs, [0])


def test_probabilities_within_the_tolerance_pass_and_confidence_is_clamped() -> None:
    # -1e-6 and 1 + 1e-6 are floating-point noise (the tolerance is inclusive) ...
    noisy = [[1.0 + 1e-6, -1e-6, 0.0], [-1e-6, 0.5, 0.5 + 1e-6]]
    expected = -(math.log(1.0 + 1e-6) + math.log(0.5)) / 2
    assert negative_log_likelihood(noisy, [0, 1]) == pytest.approx(expected, rel=1e-12)
    # ... and a confidence above 1 is counted as 1 in the calibration bins
    bins = calibration_bins(noisy, [0, 1], n_bins=2)
    assert bins.count.tolist() == [0, 2]
    assert float(bins.confidence[1]) == pytest.approx((1.0 + 0.5 + 1e-6) / 2, abs=1e-15)
    assert float(bins.confidence.nan_to_num().max()) <= 1.0


def test_dtypes_and_defaults_are_as_documented(dirichlet: tuple[FloatArray, IntArray]) -> None:
    probs, y = dirichlet
    bins = calibration_bins(probs, y)
    assert bins.n_bins == 15  # the default
    for values in (bins.edges, bins.confidence, bins.accuracy):
        assert values.dtype == torch.float64
    report = Report(torch.tensor([[3, 1], [0, 2]], dtype=torch.int32), ("a", "b"))
    assert report.confusion_matrix.dtype == torch.int64
    for values in (report.precision, report.recall, report.f1):
        assert values.dtype == torch.float64


def test_edge_cases_of_the_report_fields() -> None:
    one = Report(torch.tensor([[3]]), ("only",), nll=0.0, ece=0.0, top_k_accuracy={1: 1.0})
    assert one.accuracy == 1.0 and one.nll == 0.0  # a perfect model's NLL is 0
    assert Report.from_predictions([0, 0], [0, 0]).num_classes == 1
    assert Report.from_predictions([0], [0], classes=["a"]).classes == ("a",)
    assert Report.from_predictions([0], [0], num_classes=1).num_samples == 1
    # the number of classes is inferred from both vectors
    assert Report.from_predictions([0, 0], [0, 2]).num_classes == 3
    assert Report.from_predictions([0, 2], [0, 0]).num_classes == 3
    assert negative_log_likelihood(_PROBS, [0, 1], eps=0.5) == pytest.approx(
        -(math.log(0.7) + math.log(0.8)) / 2
    )


def test_to_dict_and_json_layout_are_exact() -> None:
    report = Report.from_predictions([0, 1, 1], [0, 1, 0], classes=["cat", "dog"])
    assert report.to_dict() == {
        "num_samples": 3,
        "accuracy": 2 / 3,
        "errors": 1,
        "accuracy_interval": {
            "confidence": 0.95,
            "method": "wilson",
            "low": pytest.approx(0.2076596008),
            "high": pytest.approx(0.9385080553),
        },
        "classes": ["cat", "dog"],
        "confusion_matrix": [[1, 1], [0, 1]],
        "per_class": {
            "cat": {"precision": 1.0, "recall": 0.5, "f1": 2 / 3, "support": 2},
            "dog": {"precision": 0.5, "recall": 1.0, "f1": 2 / 3, "support": 1},
        },
        "macro_avg": {"precision": 0.75, "recall": 0.75, "f1": 2 / 3, "support": 3},
        "weighted_avg": {
            "precision": pytest.approx(2.5 / 3),
            "recall": 2 / 3,
            "f1": pytest.approx(2 / 3),
            "support": 3,
        },
        "nll": None,
        "top_k_accuracy": None,
        "ece": None,
    }
    assert report.to_json() == json.dumps(report.to_dict(), indent=2)
    assert report.to_json(indent=None) == json.dumps(report.to_dict())


def test_html_layout_is_exact() -> None:
    # Jupyter's display of the report of test_str_layout_is_exact, pinned byte for byte.
    probs = [[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4]]
    report = Report.from_probabilities(probs, [0, 1, 0])

    def cells(*values: str) -> str:
        first, *rest = values
        return (
            f"<tr><td>{first}</td>"
            + "".join(f'<td style="text-align:right">{v}</td>' if v else "<td></td>" for v in rest)
            + "</tr>"
        )

    assert report._repr_html_() == (
        '<div><table class="mnistkit"><caption>Report: accuracy 66.67% on 3 samples '
        "(1 error; 95% CI 20.77-93.85%)</caption>"
        "<thead><tr><th></th><th>precision</th><th>recall</th><th>f1-score</th>"
        "<th>support</th></tr></thead><tbody>"
        + cells("0", "1.0000", "0.5000", "0.6667", "2")
        + cells("1", "1.0000", "1.0000", "1.0000", "1")
        + cells("2", "0.0000", "0.0000", "0.0000", "0")
        + cells("accuracy", "", "", "0.6667", "3")
        + cells("macro avg", "0.6667", "0.5000", "0.5556", "3")
        + cells("weighted avg", "1.0000", "0.6667", "0.7778", "3")
        + '</tbody></table><table class="mnistkit"><caption>probability metrics</caption>'
        "<tbody>"
        + cells("nll", "0.5946")
        + cells("top-1 accuracy", "0.6667")
        + cells("top-3 accuracy", "1.0000")
        + cells("ece", "0.3000")
        + "</tbody></table></div>"
    )
    hard = Report.from_predictions([0, 1], [0, 1])._repr_html_()
    assert hard.count("<table") == 1 and "probability metrics" not in hard
