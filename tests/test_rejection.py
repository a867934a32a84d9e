""" "Not a digit" as an answer: the rejection threshold, in model files, Python and the CLI.

The statistics themselves (AUROC, AUPR, FPR at 95% TPR) are checked against scikit-learn in
``tests/test_ood.py``; here the same references check what ``mnistkit evaluate --ood`` prints
for a real model, trained briefly by ``mnistkit train`` with a validation split.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import safetensors.torch
import torch
from PIL import Image
from sklearn.metrics import (  # type: ignore[import-untyped]
    average_precision_score,
    roc_auc_score,
    roc_curve,
)

import mnistkit
from mnistkit import pretrained
from mnistkit.checkpoints import load_model, save_model, set_rejection_threshold
from mnistkit.cli import main
from mnistkit.datasets import DatasetSplits
from mnistkit.exceptions import CheckpointError, ConfigError
from mnistkit.imaging import load_image
from mnistkit.inference import (
    REJECTED,
    choose_rejection_threshold,
    default_score,
    predict,
    predict_logits,
    predict_with_rejection,
)
from mnistkit.loaders import train_val_split
from mnistkit.metrics import RejectionThreshold, ood_scores
from mnistkit.metrics.ood import SCORE_KINDS
from mnistkit.models import Ensemble, TestTimeAugmentation
from mnistkit.run import run_training

# --------------------------------------------------------------------------- the rule


def test_threshold_from_scores_keeps_the_promised_share() -> None:
    rng = np.random.default_rng(0)
    for n, keep in [(1, 0.99), (7, 0.5), (1000, 0.99), (999, 0.95), (10, 1.0)]:
        scores = rng.normal(size=n)
        rule = RejectionThreshold.from_scores(scores, keep=keep, chosen_on="noise")
        kept = float(np.mean(scores >= rule.threshold))
        assert kept >= keep
        # the largest such threshold: one step higher keeps too few
        higher = scores[scores > rule.threshold]
        if higher.size:
            assert float(np.mean(scores >= higher.min())) < keep
        assert rule.num_images == n and rule.keep == keep and rule.chosen_on == "noise"
        assert rule.score == "energy" and rule.temperature == 1.0


def test_threshold_rejects_below_and_round_trips() -> None:
    logits = torch.tensor([[9.0, 0.0, 0.0], [1.0, 1.0, 0.9], [3.0, 2.0, 0.0]])
    for kind in SCORE_KINDS:
        scores = ood_scores(logits, kind=kind, temperature=2.0)
        rule = RejectionThreshold(float(scores[2]), score=kind, temperature=2.0)
        assert rule.rejects(logits).tolist() == (scores < scores[2]).tolist()
        assert torch.equal(rule.scores(logits), scores)
        again = RejectionThreshold.from_dict(json.loads(json.dumps(rule.to_dict())))
        assert again == rule
    assert "energy score" in str(RejectionThreshold(5.0, chosen_on="val"))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"threshold": float("nan")}, "'threshold'"),
        ({"threshold": 1.0, "score": "entropy"}, "'score'"),
        ({"threshold": 1.0, "temperature": 0.0}, "'temperature'"),
        ({"threshold": 1.0, "keep": 1.5}, "'keep'"),
        ({"threshold": 1.0, "num_images": -1}, "'num_images'"),
    ],
)
def test_threshold_refuses_bad_values(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        RejectionThreshold(**kwargs)  # type: ignore[arg-type]


def test_threshold_from_dict_refuses_unknown_or_missing_keys() -> None:
    with pytest.raises(ConfigError, match="unknown keys"):
        RejectionThreshold.from_dict({"threshold": 1.0, "cutoff": 2.0})
    with pytest.raises(ConfigError, match="'threshold' key"):
        RejectionThreshold.from_dict({"score": "msp"})


# --------------------------------------------------------------------------- model files


def test_model_file_keeps_its_threshold(tmp_path: Path) -> None:
    mnistkit.seed_everything(0)
    model = mnistkit.get_model("linear")
    rule = RejectionThreshold(4.25, score="energy", keep=0.99, chosen_on="test", num_images=3)
    path = save_model(model, tmp_path / "m.safetensors", metrics={"x": 1}, rejection=rule)
    loaded = load_model(path)
    assert loaded.metadata.rejection == rule
    assert "rejection" in loaded.metadata._repr_html_()

    # without one: None, as in files written before thresholds existed
    plain = save_model(model, tmp_path / "plain.safetensors")
    assert load_model(plain).metadata.rejection is None

    # set on an existing file: weights and other metadata unchanged, file replaced
    other = RejectionThreshold(0.9, score="msp")
    assert set_rejection_threshold(plain, other) == plain
    again = load_model(plain)
    assert again.metadata.rejection == other
    before = safetensors.torch.load_file(str(path))
    after = safetensors.torch.load_file(str(plain))
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)
    # elsewhere, then removed
    copy = set_rejection_threshold(path, None, out=tmp_path / "copy.safetensors")
    assert load_model(copy).metadata.rejection is None
    assert load_model(copy).metadata.metrics == {"x": 1}
    assert load_model(path).metadata.rejection == rule


def test_malformed_threshold_in_a_file_is_a_checkpoint_error(tmp_path: Path) -> None:
    model = mnistkit.get_model("linear")
    path = save_model(model, tmp_path / "m.safetensors")
    tensors = safetensors.torch.load_file(str(path))
    with safetensors.safe_open(str(path), framework="pt") as handle:
        header = json.loads(handle.metadata()["mnistkit"])
    header["rejection"] = {"threshold": "high"}
    safetensors.torch.save_file(tensors, str(path), metadata={"mnistkit": json.dumps(header)})
    with pytest.raises(CheckpointError, match="malformed rejection threshold"):
        load_model(path)
    with pytest.raises(CheckpointError, match="'rejection'"):
        set_rejection_threshold(path, 3.0)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- Python API


def test_predict_rejects_below_the_threshold() -> None:
    mnistkit.seed_everything(0)
    model = mnistkit.get_model("mlp").eval()
    images = torch.rand(40, 28, 28)
    logits = predict_logits(model, images)
    with torch.inference_mode():
        expected_logits = model(images.unsqueeze(1))
    torch.testing.assert_close(logits, expected_logits)
    scores = ood_scores(logits, kind="energy")
    rule = RejectionThreshold(float(scores.median()))
    answers = predict_with_rejection(model, images, rule)
    assert torch.equal(answers.rejected, scores < rule.threshold)
    assert 0 < int(answers.rejected.sum()) < 40
    assert torch.equal(answers.best_guess, logits.argmax(1))
    assert torch.equal(answers.scores, scores)
    labels = predict(model, images, reject=rule)
    assert torch.equal(labels, torch.where(answers.rejected, REJECTED, answers.best_guess))
    assert torch.equal(predict(model, images), logits.argmax(1))
    torch.testing.assert_close(answers.probabilities, mnistkit.predict_proba(model, images))
    assert repr(answers) == f"Predictions(n=40, rejected={int(answers.rejected.sum())})"
    with pytest.raises(ConfigError, match="'reject'"):
        predict_with_rejection(model, images, None)  # type: ignore[arg-type]
    # chosen on these images, the threshold keeps the share asked for
    chosen = choose_rejection_threshold(model, images, keep=0.75, chosen_on="noise")
    assert chosen.score == "energy" and chosen.num_images == 40
    assert int((~predict_with_rejection(model, images, chosen).rejected).sum()) == 30


def test_ensembles_are_scored_by_their_probability() -> None:
    # an ensemble returns log-probabilities, whose energy is 0 for every image
    members = [mnistkit.get_model("linear"), mnistkit.get_model("linear")]
    assert default_score(Ensemble(members)) == "msp"
    assert default_score(TestTimeAugmentation(members[0])) == "msp"
    assert default_score(members[0]) == "energy"
    images = torch.rand(20, 28, 28)
    assert choose_rejection_threshold(Ensemble(members), images).score == "msp"


# --------------------------------------------------------------------------- real data


@pytest.fixture(scope="module")
def trained(data_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What ``mnistkit train --model linear --epochs 2`` does (a few seconds; without its
    figures): a run with the default validation split, whose model file has a threshold."""
    out = tmp_path_factory.mktemp("reject") / "run"
    recipe = mnistkit.get_recipe("linear").replace(epochs=2, progress=False)
    result = run_training(out, recipe=recipe, val_fraction=0.1, data_dir=data_root, figures=False)
    return result.model_path


