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


def test_seed_decides_the_weights(few: Split) -> None:
    def weights(seed: int) -> torch.Tensor:
        seed_everything(seed)
        model = get_model("mlp", hidden_sizes=(16,))
        Trainer(model, TrainConfig(epochs=1, device="cpu", progress=False, seed=seed)).fit(few)
        return _flat(model)

    assert torch.equal(weights(3), weights(3))
    assert not torch.equal(weights(3), weights(4))


def test_eval_batch_size_changes_the_batches_not_the_results(few: Split) -> None:
    trainer = _fit(few, epochs=1)
    calls: list[int] = []
    trainer.model.register_forward_hook(lambda m, i, o: calls.append(int(o.shape[0])))
    small = trainer.config.replace(eval_batch_size=100)
    big = Trainer(trainer.model, small).predict_proba(few.images)
    assert calls[:6] == [100, 100, 100, 100, 100, 12]
    calls.clear()
    whole = Trainer(trainer.model, small.replace(eval_batch_size=512)).predict_proba(few.images)
    assert calls == [512]
    torch.testing.assert_close(big, whole, rtol=1e-5, atol=1e-6)


def test_augment_reaches_the_training_batches_only(few: Split, mnist: DatasetSplits) -> None:
    """Training batches go through ``augment``; validation batches do not, and are split by
    ``eval_batch_size``."""
    from mnistkit.augment import RandomAffine

    seen: list[int] = []

    def counting(batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        seen.append(batch.shape[0])
        return RandomAffine(degrees=20.0)(batch, generator)

    val = mnist.test.subset(slice(0, 300))
    config = TrainConfig(
        epochs=1, batch_size=128, eval_batch_size=200, device="cpu", progress=False, seed=0
    )
    evaluated: list[int] = []
    seed_everything(0)
    model = get_model("mlp", hidden_sizes=(64,), dropout=0.0)
    trainer = Trainer(model, config, augment=counting)
    trainer.fit(few)  # training only: every batch augmented
    assert seen == [128, 128, 128, 128]
    seen.clear()
    hook = model.register_forward_hook(lambda m, i, o: evaluated.append(int(o.shape[0])))
    trainer = Trainer(model, config.replace(epochs=2), augment=counting)
    trainer.fit(few, val)
    hook.remove()
    assert seen == [128] * 8  # two epochs of training batches, no validation batch
    assert evaluated.count(200) == 2 and evaluated.count(100) == 2  # val 300 = 200 + 100
    # and the augmented batches are what the model learns from
    weights = []
    for augment in (None, counting):
        seed_everything(0)
        net = get_model("mlp", hidden_sizes=(64,), dropout=0.0)
        Trainer(net, config, augment=augment).fit(few)
        weights.append(_flat(net))
    assert not torch.equal(weights[0], weights[1])


def test_drop_last_drops_the_short_batch(few: Split) -> None:
    from mnistkit import DeviceLoader

    kept = [len(labels) for _, labels in DeviceLoader(few, batch_size=200)]
    dropped = [len(labels) for _, labels in DeviceLoader(few, batch_size=200, drop_last=True)]
    assert kept == [200, 200, 112] and dropped == [200, 200]


def test_momentum_reaches_sgd_and_changes_the_path(few: Split) -> None:
    heavy = _fit(few, optimizer="momentum", momentum=0.9, lr=0.05, epochs=1)
    light = _fit(few, optimizer="momentum", momentum=0.0, lr=0.05, epochs=1)
    assert heavy.state is not None and light.state is not None
    assert heavy.state.optimizer.param_groups[0]["momentum"] == 0.9
    assert heavy.state.optimizer.param_groups[0]["nesterov"] is True
    assert not torch.equal(_flat(heavy.model), _flat(light.model))


def test_dropout_is_random_in_training_only() -> None:
    x = torch.rand(8, 1, 28, 28)
    for name in ("mlp", "cnn"):
        noisy = get_model(name, dropout=0.5).train()
        assert not torch.equal(noisy(x), noisy(x)), name
        assert torch.equal(noisy.eval()(x), noisy(x)), name
        plain = get_model(name, dropout=0.0).train()
        assert torch.equal(plain(x), plain(x)), name


def test_model_options_build_what_they_name() -> None:
    bn = get_model("cnn", batch_norm=True, channels=(4, 8, 16))
    convs = [m for m in bn.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [4, 8, 16]
    assert all(c.bias is None for c in convs)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in bn.modules()) == 3
    tanh = get_model("mlp", activation="tanh", hidden_sizes=(32, 16))
    assert sum(isinstance(m, nn.Tanh) for m in tanh.modules()) == 2
    assert not any(isinstance(m, nn.ReLU) for m in tanh.modules())


def test_mixed_precision_really_autocasts(few: Split) -> None:
    dtypes: list[torch.dtype] = []
    model = get_model("cnn", channels=(4, 8), hidden=16)
    model.features[0].register_forward_hook(lambda m, i, o: dtypes.append(o.dtype))
    _fit(few, model, epochs=1, precision="bf16-mixed")
    assert dtypes and set(dtypes) == {torch.bfloat16}
    dtypes.clear()
    model32 = get_model("cnn", channels=(4, 8), hidden=16)
    model32.features[0].register_forward_hook(lambda m, i, o: dtypes.append(o.dtype))
    _fit(few, model32, epochs=1, precision="32")
    assert set(dtypes) == {torch.float32}
