"""Out-of-distribution scores: checked against scikit-learn, then on real MNIST vs Fashion-MNIST."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pytest
import torch
from sklearn.metrics import (  # type: ignore[import-untyped]
    average_precision_score,
    roc_auc_score,
    roc_curve,
)

import mnistkit
from mnistkit.datasets import DatasetSplits
from mnistkit.exceptions import ConfigError
from mnistkit.inference import as_image_batch
from mnistkit.metrics import OODReport, ood_report, ood_scores, threshold_for_recall

# --------------------------------------------------------------------------- scikit-learn


def _sklearn(
    in_scores: npt.NDArray[np.float64], out_scores: npt.NDArray[np.float64]
) -> tuple[float, float, float, float]:
    """AUROC, AUPR-In, AUPR-Out and FPR at 95% TPR, in-distribution labelled 1."""
    y = np.r_[np.ones(len(in_scores)), np.zeros(len(out_scores))]
    s = np.r_[in_scores, out_scores]
    fpr, tpr, _ = roc_curve(y, s, drop_intermediate=False)
    return (
        float(roc_auc_score(y, s)),
        float(average_precision_score(y, s)),
        float(average_precision_score(1 - y, -s)),
        float(fpr[np.searchsorted(tpr, 0.95, side="left")]),
    )


@pytest.mark.parametrize("seed", range(40))
def test_ood_report_equals_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_in, n_out = (int(n) for n in rng.integers(1, 300, size=2))
    if seed % 2:  # few distinct values: many ties, within and across the two sets
        in_scores = rng.integers(0, 6, n_in).astype(np.float64)
        out_scores = rng.integers(0, 4, n_out).astype(np.float64)
    else:
        in_scores = rng.normal(1.0, 1.0, n_in)
        out_scores = rng.normal(0.0, 1.5, n_out)
    report = ood_report(in_scores, out_scores)
    auroc, aupr_in, aupr_out, fpr95 = _sklearn(in_scores, out_scores)
    assert report.auroc == pytest.approx(auroc, abs=1e-12)
    assert report.aupr_in == pytest.approx(aupr_in, abs=1e-12)
    assert report.aupr_out == pytest.approx(aupr_out, abs=1e-12)
    assert report.fpr_at_95_tpr == pytest.approx(fpr95, abs=1e-12)
    assert (report.num_in, report.num_out) == (n_in, n_out)


def test_ood_report_extremes() -> None:
    separated = ood_report([2.0, 3.0, 4.0], [0.0, 1.0])
    assert (separated.auroc, separated.aupr_in, separated.aupr_out) == (1.0, 1.0, 1.0)
    assert separated.fpr_at_95_tpr == 0.0
    reversed_ = ood_report([0.0, 1.0], [2.0, 3.0, 4.0])
    assert reversed_.auroc == 0.0 and reversed_.fpr_at_95_tpr == 1.0
    tied = ood_report([1.0] * 5, [1.0] * 7)  # nothing to tell apart
    assert tied.auroc == 0.5
    assert tied.aupr_in == pytest.approx(5 / 12)
    assert tied.fpr_at_95_tpr == 1.0
    single = ood_report([1.0], [0.0])
    assert single.auroc == 1.0


def test_threshold_for_recall_keeps_the_promised_share() -> None:
    rng = np.random.default_rng(0)
    scores = rng.normal(size=1000)
    for keep in (0.5, 0.9, 0.95, 0.99, 0.999, 1.0):
        t = threshold_for_recall(scores, keep=keep)
        kept = float(np.mean(scores >= t))
        assert kept >= keep
        assert kept - 1 / 1000 < keep  # the largest such threshold: one more sample too few
        assert t in scores
    assert threshold_for_recall(scores, keep=1.0) == scores.min()
    # ties: every tied score is kept, so the share may exceed keep
    assert threshold_for_recall([1.0, 1.0, 1.0, 2.0], keep=0.5) == 1.0
    # keep * N is not an integer: round up, never keep fewer than asked
    assert threshold_for_recall([1.0, 2.0, 3.0], keep=0.5) == 2.0
    # floating point: 0.99 * 100 is 99.00000000000001, still 99 samples kept
    assert threshold_for_recall(np.arange(100.0), keep=0.99) == 1.0
    # the threshold at 95% is the one behind fpr_at_95_tpr
    out = rng.normal(-1.0, size=500)
    t95 = threshold_for_recall(scores, keep=0.95)
    assert ood_report(scores, out).fpr_at_95_tpr == float(np.mean(out >= t95))


def test_ood_report_at_a_threshold() -> None:
    report = ood_report([0.2, 0.5, 0.9, 0.95], [0.1, 0.3, 0.6], threshold=0.5)
    assert report.threshold == 0.5
    assert report.kept_in == 0.75  # 0.5 itself is kept: >= threshold
    assert report.rejected_out == pytest.approx(2 / 3)
    data = json.loads(json.dumps(report.to_dict()))
    assert data["kept_in"] == 0.75 and data["threshold"] == 0.5
    assert set(data) == {
        "num_in",
        "num_out",
        "auroc",
        "aupr_in",
        "aupr_out",
        "fpr_at_95_tpr",
        "threshold",
        "kept_in",
        "rejected_out",
    }
    text = str(report)
    assert "AUROC  " in text and "out-of-distribution rejected  66.67%" in text
    assert "AUPR-In" in report._repr_html_()
    plain = ood_report([0.2, 0.5], [0.1])
    assert plain.kept_in is None and "threshold" not in str(plain)
    assert repr(plain).startswith("OODReport(auroc=1.0000")


# --------------------------------------------------------------------------- scores


def test_ood_scores_msp_and_energy() -> None:
    torch.manual_seed(0)
    logits = torch.randn(50, 10) * 3
    msp = ood_scores(logits)
    assert msp.dtype == torch.float64 and msp.shape == (50,)
    assert torch.allclose(msp, torch.softmax(logits.double(), dim=1).max(dim=1).values)
    assert bool(((msp > 0.1) & (msp <= 1.0)).all())
    energy = ood_scores(logits, kind="energy")
    assert torch.allclose(energy, torch.logsumexp(logits.double(), dim=1))
    hot = ood_scores(logits, kind="energy", temperature=4.0)
    assert torch.allclose(hot, 4.0 * torch.logsumexp(logits.double() / 4.0, dim=1))
    # a confident, large-logit sample scores higher than a flat one, for both kinds
    pair = torch.tensor([[9.0, 0.0, 0.0], [0.1, 0.0, 0.05]])
    for kind in ("msp", "energy"):
        high, low = ood_scores(pair, kind=kind).tolist()
        assert high > low
    # temperature flattens the softmax but keeps the order of one sample's classes
    assert float(ood_scores(pair, temperature=1000.0)[0]) == pytest.approx(1 / 3, abs=0.01)
    # numpy and nested lists are accepted; huge logits do not overflow
    assert ood_scores(np.array([[1000.0, 0.0]]), kind="energy").item() == pytest.approx(1000.0)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: ood_scores(torch.zeros(3)), "'logits' must be a non-empty (N, C) matrix"),
        (lambda: ood_scores(torch.zeros(2, 3), kind="odin"), "'kind' must be one of"),
        (lambda: ood_scores(torch.zeros(2, 3), temperature=0), "'temperature' must be"),
        (lambda: ood_scores(torch.tensor([[math.nan, 0.0]])), "'logits' must be finite"),
        (lambda: ood_report([], [1.0]), "'in_scores' must be a non-empty 1-D vector"),
        (lambda: ood_report([1.0], [[1.0]]), "'out_scores' must be a non-empty 1-D vector"),
        (lambda: ood_report([1.0], [math.inf]), "'out_scores' must be finite"),
        (lambda: ood_report([1.0], [0.0], threshold=math.nan), "'threshold' must be"),
        (lambda: threshold_for_recall([1.0], keep=0.0), "'keep' must be"),
        (lambda: threshold_for_recall([1.0], keep=1.5), "'keep' must be"),
    ],
)
def test_ood_functions_reject_bad_arguments(call: object, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        call()  # type: ignore[operator]
    assert message in str(caught.value)


# --------------------------------------------------------------------------- real data


@dataclass(frozen=True)
class Logits:
    val: torch.Tensor  # (10_000, 10): MNIST training digits held out of training
    test: torch.Tensor  # (10_000, 10): MNIST test digits
    fashion: torch.Tensor  # (10_000, 10): Fashion-MNIST test images


@pytest.fixture(scope="module")
def logits(mnist: DatasetSplits, fashion: DatasetSplits) -> Logits:
    """An MLP trained for one epoch on 10,000 real digits (about 3 s), and its logits."""
    mnistkit.seed_everything(0)
    model = mnistkit.get_model("mlp")
    config = mnistkit.TrainConfig(epochs=1, progress=False, device="cpu", seed=0)
    mnistkit.Trainer(model, config).fit(mnist.train.subset(slice(0, 10_000)))
    model.eval()

    def forward(images: torch.Tensor) -> torch.Tensor:
        batch = as_image_batch(images)
        with torch.inference_mode():
            return torch.cat([model(batch[i : i + 1000]) for i in range(0, len(batch), 1000)])

    return Logits(
        val=forward(mnist.train.images[50_000:]),
        test=forward(mnist.test.images),
        fashion=forward(fashion.test.images),
    )


@pytest.mark.parametrize(("kind", "floor"), [("msp", 0.75), ("energy", 0.80)])
def test_fashion_mnist_is_told_apart_from_digits(logits: Logits, kind: str, floor: float) -> None:
    # Measured with seeds 0-3: AUROC 0.81-0.90 (msp) and 0.86-0.93 (energy); a well-trained
    # CNN reaches 0.99. Chance is 0.5.
    val = ood_scores(logits.val, kind=kind)
    threshold = threshold_for_recall(val, keep=0.99)
    report = ood_report(
        ood_scores(logits.test, kind=kind),
        ood_scores(logits.fashion, kind=kind),
        threshold=threshold,
    )
    assert isinstance(report, OODReport)
    assert report.auroc > floor, report
    assert report.fpr_at_95_tpr < 0.9, report
    # chosen on held-out training digits, the threshold keeps its promise on the test digits
    # (99%, less sampling noise: about 0.1 points each for 10,000 + 10,000 digits)
    assert report.kept_in is not None and report.kept_in >= 0.985, report
    assert report.rejected_out is not None and report.rejected_out > 0.05, report


def test_plot_ood_scores_draws_two_histograms_and_the_threshold() -> None:
    import matplotlib.pyplot as plt

    from mnistkit import plotting

    rng = np.random.default_rng(0)
    digits, shoes = rng.normal(2.0, 1.0, 2000), rng.normal(0.0, 1.0, 500)
    threshold = threshold_for_recall(digits, keep=0.99)
    try:
        ax = plotting.plot_ood_scores(
            digits, torch.from_numpy(shoes), threshold=threshold, labels=("MNIST", "Fashion")
        )
        first, second = ax.containers[:2]
        widths = [bar.get_width() for bar in first]
        # unit area: both are densities over the same 50 bins
        assert len(first) == len(second) == 50
        assert sum(b.get_height() * w for b, w in zip(first, widths, strict=True)) == (
            pytest.approx(1.0)
        )
        box = ax.get_legend()
        assert box is not None
        legend = [text.get_text() for text in box.get_texts()]
        report = ood_report(digits, shoes, threshold=threshold)
        assert legend[:2] == ["MNIST", "Fashion"]
        assert legend[2] == (
            f"threshold: keeps {report.kept_in:.1%} of MNIST, "
            f"rejects {report.rejected_out:.1%} of Fashion"
        )
        assert np.asarray(ax.lines[0].get_xdata())[0] == threshold
        assert f"AUROC {report.auroc:.4f}" in ax.get_title()
        plain = plotting.plot_ood_scores(digits, shoes, bins=10)
        assert len(plain.containers[0]) == 10 and not plain.lines
        with pytest.raises(ConfigError, match="'bins' must be a positive integer"):
            plotting.plot_ood_scores(digits, shoes, bins=0)
        with pytest.raises(ConfigError, match="'labels' must be a pair of strings"):
            plotting.plot_ood_scores(digits, shoes, labels=("only one",))  # type: ignore[arg-type]
    finally:
        plt.close("all")
