"""Each training option takes effect: the smallest honest experiment per option.

An option that is accepted and then ignored would leave every accuracy test green; these
tests fail instead. They train for a few batches on real MNIST images.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch import nn

from mnistkit import EarlyStopping, History, TrainConfig, Trainer, get_model, seed_everything
from mnistkit.callbacks import RunView
from mnistkit.datasets import DatasetSplits, Split


@pytest.fixture(scope="module")
def few(mnist: DatasetSplits) -> Split:
    return mnist.train.subset(slice(0, 512))


def _fit(split: Split, model: nn.Module | None = None, **changes: object) -> Trainer:
    seed_everything(0)
    model = model if model is not None else get_model("mlp", hidden_sizes=(64,), dropout=0.0)
    config = TrainConfig(
        epochs=2, batch_size=128, device="cpu", progress=False, schedule="none"
    ).replace(**changes)
    trainer = Trainer(model, config)
    trainer.fit(split)
    return trainer


def _flat(model: nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def test_label_smoothing_raises_the_training_loss(few: Split) -> None:
    plain = _fit(few, epochs=4).history.train_loss[-1]
    smoothed = _fit(few, epochs=4, label_smoothing=0.3).history.train_loss[-1]
    # a smoothed target can never be met exactly: its loss stays above the entropy floor
    assert smoothed > plain + 0.3


def test_weight_decay_shrinks_the_weights(few: Split) -> None:
    free = _flat(_fit(few, optimizer="adamw", weight_decay=0.0).model).norm()
    decayed = _flat(_fit(few, optimizer="adamw", weight_decay=5.0, lr=0.01).model).norm()
    baseline = _flat(_fit(few, optimizer="adamw", weight_decay=0.0, lr=0.01).model).norm()
    assert decayed < 0.9 * baseline and free > 0


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "momentum", "adadelta"])
def test_weight_decay_reaches_every_optimizer(few: Split, optimizer: str) -> None:
    trainer = _fit(few, optimizer=optimizer, weight_decay=0.25, epochs=1)
    assert trainer.state is not None
    assert trainer.state.optimizer.param_groups[0]["weight_decay"] == 0.25


def test_gradient_clipping_bounds_the_update(few: Split) -> None:
    one_batch = few.subset(slice(0, 128))
    seed_everything(0)
    start = get_model("mlp", hidden_sizes=(64,), dropout=0.0)
    before = _flat(start).clone()
    clipped = _fit(one_batch, start, optimizer="sgd", lr=1.0, grad_clip=1e-3, epochs=1)
    step = (_flat(clipped.model) - before).norm().item()
    assert step == pytest.approx(1e-3, rel=1e-3)  # plain SGD: the step is lr × clipped grad
    seed_everything(0)
    free_start = get_model("mlp", hidden_sizes=(64,), dropout=0.0)
    free = _fit(one_batch, free_start, optimizer="sgd", lr=1.0, epochs=1)
    assert (_flat(free.model) - before).norm().item() > 100 * step


def _view() -> RunView:
    model = get_model("linear")
    return RunView(
        model=model,
        config=TrainConfig(epochs=20),
        device=torch.device("cpu"),
        precision="32",
        history=History(),
        dataset="mnist",
        train_size=1,
        batches_per_epoch=1,
        start_epoch=0,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
        save_model=lambda path, metrics: Path(path),
        save_state=Path,
    )


@pytest.mark.parametrize("patience", [1, 2, 3])
def test_early_stopping_stops_after_exactly_patience_epochs(patience: int) -> None:
    run, stopper = _view(), EarlyStopping(monitor="val_loss", patience=patience)
    stopper.on_fit_start(run)
    losses = [1.0, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]  # best at epoch 2, then worse each epoch
    stopped_at = None
    for epoch, loss in enumerate(losses, start=1):
        stopper.on_epoch_end(run, epoch, {"val_loss": loss})
        if run.stop_requested:
            stopped_at = epoch
            break
    assert stopped_at == 2 + patience
    assert stopper.best_epoch == 2 and stopper.best == 0.5


def test_min_delta_counts_small_gains_as_none() -> None:
    run, stopper = _view(), EarlyStopping(monitor="val_loss", patience=1, min_delta=0.1)
    stopper.on_fit_start(run)
    stopper.on_epoch_end(run, 1, {"val_loss": 1.0})
    stopper.on_epoch_end(run, 2, {"val_loss": 0.95})  # better, but by less than min_delta
    assert run.stop_requested


@pytest.mark.parametrize("schedule", ["step", "cosine", "onecycle", "none"])
def test_each_schedule_follows_its_formula(few: Split, schedule: str) -> None:
    rates: list[float] = []

    from mnistkit.callbacks import Callback

    class Rates(Callback):
        def on_batch_end(self, run: RunView, batch: int, loss: float | None) -> None:
            rates.append(run.lr)  # the rate the next step will use

    seed_everything(0)
    config = TrainConfig(
        epochs=3,
        batch_size=128,
        device="cpu",
        progress=False,
        optimizer="sgd",
        lr=0.2,
        schedule=schedule,
        step_size=1,
        gamma=0.5,
    )
    Trainer(get_model("linear"), config, callbacks=[Rates()]).fit(few)
    steps = 3 * 4  # 512 images in batches of 128
    assert len(rates) == steps
    # rates[k] is the rate after batch k: per-epoch schedules step after an epoch's last
    # batch, per-batch schedules after every batch (so rates[k] is the formula at k + 1)
    for k, rate in enumerate(rates):
        s = k + 1
        if schedule == "none":
            expected = 0.2
        elif schedule == "step":
            expected = 0.2 * 0.5 ** (k // 4)
        elif schedule == "cosine":
            expected = 0.1 * (1 + math.cos(math.pi * s / steps))
        else:  # onecycle: up from lr/25 over 25% of the steps, then cosine down to lr/25e4
            start, low, top, warm = 0.2 / 25, 0.2 / 25 / 1e4, 0.2, 3 - 1
            if s <= warm:
                expected = start + (top - start) * (1 - math.cos(math.pi * s / warm)) / 2
            else:
                phase = (s - warm) / (steps - 1 - warm)
                expected = low + (top - low) * (1 + math.cos(math.pi * phase)) / 2
        assert rate == pytest.approx(expected, rel=1e-6, abs=1e-12), (schedule, k)
