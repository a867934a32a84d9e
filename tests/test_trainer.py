"""Trainer, TrainConfig, History and callbacks on real MNIST."""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import mnistkit
from mnistkit import (
    Callback,
    EarlyStopping,
    MetricsLogger,
    ModelCheckpoint,
    RunView,
    TrainConfig,
    Trainer,
    TrainingStateCheckpoint,
    get_model,
    seed_everything,
)
from mnistkit.datasets import DatasetSplits, Split


@pytest.fixture(scope="module")
def small(mnist: DatasetSplits) -> tuple[Split, Split]:
    """The first 4,000 training and 1,000 test images: enough to learn, quick to train."""
    return mnist.train.subset(slice(0, 4000)), mnist.test.subset(slice(0, 1000))


def _config(**changes: object) -> TrainConfig:
    base = TrainConfig(epochs=2, batch_size=64, device="cpu", progress=False)
    return base.replace(**changes)


# ------------------------------------------------------------------------------ config
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("epochs", 0),
        ("epochs", 1.5),
        ("batch_size", -3),
        ("optimizer", "rmsprop"),
        ("schedule", "linear"),
        ("lr", 0.0),
        ("lr", float("nan")),
        ("momentum", 1.0),
        ("gamma", 0.0),
        ("weight_decay", -1e-4),
        ("label_smoothing", 1.0),
        ("grad_clip", 0),
        ("seed", -1),
        ("precision", "fp8"),
        ("device", 0),
        ("progress", "yes"),
    ],
)
def test_bad_config_values(field: str, value: object) -> None:
    with pytest.raises(mnistkit.ConfigError, match=f"'{field}'") as info:
        TrainConfig(**{field: value})  # type: ignore[arg-type]
    assert repr(value) in str(info.value)


def test_config_is_frozen_and_lr_defaults() -> None:
    config = TrainConfig()
    with pytest.raises(AttributeError):
        config.epochs = 3  # type: ignore[misc]
    assert TrainConfig(optimizer="sgd", schedule="none").effective_lr == 0.1
    assert TrainConfig(optimizer="adamw", schedule="onecycle").effective_lr == pytest.approx(3e-3)
    assert TrainConfig(lr=0.5).effective_lr == 0.5
    assert config.replace(epochs=9).epochs == 9 and config.epochs == 5


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error without CUDA (as in CI)")
def test_unavailable_device_fails_at_construction() -> None:
    with pytest.raises(mnistkit.DeviceError, match="CUDA is not available"):
        Trainer(get_model("linear"), TrainConfig(device="cuda"))


# ------------------------------------------------------------------------------ training
def test_fit_learns_and_history_is_complete(small: tuple[Split, Split]) -> None:
    train, val = small
    seed_everything(0)
    trainer = Trainer(get_model("mlp"), _config(epochs=3))
    history = trainer.fit(train, val=val)
    assert history.epochs == [1, 2, 3]
    assert set(history.records[0]) == {
        "epoch",
        "train_loss",
        "train_accuracy",
        "val_loss",
        "val_accuracy",
        "lr",
        "seconds",
    }
    assert history.train_loss[-1] < history.train_loss[0]
    assert history.val_accuracy[-1] > 0.88
    assert all(s > 0 for s in history.seconds)
    assert history.lr[0] < max(history.lr)  # one-cycle warms up
    assert json.loads(history.to_json())["records"][2]["epoch"] == 3


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam", "adamw", "adadelta"])
@pytest.mark.parametrize("schedule", ["none", "step", "cosine", "onecycle"])
def test_every_optimizer_and_schedule_learns(
    small: tuple[Split, Split], optimizer: str, schedule: str
) -> None:
    train, val = small
    seed_everything(0)
    trainer = Trainer(
        get_model("linear"), _config(epochs=1, optimizer=optimizer, schedule=schedule)
    )
    history = trainer.fit(train, val=val)
    assert history.val_accuracy[0] > 0.7, (optimizer, schedule, history)  # chance is 0.1


def test_same_seed_gives_identical_histories(small: tuple[Split, Split]) -> None:
    train, val = small

    def run() -> tuple[list[dict[str, float]], dict[str, torch.Tensor]]:
        seed_everything(0)
        model = get_model("cnn", channels=(8, 16), hidden=32)
        history = Trainer(model, _config()).fit(train, val=val)
        records = [{k: v for k, v in r.items() if k != "seconds"} for r in history]
        return records, model.state_dict()

    first, weights_a = run()
    second, weights_b = run()
    assert first == second
    for name in weights_a:
        assert torch.equal(weights_a[name], weights_b[name]), name


