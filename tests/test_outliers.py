"""Outlier exposure: the synthetic non-digits, and training with them (``outlier_exposure``).

The training tests run a small MLP for a few epochs on 2,000 real MNIST digits.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from mnistkit import ConfigError, TrainConfig, Trainer, get_model, seed_everything
from mnistkit.datasets import DatasetSplits, Split
from mnistkit.inference import predict_logits
from mnistkit.metrics import ood_report, ood_scores
from mnistkit.outliers import step_generator, synthetic_non_digits


def test_the_same_generator_state_gives_the_same_pictures_in_the_unit_range() -> None:
    first = synthetic_non_digits(64, generator=torch.Generator().manual_seed(5))
    again = synthetic_non_digits(64, generator=torch.Generator().manual_seed(5))
    other = synthetic_non_digits(64, generator=torch.Generator().manual_seed(6))
    assert first.shape == (64, 1, 28, 28) and first.dtype == torch.float32
    assert torch.equal(first, again) and not torch.equal(first, other)
    assert first.min() >= 0 and first.max() <= 1
    # each picture is scaled to a brightest pixel of about 1, as a digit's is
    assert torch.allclose(first.amax((1, 2, 3)), torch.ones(64), atol=1e-5)
    # not blank and not all ink: between a digit's and a full square's share of bright pixels
    ink = (first > 0.5).float().mean((1, 2, 3))
    assert ink.min() > 0 and ink.max() < 1
    # the four families give pictures that differ: no two identical
    assert len({tuple(p.flatten().tolist()) for p in first}) == 64
    assert synthetic_non_digits(0, generator=torch.Generator()).shape == (0, 1, 28, 28)


def test_step_generators_depend_on_every_number_of_the_position() -> None:
    def draw(*key: int) -> torch.Tensor:
        return torch.rand(4, generator=step_generator(*key))

    assert torch.equal(draw(0, 1, 2, 0), draw(0, 1, 2, 0))
    keys = [(0, 1, 2, 0), (1, 1, 2, 0), (0, 2, 2, 0), (0, 1, 3, 0), (0, 1, 2, 1), (0, 2, 1, 0)]
    assert len({tuple(draw(*key).tolist()) for key in keys}) == len(keys)


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ConfigError, match="'count'"):
        synthetic_non_digits(-1, generator=torch.Generator())
    with pytest.raises(ConfigError, match="'generator'"):
        synthetic_non_digits(3, generator=0)  # type: ignore[arg-type]
    for bad in (-0.5, float("inf"), "1"):
        with pytest.raises(ConfigError, match="'outlier_exposure'"):
            TrainConfig(outlier_exposure=bad)  # type: ignore[arg-type]
    assert TrainConfig().outlier_exposure == 0.0


@pytest.fixture(scope="module")
def digits(mnist: DatasetSplits) -> Split:
    return mnist.train.subset(slice(0, 2000))


def _fit(train: Split, **changes: object) -> Trainer:
    seed_everything(0)
    config = TrainConfig(epochs=3, batch_size=128, device="cpu", progress=False).replace(**changes)
    trainer = Trainer(get_model("mlp", hidden_sizes=(64,), dropout=0.0), config)
    trainer.fit(train)
    return trainer


def test_outlier_exposure_makes_the_energy_score_tell_non_digits_from_digits(
    digits: Split, mnist: DatasetSplits
) -> None:
    test = mnist.test.subset(slice(0, 500))
    # pictures the training never drew: another generator than any step's
    others = synthetic_non_digits(300, generator=torch.Generator().manual_seed(12345))

    def separation(trainer: Trainer) -> tuple[float, float]:
        model = trainer.inference_model
        logits = predict_logits(model, test.images)
        accuracy = float((logits.argmax(1) == test.labels).float().mean())
        outside = predict_logits(model, others)
        report = ood_report(ood_scores(logits, kind="energy"), ood_scores(outside, kind="energy"))
        return report.auroc, accuracy

    plain_auroc, plain_accuracy = separation(_fit(digits))
    exposed_auroc, exposed_accuracy = separation(_fit(digits, outlier_exposure=0.5))
    # measured (seeds 0 to 3): 0.82-0.88 without, 0.94-0.98 with
    assert exposed_auroc > plain_auroc + 0.05
    assert exposed_auroc > 0.9
    # and the digits are still learnt
    assert exposed_accuracy > plain_accuracy - 0.03


def test_a_resumed_run_with_outlier_exposure_ends_as_the_uninterrupted_one(
    digits: Split, tmp_path: Path
) -> None:
    # the pictures come from (seed, epoch, step, rank): a resume needs no extra state
    small = digits.subset(slice(0, 640))
    settings = {"epochs": 2, "outlier_exposure": 0.5, "schedule": "none"}
    whole = _fit(small, **settings)
    first = _fit(small, **{**settings, "epochs": 1})
    state = first.save_state(tmp_path / "state.pt")
    seed_everything(123)  # the resumed process's global random state is not the run's
    config = TrainConfig(device="cpu", progress=False, **settings)  # type: ignore[arg-type]
    resumed = Trainer(get_model("mlp", hidden_sizes=(64,), dropout=0.0), config)
    resumed.fit(small, resume_from=state)
    for a, b in zip(whole.model.parameters(), resumed.model.parameters(), strict=True):
        assert torch.equal(a, b)
    assert whole.history.train_loss == resumed.history.train_loss
    # and the outliers' term is in the loss: the same run without it ends elsewhere
    plain = _fit(small, **{**settings, "outlier_exposure": 0.0})
    assert not torch.equal(next(plain.model.parameters()), next(whole.model.parameters()))


def test_a_train_step_override_without_outliers_still_works(digits: Split) -> None:
    # Trainer.train_step is documented for subclassing; one written before the option
    # existed takes no ``outliers`` and is called as before when the option is off
    calls: list[int] = []

    class Counting(Trainer):
        def train_step(  # type: ignore[override]  # the signature before the option
            self, images: torch.Tensor, labels: torch.Tensor, *, global_count: int | None = None
        ) -> tuple[torch.Tensor, torch.Tensor]:
            calls.append(images.shape[0])
            return super().train_step(images, labels, global_count=global_count)

    config = TrainConfig(epochs=1, batch_size=100, device="cpu", progress=False)
    Counting(get_model("linear"), config).fit(digits.subset(slice(0, 300)))
    assert calls == [100, 100, 100]