@pytest.mark.slow
def test_train_stores_a_threshold_that_keeps_99_percent_of_validation_digits(
    trained: Path, mnist: DatasetSplits
) -> None:
    loaded = load_model(trained)
    rule = loaded.metadata.rejection
    assert rule is not None
    assert rule.score == "energy" and rule.keep == 0.99
    _, val = train_val_split(mnist.train, val_fraction=0.1, seed=0)
    assert rule.chosen_on.startswith("mnist validation split") and rule.num_images == len(val)
    rejected = predict_with_rejection(loaded.model, val.images, rule).rejected
    assert 1 - float(rejected.double().mean()) >= 0.99
    metrics = json.loads((trained.parent / "metrics.json").read_text())
    assert metrics["rejection"] == rule.to_dict()


@pytest.mark.slow
def test_evaluate_ood_equals_sklearn_and_tells_shoes_from_digits(
    trained: Path,
    data_root: Path,
    mnist: DatasetSplits,
    fashion: DatasetSplits,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    plot = tmp_path / "ood.png"
    argv = ["evaluate", str(trained), "--ood", "fashion-mnist", "--data-dir", str(data_root)]
    assert main([*argv, "--json", "--ood-plot", str(plot)]) == 0
    found = json.loads(capsys.readouterr().out)
    model = load_model(trained).model
    digits, shoes = (
        predict_logits(model, mnist.test.images),
        predict_logits(model, fashion.test.images),
    )
    y = np.r_[np.ones(len(digits)), np.zeros(len(shoes))]
    for kind in SCORE_KINDS:
        s = torch.cat([ood_scores(digits, kind=kind), ood_scores(shoes, kind=kind)]).numpy()
        report = found["ood"]["scores"][kind]
        assert report["auroc"] == pytest.approx(roc_auc_score(y, s), abs=1e-9)
        assert report["aupr_in"] == pytest.approx(average_precision_score(y, s), abs=1e-9)
        assert report["aupr_out"] == pytest.approx(average_precision_score(1 - y, -s), abs=1e-9)
        fpr, tpr, _ = roc_curve(y, s, drop_intermediate=False)
        at95 = float(fpr[np.searchsorted(tpr, 0.95, side="left")])
        assert report["fpr_at_95_tpr"] == pytest.approx(at95, abs=1e-9)
    # a linear model trained for two epochs (seed 0): energy AUROC 0.82, 29% of Fashion-MNIST
    # rejected at the threshold (the default recipe's CNN: 0.994 and 88%); chance is 0.5
    energy = found["ood"]["scores"]["energy"]
    assert energy["auroc"] > 0.75, energy
    # the stored threshold, chosen on validation digits, keeps its promise on test digits
    assert found["rejection"]["test_kept"] >= 0.985
    assert energy["kept_in"] == pytest.approx(found["rejection"]["test_kept"])
    assert energy["rejected_out"] > 0.2
    with Image.open(plot) as image:
        assert image.size[0] > 800
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "rejection threshold: not a digit when the energy score is below" in text
    assert f"{energy['auroc']:.4f}" in text


@pytest.mark.slow
def test_threshold_command_and_predict_reject(
    trained: Path,
    data_root: Path,
    mnist: DatasetSplits,
    fashion: DatasetSplits,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    stored = load_model(trained).metadata.rejection
    assert stored is not None
    older = set_rejection_threshold(trained, None, out=tmp_path / "older.safetensors")

    # predict --reject needs a threshold, and says how to add one
    digit = mnist.test.images[0]
    picture = tmp_path / "digit.png"
    Image.fromarray(digit.numpy()).save(picture)
    assert main(["predict", str(older), str(picture), "--reject"]) == 2
    assert f"mnistkit threshold {older}" in capsys.readouterr().err

    # the threshold chosen afterwards on the same validation split is the training's
    argv = ["threshold", str(older), "--data-dir", str(data_root)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert f"wrote {older}" in out and "on the 10,000 mnist test images it keeps" in out
    rule = load_model(older).metadata.rejection
    assert rule is not None
    assert rule.threshold == pytest.approx(stored.threshold, rel=1e-6)
    assert rule.chosen_on == stored.chosen_on

    # of 30 pictures of clothes, the one the model is least sure of (after predict's
    # preprocessing), and a digit: one rejected, one answered
    model = load_model(older).model
    shoes = [tmp_path / f"shoe{i}.png" for i in range(30)]
    for path, image in zip(shoes, fashion.test.images, strict=False):
        Image.fromarray(image.numpy()).save(path)
    seen = torch.stack([load_image(path) for path in shoes])
    scores = rule.scores(predict_logits(model, seen))
    shoe = shoes[int(scores.argmin())]
    assert float(scores.min()) < rule.threshold
    assert main(["predict", str(older), str(picture), str(shoe), "--reject"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"{picture} {int(mnist.test.labels[0])} ")
    assert lines[1].startswith(f"{shoe} not a digit (best guess ")
    assert lines[1].endswith(")") and ", p=0." in lines[1]
    assert main(["predict", str(older), str(shoe), "--reject", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["rejected"] is True and record["label"] is None
    assert record["score"] < rule.threshold
    # a bundled model is never rewritten in place
    assert main(["threshold", "pretrained:fast", "--data-dir", str(data_root)]) == 2
    assert "--out" in capsys.readouterr().err


def test_bundled_models_have_thresholds_chosen_on_their_training_images(
    mnist: DatasetSplits,
) -> None:
    # trained on all 60,000 digits, they have no held-out ones: benchmarks/make_pretrained.py
    # chooses on the training digits, which keeps fewer than 99% of new ones (RESULTS.md)
    for name in pretrained.list_pretrained():
        rule = pretrained.load(name).metadata.rejection
        assert rule is not None, name
        assert rule.score == "energy" and rule.keep == 0.99 and rule.num_images == 60_000
        assert "training split" in rule.chosen_on
    loaded = pretrained.load("fast")
    assert loaded.metadata.rejection is not None
    answers = predict_with_rejection(loaded.model, mnist.test.images, loaded.metadata.rejection)
    assert 0.97 <= 1 - float(answers.rejected.double().mean()) < 0.995