class _Interrupt(Callback):
    def __init__(self, at_epoch: int) -> None:
        self.at_epoch = at_epoch

    def on_epoch_start(self, run: RunView, epoch: int) -> None:
        if epoch == self.at_epoch:
            raise KeyboardInterrupt


def test_interrupted_then_resumed_equals_uninterrupted(
    small: tuple[Split, Split], tmp_path: Path
) -> None:
    train, _ = small
    config = _config(epochs=3)

    def fresh_model() -> nn.Module:
        seed_everything(0)
        return get_model("cnn", channels=(8, 16), hidden=32, dropout=0.3)

    full = Trainer(fresh_model(), config)
    full_history = full.fit(train)

    state = tmp_path / "state.pt"
    interrupted = Trainer(
        fresh_model(), config, callbacks=[TrainingStateCheckpoint(state), _Interrupt(3)]
    )
    with pytest.raises(KeyboardInterrupt):
        interrupted.fit(train)
    assert len(interrupted.history) == 2

    seed_everything(123)  # a different global state: resuming must restore it
    resumed_model = get_model("cnn", channels=(8, 16), hidden=32, dropout=0.3)
    resumed = Trainer(resumed_model, config)
    history = resumed.fit(train, resume_from=state)
    assert history.epochs == [1, 2, 3]
    assert history.train_loss == full_history.train_loss
    for name, tensor in full.model.state_dict().items():
        assert torch.equal(tensor, resumed_model.state_dict()[name]), name


def test_resume_refuses_a_different_configuration(
    small: tuple[Split, Split], tmp_path: Path
) -> None:
    train, _ = small
    state = tmp_path / "state.pt"
    Trainer(get_model("linear"), _config(epochs=1), callbacks=[TrainingStateCheckpoint(state)]).fit(
        train
    )
    other = Trainer(get_model("linear"), _config(epochs=1, lr=0.5))
    with pytest.raises(mnistkit.CheckpointError, match="lr"):
        other.fit(train, resume_from=state)
    with pytest.raises(mnistkit.CheckpointError, match="does not fit"):
        Trainer(get_model("mlp"), _config(epochs=1)).fit(train, resume_from=state)


def test_bf16_mixed_precision_on_cpu_agrees_with_float32(small: tuple[Split, Split]) -> None:
    train, val = small
    results = {}
    for precision in ("32", "bf16-mixed"):
        seed_everything(0)
        trainer = Trainer(get_model("mlp"), _config(epochs=1, precision=precision))
        results[precision] = trainer.fit(train, val=val).val_accuracy[0]
    assert results["bf16-mixed"] > 0.85, results
    assert abs(results["bf16-mixed"] - results["32"]) < 0.03


# ------------------------------------------------------------------------------ use
def test_evaluate_and_predict_agree(small: tuple[Split, Split]) -> None:
    train, val = small
    seed_everything(0)
    trainer = Trainer(get_model("linear"), _config())
    trainer.fit(train)
    report = trainer.evaluate(val)
    predicted = trainer.predict(val.images)
    assert report.accuracy == pytest.approx((predicted == val.labels).double().mean().item())
    assert report.num_samples == 1000 and report.accuracy > 0.85
    probs = trainer.predict_proba(val.images.numpy())
    torch.testing.assert_close(probs.sum(1), torch.ones(1000))
    as_float = trainer.predict_proba(val.images.float() / 255)
    torch.testing.assert_close(as_float, probs)
    single = trainer.predict(val.images[0])
    assert single.shape == (1,) and int(single) == int(predicted[0])


@pytest.mark.parametrize(
    ("images", "match"),
    [
        (np.zeros((3, 28, 28), dtype=np.float32) + 5.0, "outside \\[0, 1\\]"),
        (torch.zeros(3, 3, 28, 28), "shape"),
        (torch.zeros(3, 28, 28, dtype=torch.int32), "dtype"),
        ([[0, 1]], "torch.Tensor or numpy.ndarray"),
    ],
)
def test_predict_rejects_bad_images(images: object, match: str) -> None:
    trainer = Trainer(get_model("linear"), _config())
    with pytest.raises(mnistkit.ConfigError, match=match):
        trainer.predict(images)  # type: ignore[arg-type]


