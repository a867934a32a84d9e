"""``inference.evaluate_model`` (the one path from a model to a report) and
``inference.with_test_time_augmentation`` (the ``--tta`` policy), on real MNIST images."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mnistkit import TrainConfig, Trainer, get_model, seed_everything
from mnistkit.datasets import DatasetSplits, Split, get_info
from mnistkit.exceptions import ConfigError
from mnistkit.inference import evaluate_model, predict_proba, with_test_time_augmentation
from mnistkit.metrics import Report
from mnistkit.models import TestTimeAugmentation


@pytest.fixture(scope="module")
def trained(mnist: DatasetSplits) -> nn.Module:
    """An MLP with dropout, trained for one epoch on 4,096 images (seconds)."""
    seed_everything(0)
    model = get_model("mlp", hidden_sizes=(64,), dropout=0.2)
    config = TrainConfig(epochs=1, batch_size=128, device="cpu", progress=False)
    Trainer(model, config).fit(mnist.train.subset(slice(0, 4096)))
    return model


@pytest.fixture(scope="module")
def test_part(mnist: DatasetSplits) -> Split:
    return mnist.test.subset(slice(0, 1000))


def test_the_report_is_that_of_the_models_probabilities(
    trained: nn.Module, test_part: Split
) -> None:
    trained.eval()
    probs = predict_proba(trained, test_part.images, precision="32")
    expected = Report.from_probabilities(probs, test_part.labels, classes=test_part.classes)
    report = evaluate_model(trained, test_part)
    assert report.to_dict() == expected.to_dict()
    assert report.accuracy > 0.8  # a real, if briefly trained, classifier
    assert list(report.classes) == list(test_part.classes)


def test_return_probabilities_gives_what_the_report_was_computed_from(
    trained: nn.Module, test_part: Split
) -> None:
    report, probs = evaluate_model(trained, test_part, batch_size=300, return_probabilities=True)
    assert probs.shape == (1000, 10) and probs.dtype == torch.float32
    torch.testing.assert_close(probs.sum(dim=1), torch.ones(1000))
    accuracy = float((probs.argmax(1) == test_part.labels).double().mean())
    assert report.accuracy == pytest.approx(accuracy, abs=1e-12)
    # batches of 300 or the default 256: the same probabilities
    torch.testing.assert_close(probs, predict_proba(trained, test_part.images))


def test_evaluation_runs_in_eval_mode_and_restores_the_mode(
    trained: nn.Module, test_part: Split
) -> None:
    trained.train()  # dropout on: evaluating in train mode would give random answers
    first = evaluate_model(trained, test_part)
    second = evaluate_model(trained, test_part)
    assert trained.training
    assert first.to_dict() == second.to_dict()
    _, probs = evaluate_model(trained, test_part, return_probabilities=True)
    assert not probs.requires_grad  # computed without autograd


def test_top_k_reaches_the_report(trained: nn.Module, test_part: Split) -> None:
    report = evaluate_model(trained, test_part, top_k=(2, 4))
    tops = report.to_dict()["top_k_accuracy"]
    assert set(tops) == {"2", "4"}
    assert report.accuracy <= tops["2"] <= tops["4"] <= 1.0


def test_a_split_is_required(trained: nn.Module, test_part: Split) -> None:
    with pytest.raises(ConfigError, match="Argument 'split' must be a mnistkit Split"):
        evaluate_model(trained, test_part.images)  # type: ignore[call-overload]


@pytest.mark.parametrize(
    ("dataset", "flip"),
    [
        ("mnist", False),  # a mirrored 2 is no 2
        ("fashion-mnist", True),  # a mirrored shoe is a shoe
        ("fashion", True),  # the names get_info accepts
        (get_info("fashion-mnist"), True),
        (get_info("mnist"), False),
        (None, False),
        ("my-own-digits", False),  # not registered: nothing says mirroring keeps its classes
    ],
)
def test_mirror_views_only_where_the_data_set_allows(dataset: object, flip: bool) -> None:
    model = get_model("linear")
    wrapped = with_test_time_augmentation(model, dataset)  # type: ignore[arg-type]
    assert isinstance(wrapped, TestTimeAugmentation) and wrapped.model is model
    assert wrapped.flip is flip
    assert wrapped.num_views == (10 if flip else 5)


def test_test_time_augmentation_rejects_a_dataset_of_another_type() -> None:
    with pytest.raises(ConfigError, match="Argument 'dataset'"):
        with_test_time_augmentation(get_model("linear"), 3)  # type: ignore[arg-type]
