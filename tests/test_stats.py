"""How sure an accuracy is: Wilson intervals, the exact McNemar test, paired comparisons.

The statistics are checked against SciPy and statsmodels on fixed counts (the library
itself uses neither), and against a published value for Newcombe's paired interval.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from scipy.stats import binomtest  # type: ignore[import-untyped]
from statsmodels.stats.contingency_tables import mcnemar  # type: ignore[import-untyped]
from statsmodels.stats.proportion import proportion_confint  # type: ignore[import-untyped]

from mnistkit.exceptions import ConfigError
from mnistkit.metrics import (
    Comparison,
    Report,
    compare,
    mcnemar_p_value,
    paired_difference_interval,
    wilson_interval,
)

# --------------------------------------------------------------------------- Wilson

WILSON_CASES = [
    (0, 1),
    (1, 1),
    (0, 10),
    (10, 10),
    (3, 7),
    (1, 2),
    (50, 100),
    (9936, 10_000),
    (9976, 10_000),
    (10_000, 10_000),
    (0, 10_000),
    (69_123, 70_000),
]


@pytest.mark.parametrize(("successes", "n"), WILSON_CASES)
@pytest.mark.parametrize("confidence", [0.95, 0.99, 0.5])
def test_wilson_interval_equals_statsmodels(successes: int, n: int, confidence: float) -> None:
    low, high = wilson_interval(successes, n, confidence=confidence)
    ref_low, ref_high = proportion_confint(successes, n, alpha=1 - confidence, method="wilson")
    assert low == pytest.approx(ref_low, rel=1e-12, abs=1e-15)
    assert high == pytest.approx(ref_high, rel=1e-12, abs=1e-15)
    assert 0.0 <= low <= successes / n <= high <= 1.0


def test_wilson_interval_edges_are_exact() -> None:
    # no error: the upper bound is exactly 1 and the interval does not collapse
    low, high = wilson_interval(10_000, 10_000)
    assert high == 1.0
    assert low == pytest.approx(0.99961600, abs=1e-8)
    assert wilson_interval(0, 5)[0] == 0.0
    # a wider level gives a wider interval
    assert wilson_interval(95, 100, confidence=0.99)[0] < wilson_interval(95, 100)[0]


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((5, 4), {}, "Argument 'successes' must be at most n (4), but got 5"),
        ((0, 0), {}, "Argument 'n' must be a positive integer, but got 0"),
        ((-1, 4), {}, "Argument 'successes' must be a non-negative integer, but got -1"),
        ((1.5, 4), {}, "Argument 'successes' must be a non-negative integer, but got 1.5"),
        ((1, 4), {"confidence": 1.0}, "Argument 'confidence' must be"),
        ((1, 4), {"confidence": 95}, "Argument 'confidence' must be"),
    ],
)
def test_wilson_interval_rejects_bad_arguments(
    args: tuple[object, object], kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        wilson_interval(*args, **kwargs)  # type: ignore[arg-type]
    assert str(caught.value).startswith(message)


# --------------------------------------------------------------------------- McNemar

MCNEMAR_CASES = [
    (0, 0),
    (0, 1),
    (1, 0),
    (1, 1),
    (5, 5),
    (12, 3),
    (3, 12),
    (0, 30),
    (7, 8),
    (100, 60),
    (3000, 3200),
    (5000, 4700),
    (4999, 5001),
    (300, 700),
    (40_000, 40_500),
    # the bundled models on the MNIST test set, float32 (fast/default, fast/best, default/best)
    (19, 46),
    (12, 74),
    (12, 47),
]


@pytest.mark.parametrize(("only_a", "only_b"), MCNEMAR_CASES)
def test_mcnemar_p_value_equals_scipy_and_statsmodels(only_a: int, only_b: int) -> None:
    p = mcnemar_p_value(only_a, only_b)
    n = only_a + only_b
    scipy_p = binomtest(only_a, n, 0.5).pvalue if n else 1.0
    table = np.array([[50, only_a], [only_b, 20]])
    statsmodels_p = mcnemar(table, exact=True).pvalue
    assert p == pytest.approx(scipy_p, rel=1e-10)
    assert p == pytest.approx(statsmodels_p, rel=1e-10)
    assert 0.0 < p <= 1.0


def test_mcnemar_p_value_edges() -> None:
    assert mcnemar_p_value(0, 0) == 1.0  # no disagreement: no evidence either way
    assert mcnemar_p_value(7, 7) == 1.0
    assert mcnemar_p_value(1, 0) == 1.0  # one disagreement proves nothing
    assert mcnemar_p_value(0, 6) == pytest.approx(2 / 64)
    assert mcnemar_p_value(12, 3) == mcnemar_p_value(3, 12)
    # far in the tail: no underflow to 0 while the value is representable
    tiny = mcnemar_p_value(0, 1000)
    assert tiny == pytest.approx(2.0 * 2.0**-1000, rel=1e-9)
    assert mcnemar_p_value(200, 800) > 0
    assert math.log(mcnemar_p_value(200, 800)) == pytest.approx(
        math.log(binomtest(200, 1000).pvalue), rel=1e-9
    )


# --------------------------------------------------------------------------- Newcombe


def test_paired_difference_interval_matches_published_value() -> None:
    # Fagerland, Lydersen & Laake (2017), "Statistical Analysis of Contingency Tables",
    # chapter 8, the Cavo et al. (2012) table: 59 both, 6 first only, 16 second only, 80
    # neither; Newcombe square-and-add interval -0.0621 (-0.1186 to -0.0046).
    low, high = paired_difference_interval(59, 6, 16, 80)
    assert round(low, 4) == -0.1186
    assert round(high, 4) == -0.0046


@pytest.mark.parametrize(
    "table",
    [
        (59, 6, 16, 80),
        (9900, 36, 0, 64),
        (0, 0, 0, 10),
        (10, 0, 0, 0),
        (0, 5, 0, 0),
        (0, 0, 5, 0),
        (1, 0, 0, 0),
        (9800, 150, 24, 26),
        (3, 2, 2, 3),
    ],
)
def test_paired_difference_interval_holds_the_estimate(table: tuple[int, int, int, int]) -> None:
    both, only_a, only_b, neither = table
    n = sum(table)
    low, high = paired_difference_interval(both, only_a, only_b, neither)
    estimate = (only_a - only_b) / n
    assert -1.0 <= low <= estimate <= high <= 1.0
    # swapping A and B mirrors the interval
    mirror = paired_difference_interval(both, only_b, only_a, neither)
    assert mirror == pytest.approx((-high, -low), abs=1e-12)
    # a higher level widens it
    wide = paired_difference_interval(both, only_a, only_b, neither, confidence=0.99)
    assert wide[0] <= low + 1e-12 and wide[1] >= high - 1e-12


def test_paired_difference_interval_is_tighter_than_unpaired() -> None:
    # Two strongly correlated classifiers: pairing shrinks the interval well below the
    # one of two independent samples (sqrt of the sum of the squared half-widths).
    both, only_a, only_b, neither = 9850, 60, 30, 60
    low, high = paired_difference_interval(both, only_a, only_b, neither)
    n = both + only_a + only_b + neither
    la, ha = wilson_interval(both + only_a, n)
    lb, hb = wilson_interval(both + only_b, n)
    unpaired = math.hypot((ha - la) / 2, (hb - lb) / 2)
    assert (high - low) / 2 < 0.75 * unpaired


def test_paired_difference_interval_rejects_an_empty_table() -> None:
    with pytest.raises(ConfigError, match="at least one sample"):
        paired_difference_interval(0, 0, 0, 0)
    with pytest.raises(ConfigError, match="'only_b' must be a non-negative integer"):
        paired_difference_interval(1, 1, -1, 1)


# --------------------------------------------------------------------------- Report


def test_report_counts_errors_and_gives_the_wilson_interval() -> None:
    truth = torch.arange(10_000) % 10
    pred = truth.clone()
    pred[:64] = (pred[:64] + 1) % 10
    report = Report.from_predictions(pred, truth, num_classes=10)
    assert report.errors == 64
    assert report.accuracy == 0.9936
    assert report.accuracy_interval == pytest.approx(
        proportion_confint(9936, 10_000, method="wilson"), rel=1e-12
    )
    assert "64 errors of 10,000: accuracy 99.36%, 95% CI 99.18-99.50%" in str(report)
    data = json.loads(report.to_json())
    assert data["errors"] == 64
    assert data["accuracy_interval"]["method"] == "wilson"
    assert data["accuracy_interval"]["confidence"] == 0.95
    assert (data["accuracy_interval"]["low"], data["accuracy_interval"]["high"]) == (
        report.accuracy_interval
    )
    assert "64 errors; 95% CI 99.18-99.50%" in report._repr_html_()

    perfect = Report.from_predictions(truth, truth, num_classes=10)
    assert perfect.errors == 0
    assert perfect.accuracy_interval[1] == 1.0
    assert "0 errors of 10,000: accuracy 100.00%, 95% CI 99.96-100.00%" in str(perfect)
    hopeless = Report.from_predictions([1, 0], [0, 1])
    assert (hopeless.errors, hopeless.accuracy_interval[0]) == (2, 0.0)


# --------------------------------------------------------------------------- compare


def _predictions(truth: torch.Tensor, wrong: torch.Tensor, num_classes: int = 10) -> torch.Tensor:
    """``truth`` with the samples where ``wrong`` is True moved to the next class."""
    return torch.where(wrong, (truth + 1) % num_classes, truth)


def test_compare_counts_each_pair_and_tests_it() -> None:
    truth = torch.arange(1000) % 10
    index = torch.arange(1000)
    wrong_a = index < 20  # A: 20 errors
    wrong_b = (index >= 10) & (index < 50)  # B: 40 errors, 10 shared with A
    wrong_c = (index >= 500) & (index < 521)  # C: 21 errors, none shared
    probs_c = torch.nn.functional.one_hot(_predictions(truth, wrong_c), 10).double() * 0.9 + 0.01
    result = compare(
        {
            "a": _predictions(truth, wrong_a),
            "b": _predictions(truth, wrong_b).numpy(),
            "c": probs_c,
        },
        truth,
    )
    assert isinstance(result, Comparison)
    assert result.names == ("a", "b", "c")
    assert result.errors == (20, 40, 21)
    assert result.num_samples == 1000
    assert [(p.a, p.b) for p in result.pairs] == [("a", "b"), ("a", "c"), ("b", "c")]
    ab = result.pairs[0]
    assert (ab.both_right, ab.only_a, ab.only_b, ab.both_wrong) == (950, 30, 10, 10)
    assert ab.p_value == pytest.approx(binomtest(30, 40).pvalue, rel=1e-10)
    assert ab.difference == pytest.approx(0.02)
    assert ab.difference_interval == paired_difference_interval(950, 30, 10, 10)
    assert ab.better == "a"
    assert ab.verdict == f"a is better (p = {ab.p_value:.2g})"
    ac = result.pair("a", "c")
    assert (ac.only_a, ac.only_b) == (21, 20)
    assert ac.better is None
    assert ac.verdict == "no evidence of a difference (p = 1)"
    # the other order swaps the roles, not the numbers
    ba = result.pair("b", "a")
    assert (ba.only_a, ba.only_b, ba.better) == (10, 30, "a")
    assert ba.difference_interval == pytest.approx(
        (-ab.difference_interval[1], -ab.difference_interval[0])
    )
    assert result.accuracies == {"a": 0.98, "b": 0.96, "c": 0.979}
    assert result.accuracy_intervals["b"] == wilson_interval(960, 1000)


def test_comparison_text_json_and_html() -> None:
    truth = torch.arange(10_000) % 10
    index = torch.arange(10_000)
    result = compare(
        {
            "cnn": _predictions(truth, index < 64),
            "mlp": _predictions(truth, (index >= 40) & (index < 230)),
        },
        truth,
    )
    text = str(result)
    lines = text.splitlines()
    assert lines[0].split() == ["model", "accuracy", "errors", "95%", "CI"]
    assert lines[1].split() == ["cnn", "99.36%", "64", "99.18-99.50%"]
    assert lines[2].split()[:3] == ["mlp", "98.10%", "190"]
    assert lines[3] == ""
    assert lines[4].startswith("A vs B")
    pair = result.pairs[0]
    assert lines[5].startswith("cnn vs mlp")
    assert lines[5].split()[3:7] == ["9,770", "166", "40", "24"]
    assert lines[5].endswith("cnn is better (p < 0.0001)")
    assert f"+{100 * pair.difference:.2f}" in lines[5]
    data = json.loads(json.dumps(result.to_dict()))
    assert data["num_samples"] == 10_000
    assert data["models"]["cnn"]["errors"] == 64
    assert data["models"]["mlp"]["accuracy_interval"]["method"] == "wilson"
    (entry,) = data["pairs"]
    assert entry["only_a"] == 166 and entry["only_b"] == 40
    assert entry["better"] == "cnn"
    assert entry["test"] == "mcnemar-exact"
    assert entry["difference_interval"]["method"] == "newcombe-10"
    assert entry["p_value"] == pair.p_value
    html = result._repr_html_()
    assert html.count("<table") == 2 and "cnn is better" in html
    assert repr(result) == "Comparison(names=('cnn', 'mlp'), n=10000)"


@pytest.mark.parametrize(
    ("models", "labels", "message"),
    [
        ({"a": [0, 1]}, [0, 1], "must hold at least two classifiers, but got 1"),
        ([[0, 1], [0, 1]], [0, 1], "must be a mapping of names to predictions"),
        ({"a": [0, 1], "b": [0]}, [0, 1], "must have one row per label (2), but got 1"),
        ({"a": [0, 1], "b": [0.5, 1.0]}, [0, 1], "must hold integer class labels"),
        ({"a": [0, 1], "": [0, 1]}, [0, 1], "must have non-empty str names"),
        ({"a": [0, 1], "b": [0, 1]}, [], "must hold at least one label"),
        ({"a": [0, 1], "b": [[[0.0]]]}, [0, 1], "must be (N,) predicted labels or (N, C)"),
    ],
)
def test_compare_rejects_bad_input(models: object, labels: object, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        compare(models, labels)  # type: ignore[arg-type]
    assert message in str(caught.value)


# --------------------------------------------------------------------------- figure


def test_plot_comparison_draws_the_disagreements() -> None:
    import matplotlib.pyplot as plt

    from mnistkit import plotting

    truth = torch.arange(1000) % 10
    index = torch.arange(1000)
    result = compare(
        {
            "a": _predictions(truth, index < 20),
            "b": _predictions(truth, (index >= 10) & (index < 50)),
            "c": _predictions(truth, (index >= 500) & (index < 521)),
        },
        truth,
    )
    try:
        ax = plotting.plot_comparison(result)
        left, right = ax.containers[:2]
        # the first pair is drawn on top: bars are listed in pair order
        assert [-bar.get_width() for bar in left] == [30, 21, 21]
        assert [bar.get_width() for bar in right] == [10, 20, 40]
        labels = [tick.get_text() for tick in ax.get_yticklabels()]
        assert labels == [f"{p.a} vs {p.b}\n{p.verdict}" for p in result.pairs]
        assert list(ax.get_yticks()) == [2, 1, 0]  # the first pair on top
        assert "1,000 samples" in ax.get_title()
        _, own = plt.subplots()
        assert plotting.plot_comparison(result, ax=own) is own
        with pytest.raises(ConfigError, match="must be a mnistkit.metrics.Comparison"):
            plotting.plot_comparison(result.pairs[0])  # type: ignore[arg-type]
    finally:
        plt.close("all")