def test_custom_module_and_callbacks(small: tuple[Split, Split], tmp_path: Path) -> None:
    train, val = small

    class Tiny(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = nn.Sequential(nn.Flatten(), nn.Linear(784, 32), nn.ReLU(), nn.Linear(32, 10))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.net(x)  # type: ignore[no-any-return]

    class Recorder(Callback):
        def __init__(self) -> None:
            self.events: list[str] = []

        def on_fit_start(self, run: RunView) -> None:
            self.events.append("fit_start")

        def on_epoch_start(self, run: RunView, epoch: int) -> None:
            self.events.append(f"epoch_start {epoch}")

        def on_epoch_end(self, run: RunView, epoch: int, record: dict[str, float]) -> None:
            self.events.append(f"epoch_end {epoch}")

        def on_fit_end(self, run: RunView, history: object) -> None:
            self.events.append("fit_end")

    recorder = Recorder()
    jsonl, csv_path, best = (
        tmp_path / "log.jsonl",
        tmp_path / "log.csv",
        tmp_path / "best.safetensors",
    )
    callbacks = [recorder, MetricsLogger(jsonl), MetricsLogger(csv_path), ModelCheckpoint(best)]
    seed_everything(0)
    model = Tiny()
    history = Trainer(model, _config(epochs=2), callbacks=callbacks).fit(train, val=val)
    assert recorder.events == [
        "fit_start",
        "epoch_start 1",
        "epoch_end 1",
        "epoch_start 2",
        "epoch_end 2",
        "fit_end",
    ]
    lines = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert [line["val_loss"] for line in lines] == history.val_loss
    rows = list(csv.DictReader(csv_path.open()))
    assert [float(r["train_loss"]) for r in rows] == pytest.approx(history.train_loss)
    loaded = mnistkit.load_model(best, model=Tiny())
    assert loaded.metadata.architecture is None
    assert loaded.metadata.metrics["val_accuracy"] == max(history.val_accuracy)


def test_early_stopping_stops(small: tuple[Split, Split]) -> None:
    train, val = small
    # an absurd learning rate: validation loss cannot improve after the first epoch
    stopper = EarlyStopping(monitor="val_loss", patience=1)
    seed_everything(0)
    trainer = Trainer(
        get_model("linear"),
        _config(epochs=6, optimizer="sgd", schedule="none", lr=50.0),
        callbacks=[stopper],
    )
    history = trainer.fit(train, val=val)
    assert len(history) < 6
    assert stopper.stopped_epoch == len(history)


def test_early_stopping_needs_the_monitored_key(small: tuple[Split, Split]) -> None:
    train, _ = small
    trainer = Trainer(get_model("linear"), _config(epochs=1), callbacks=[EarlyStopping()])
    with pytest.raises(mnistkit.ConfigError, match=r"val_loss.*Pass validation data"):
        trainer.fit(train.subset(slice(0, 256)))


def test_gradient_scaler_path_runs_on_cpu(small: tuple[Split, Split]) -> None:
    """CUDA's '16-mixed' path (float16 autocast + loss scaling), exercised on the CPU."""
    from mnistkit.devices import PrecisionPlan

    train, val = small
    seed_everything(0)
    trainer = Trainer(get_model("mlp"), _config(epochs=1, grad_clip=1.0))
    trainer.precision = PrecisionPlan("16-mixed", "cpu", torch.float16, use_grad_scaler=True)
    history = trainer.fit(train, val=val)
    assert trainer.state is not None and trainer.state.scaler is not None
    assert trainer.state.scaler.get_scale() > 0
    assert history.val_accuracy[0] > 0.85


def test_compiled_and_eager_training_agree(small: tuple[Split, Split]) -> None:
    """The torch.compile path (meant for GPUs) gives the eager path's numbers on the CPU."""
    train, val = small
    results = {}
    for compiled in (False, True):
        seed_everything(0)
        model = get_model("mlp", hidden_sizes=(64,), dropout=0.0)  # no dropout: same RNG use
        trainer = Trainer(model, _config(epochs=1, compile=compiled))
        history = trainer.fit(train.subset(slice(0, 2000)), val=val)
        results[compiled] = (history.records[0], model.state_dict())
    (eager, eager_weights), (fast, fast_weights) = results[False], results[True]
    for key in ("train_loss", "val_loss", "val_accuracy"):
        assert fast[key] == pytest.approx(eager[key], rel=1e-3, abs=1e-3), key
    for name, tensor in eager_weights.items():
        torch.testing.assert_close(fast_weights[name], tensor, rtol=1e-3, atol=1e-4)


def test_progress_bar_draws_each_epoch(
    small: tuple[Split, Split], capsys: pytest.CaptureFixture[str]
) -> None:
    train, val = small
    trainer = Trainer(get_model("linear"), _config(epochs=2, progress=True, log_every=5))
    assert isinstance(trainer.callbacks[0], mnistkit.ProgressBar)
    trainer.fit(train.subset(slice(0, 640)), val=val)
    err = capsys.readouterr().err
    assert "epoch 1/2" in err and "epoch 2/2" in err
    assert "10/10" in err  # 640 images in batches of 64
    assert "val_accuracy" in err


def test_channels_last_trains_like_contiguous(small: tuple[Split, Split]) -> None:
    """The channels-last memory format changes the kernels, not the arithmetic's meaning."""
    train, val = small
    histories, formats = [], []
    for channels_last in (False, True):
        seed_everything(0)
        seen: list[bool] = []
        model = get_model("cnn", channels=(8, 16), hidden=32, batch_norm=True)
        trainer = Trainer(model, _config(epochs=1, channels_last=channels_last))
        conv = model.features[0]
        conv.register_forward_hook(
            lambda m, i, o, seen=seen: seen.append(
                o.is_contiguous(memory_format=torch.channels_last)
            )
        )
        histories.append(trainer.fit(train, val=val).records[0])
        formats.append(all(seen[1:]) and bool(seen))
    assert formats == [False, True]  # the activations really are channels-last
    eager, last = histories
    assert last["train_loss"] == pytest.approx(eager["train_loss"], rel=1e-3)
    assert last["val_accuracy"] == pytest.approx(eager["val_accuracy"], abs=0.01)


def test_auto_precision_follows_the_hardware() -> None:
    from mnistkit.devices import cpu_has_native_bf16, resolve_precision

    plan = resolve_precision("auto", torch.device("cpu"))
    assert plan.precision == ("bf16-mixed" if cpu_has_native_bf16() else "32")
    trainer = Trainer(get_model("linear"), _config(precision="auto"))
    assert trainer.precision == plan


# ------------------------------------------------------------------------------ edges
# (what mutation testing found unpinned; tests/README.md)


def test_a_trainer_before_fit(small: tuple[Split, Split], tmp_path: Path) -> None:
    trainer = Trainer(get_model("linear"), _config())
    assert trainer.state is None and trainer.train_loader is None
    assert len(trainer.history) == 0 and trainer.callbacks == ()
    assert repr(trainer) == (
        f"Trainer(model={type(trainer.model).__name__}, device='cpu', precision='32', "
        "epochs_done=0)"
    )
    with pytest.raises(mnistkit.ConfigError) as caught:
        trainer.save_state(tmp_path / "state.pt")
    assert str(caught.value) == "There is no training run yet: call fit() first."
    shown = Trainer(get_model("linear"), _config(progress=True))
    assert [type(c).__name__ for c in shown.callbacks] == ["ProgressBar"]
    bar = mnistkit.callbacks.ProgressBar(leave=False)
    own = Trainer(get_model("linear"), _config(progress=True), callbacks=[bar])
    assert own.callbacks == (bar,)  # a bar of one's own is not doubled


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: Trainer("mlp"),  # type: ignore[arg-type]
            "Argument 'model' must be a torch.nn.Module, but got str",
        ),
        (
            lambda: Trainer(get_model("linear"), {"epochs": 1}),  # type: ignore[arg-type]
            "Argument 'config' must be a TrainConfig, but got dict",
        ),
    ],
)
def test_bad_trainer_arguments_are_named(call: object, message: str) -> None:
    with pytest.raises(mnistkit.ConfigError) as caught:
        call()  # type: ignore[operator]
    assert str(caught.value) == message


def test_bad_training_data_is_named(small: tuple[Split, Split]) -> None:
    train, _ = small
    trainer = Trainer(get_model("linear"), _config(epochs=1))
    with pytest.raises(mnistkit.ConfigError) as caught:
        trainer.fit(train.images)  # type: ignore[arg-type]
    assert str(caught.value) == (
        "Argument 'train' must be a mnistkit Split or DeviceLoader, but got Tensor; "
        "use mnistkit.datasets.load(...).train"
    )
    with pytest.raises(mnistkit.ConfigError) as caught:
        trainer.fit(train.subset(slice(0, 64)), val=train.images)  # type: ignore[arg-type]
    assert str(caught.value) == (
        "Training and validation data must be a mnistkit Split or DeviceLoader, but got "
        "Tensor; use mnistkit.datasets.load(...).train"
    )
    with pytest.raises(mnistkit.ConfigError) as caught:
        trainer.fit(train.subset(slice(0, 0)))
    assert str(caught.value) == "The training data is empty (0 batches); nothing to fit."


def test_a_short_fit_records_its_data_and_saves_it(
    small: tuple[Split, Split], tmp_path: Path
) -> None:
    train, val = small
    few = Split(train.images[:256], train.labels[:256], tuple("abcdefghij"), dataset="letters")
    held = val.subset(slice(0, 200))
    seed_everything(0)
    trainer = Trainer(get_model("linear"), _config(epochs=1, batch_size=64, eval_batch_size=100))
    history = trainer.fit(few, val=held)
    with torch.inference_mode():  # the validation loss is the mean over all its examples
        logits = trainer.model(held.images.unsqueeze(1).float() / 255)
    expected = torch.nn.functional.cross_entropy(logits, held.labels).item()
    assert history.records[0]["val_loss"] == pytest.approx(expected, rel=1e-5)
    assert trainer.train_loader is not None and trainer.train_loader.batch_size == 64
    assert trainer.train_loader.shuffle and len(trainer.train_loader) == 4
    assert history.records[0]["lr"] == pytest.approx(trainer.config.effective_lr / 25)
    assert repr(trainer).endswith("epochs_done=1)")
    loaded = mnistkit.load_model(trainer.save_model(tmp_path / "m.safetensors"))
    assert loaded.metadata.dataset == "letters"
    assert loaded.metadata.classes == tuple("abcdefghij")
    report = trainer.evaluate(val.subset(slice(0, 200)), top_k=(2,))
    assert report.top_k_accuracy is not None and list(report.top_k_accuracy) == [2]
    assert report.num_samples == 200
    probs = trainer.predict_proba(val.images[:5])
    assert torch.equal(trainer.predict(val.images[:5]), probs.argmax(dim=1))


class _Poison(Callback):
    """Makes every weight NaN after batch ``at`` (0-based) of the first epoch."""

    def __init__(self, at: int) -> None:
        self.at = at

    def on_batch_end(self, run: RunView, batch: int, loss: float | None) -> None:
        if batch == self.at:
            with torch.no_grad():
                for parameter in run.model.parameters():
                    parameter.fill_(float("nan"))


def test_the_divergence_message_names_the_step_and_the_remedies(
    small: tuple[Split, Split],
) -> None:
    train, _ = small
    config = _config(epochs=1, optimizer="sgd", lr=0.1, schedule="none")
    trainer = Trainer(get_model("linear"), config, callbacks=[_Poison(at=1)])
    with pytest.raises(mnistkit.TrainingDivergedError) as caught:
        trainer.fit(train.subset(slice(0, 256)))
    assert str(caught.value) == (
        "Training diverged: the loss became NaN or infinite at epoch 1, step 3 of 4 (learning "
        "rate 0.1); the weights are no longer usable and were not saved (an earlier training "
        "state is kept). Lower the learning rate (TrainConfig.lr, --lr) or clip the gradients "
        "(TrainConfig.grad_clip, --grad-clip)."
    )


def test_evaluate_names_the_classes_and_predicts_under_the_precision(
    small: tuple[Split, Split],
) -> None:
    from mnistkit.inference import predict_proba

    train, val = small
    seed_everything(0)
    trainer = Trainer(get_model("linear"), _config(epochs=1, precision="bf16-mixed"))
    trainer.fit(train.subset(slice(0, 256)))
    letters = Split(val.images[:100], val.labels[:100], tuple("abcdefghij"), name="letters")
    assert trainer.evaluate(letters).classes == tuple("abcdefghij")
    with pytest.raises(mnistkit.ConfigError) as caught:
        trainer.evaluate(val.images)  # type: ignore[arg-type]
    assert str(caught.value) == "Argument 'data' must be a mnistkit Split, but got Tensor"
    expected = predict_proba(trainer.model, val.images[:100], precision="bf16-mixed")
    assert torch.equal(trainer.predict_proba(val.images[:100]), expected)
    float32 = predict_proba(trainer.model, val.images[:100], precision="32")
    assert not torch.equal(expected, float32)  # so the precision is really passed on


def test_a_one_batch_epoch_records_the_loss_and_accuracy_of_that_batch(
    small: tuple[Split, Split],
) -> None:
    train, _ = small
    batch = train.subset(slice(0, 64))
    seed_everything(0)
    model = get_model("mlp", hidden_sizes=(32,), dropout=0.0)
    with torch.inference_mode():  # the step's loss and accuracy are those before the update
        logits = model(batch.images.unsqueeze(1).float() / 255)
    loss = torch.nn.functional.cross_entropy(logits, batch.labels).item()
    accuracy = (logits.argmax(1) == batch.labels).double().mean().item()
    config = _config(epochs=1, batch_size=64, optimizer="sgd", lr=0.1, schedule="none")
    record = Trainer(model, config).fit(batch).records[0]
    assert record["train_loss"] == pytest.approx(loss, rel=1e-5)
    assert record["train_accuracy"] == pytest.approx(accuracy)
    assert 0.0 < accuracy < 1.0  # so a miscount would show


class _PoisonFirst(Callback):
    def on_epoch_start(self, run: RunView, epoch: int) -> None:
        with torch.no_grad():
            for parameter in run.model.parameters():
                parameter.fill_(float("nan"))


def test_divergence_from_the_first_step_is_reported_at_the_first_step(
    small: tuple[Split, Split],
) -> None:
    train, _ = small
    config = _config(epochs=1, optimizer="sgd", lr=0.1, schedule="none")
    trainer = Trainer(get_model("linear"), config, callbacks=[_PoisonFirst()])
    with pytest.raises(mnistkit.TrainingDivergedError, match=r"at epoch 1, step 1 of 4 "):
        trainer.fit(train.subset(slice(0, 256)))


def test_gradients_are_unscaled_before_clipping_under_loss_scaling(
    small: tuple[Split, Split],
) -> None:
    from mnistkit.devices import PrecisionPlan

    train, _ = small
    one_batch = train.subset(slice(0, 64))
    seed_everything(0)
    model = get_model("linear")
    before = torch.cat([p.detach().flatten() for p in model.parameters()]).clone()
    config = _config(epochs=1, optimizer="sgd", lr=1.0, schedule="none", grad_clip=1e-3)
    trainer = Trainer(model, config)
    trainer.precision = PrecisionPlan("16-mixed", "cpu", torch.float16, use_grad_scaler=True)
    trainer.fit(one_batch)
    after = torch.cat([p.detach().flatten() for p in model.parameters()])
    # plain SGD: the step is lr x the clipped gradient, whatever the loss scale
    assert (after - before).norm().item() == pytest.approx(1e-3, rel=1e-2)


def test_callbacks_see_the_batch_loss_every_log_every_batches(
    small: tuple[Split, Split],
) -> None:
    import copy

    train, _ = small
    few = train.subset(slice(0, 256))
    seed_everything(0)
    model = get_model("mlp", hidden_sizes=(32,), dropout=0.0)
    initial = copy.deepcopy(model)
    seen: list[tuple[int, float | None]] = []

    class Losses(Callback):
        def on_batch_end(self, run: RunView, batch: int, loss: float | None) -> None:
            seen.append((batch, loss))

    config = _config(epochs=1, batch_size=64, optimizer="sgd", lr=0.1, schedule="none")
    trainer = Trainer(model, config.replace(log_every=2), callbacks=[Losses()])
    trainer.fit(few)
    assert [batch for batch, _ in seen] == [0, 1, 2, 3]
    assert [loss is None for _, loss in seen] == [False, True, False, True]
    assert trainer.train_loader is not None and trainer.train_loader.last_order is not None
    first = trainer.train_loader.last_order[:64]  # batch 0, seen before the first update
    with torch.inference_mode():
        logits = initial(few.images[first].unsqueeze(1).float() / 255)
    expected = torch.nn.functional.cross_entropy(logits, few.labels[first]).item()
    assert seen[0][1] == pytest.approx(expected, rel=1e-5)


class _Modes(Callback):
    """Records the hooks' arguments and the model's mode during each training step."""

    def __init__(self) -> None:
        self.training: list[bool] = []
        self.fit_start: RunView | None = None
        self.fit_end: tuple[object, object] | None = None

    def on_fit_start(self, run: RunView) -> None:
        self.fit_start = run

    def on_batch_end(self, run: RunView, batch: int, loss: float | None) -> None:
        self.training.append(run.model.training)

    def on_fit_end(self, run: RunView, history: mnistkit.History) -> None:
        self.fit_end = (run, history)


def test_training_and_validation_run_in_their_modes(small: tuple[Split, Split]) -> None:
    """Steps in train mode with autograd; validation in eval mode under inference_mode."""
    import time

    train, val = small[0].subset(slice(0, 640)), small[1].subset(slice(0, 300))
    model = get_model("cnn", channels=(4, 8), hidden=0, batch_norm=True)
    calls: list[tuple[bool, bool]] = []  # (module.training, inference mode) per forward
    model.register_forward_hook(
        lambda m, i, o: calls.append((m.training, torch.is_inference_mode_enabled()))
    )
    modes = _Modes()
    trainer = Trainer(
        model, _config(epochs=2, batch_size=128, eval_batch_size=150), callbacks=[modes]
    )
    started = time.perf_counter()
    history = trainer.fit(train, val)
    elapsed = time.perf_counter() - started
    assert modes.training == [True] * 10
    assert calls == ([(True, False)] * 5 + [(False, True)] * 2) * 2
    assert isinstance(modes.fit_start, RunView) and modes.fit_end is not None
    assert modes.fit_end[0] is modes.fit_start and modes.fit_end[1] is history
    run = modes.fit_start  # what every callback is told about the run
    assert (run.device, run.precision, run.history) == (torch.device("cpu"), "32", history)
    assert (run.train_size, run.batches_per_epoch, run.start_epoch) == (640, 5, 0)
    assert run.train_data is not None and torch.equal(run.train_data.images, train.images)
    assert run.val_data is not None and torch.equal(run.val_data.labels, val.labels)
    assert (run.world_size, run.epochs, run.model) == (1, 2, model)
    assert all(0.0 < r["seconds"] < elapsed for r in history.records)


def test_fit_takes_a_device_loader_and_names_its_data(small: tuple[Split, Split]) -> None:
    train = small[0].subset(slice(0, 256))
    assert train.name.startswith("mnist")
    loader = mnistkit.DeviceLoader(train, batch_size=64, shuffle=True)
    modes = _Modes()
    Trainer(get_model("linear"), _config(epochs=1), callbacks=[modes]).fit(loader)
    assert modes.fit_start is not None and modes.fit_start.dataset == "mnist"
    assert len(modes.training) == 4


def test_a_validation_split_of_one_image_is_measured(small: tuple[Split, Split]) -> None:
    train, val = small[0].subset(slice(0, 128)), small[1].subset(slice(0, 1))
    record = Trainer(get_model("linear"), _config(epochs=1)).fit(train, val).records[0]
    assert math.isfinite(record["val_loss"]) and record["val_accuracy"] in (0.0, 1.0)


def test_a_trainer_without_a_config_uses_the_defaults() -> None:
    trainer = Trainer(get_model("linear"))
    assert trainer.config == TrainConfig()


_MALLOC = """
import sys
from mnistkit import TrainConfig, Trainer, devices, get_model, run_training

Trainer(get_model("linear"), TrainConfig(device="cpu", progress=False))
print(devices._MALLOC_TUNED)
try:  # an unknown data set fails after the malloc settings, before any training
    run_training(sys.argv[1], dataset="no-such-data", retain_freed_memory=True)
except Exception as error:
    print(type(error).__name__)
print(devices._MALLOC_TUNED)
"""


def test_the_trainer_leaves_the_process_malloc_alone(tmp_path: Path) -> None:
    # a process-wide setting: the command line asks for it through run_training
    root = Path(__file__).resolve().parents[1]
    result = subprocess.run(
        [sys.executable, "-c", _MALLOC, str(tmp_path / "run")],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "ConfigError", "True"]
