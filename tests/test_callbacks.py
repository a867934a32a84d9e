"""The callbacks and the RunView they see, driven by hand (no training: milliseconds).

tests/test_trainer.py shows them inside real runs; these pin what each writes, saves and
decides, epoch by epoch.
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import os
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from mnistkit import (
    Callback,
    ConfigError,
    EarlyStopping,
    History,
    MetricsLogger,
    ModelCheckpoint,
    TrainConfig,
    TrainingStateCheckpoint,
    get_model,
)
from mnistkit.callbacks import EpochLog, ProgressBar, RunView, progress_by_default
from mnistkit.datasets import DatasetSplits


class _Saved:
    """Stands for the trainer's save_model(path, *, metrics=None) and save_state(path)."""

    def __init__(self) -> None:
        self.models: list[tuple[Path, dict[str, Any] | None]] = []
        self.states: list[Path] = []

    def model(self, path: str | os.PathLike[str], *, metrics: dict[str, Any] | None = None) -> Path:
        self.models.append((Path(path), metrics))
        return Path(path)

    def state(self, path: str | os.PathLike[str]) -> Path:
        self.states.append(Path(path))
        return Path(path)


def _view(saved: _Saved | None = None, **changes: Any) -> RunView:
    saved = saved or _Saved()
    model = get_model("linear")
    settings: dict[str, Any] = {
        "model": model,
        "config": TrainConfig(epochs=20),
        "device": torch.device("cpu"),
        "precision": "32",
        "history": History(),
        "dataset": "mnist",
        "train_size": 54_000,
        "batches_per_epoch": 3,
        "start_epoch": 0,
        "optimizer": torch.optim.SGD(model.parameters(), lr=0.25),
        "save_model": saved.model,
        "save_state": saved.state,
    }
    return RunView(**{**settings, **changes})


def test_run_view_shows_what_it_was_given(mnist: DatasetSplits) -> None:
    saved = _Saved()
    history = History([{"epoch": 1, "train_loss": 0.5}])
    run = _view(saved, history=history, train_data=mnist.test, val_data=mnist.train, world_size=2)
    assert (run.epochs, run.precision, run.dataset) == (20, "32", "mnist")
    assert (run.train_size, run.batches_per_epoch, run.start_epoch) == (54_000, 3, 0)
    assert run.history is history and run.config.epochs == 20
    assert run.device == torch.device("cpu") and run.lr == 0.25
    assert run.train_data is mnist.test and run.val_data is mnist.train
    assert run.world_size == 2
    assert repr(run) == (
        f"RunView(model={type(run.model).__name__}, epochs_done=1/20, device='cpu')"
    )
    assert [run.stop_requested] == [False]  # (a list: mypy would keep it False below)
    run.request_stop()
    assert run.stop_requested
    assert run.save_model("best.safetensors", metrics={"a": 1.0}) == Path("best.safetensors")
    assert run.save_state("state.pt") == Path("state.pt")
    assert saved.models == [(Path("best.safetensors"), {"a": 1.0})]
    assert saved.states == [Path("state.pt")]
    with pytest.raises(dataclasses.FrozenInstanceError):  # a view, not a way to change the run
        run.start_epoch = 5  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        run.history = History()  # type: ignore[misc]
    assert run.start_epoch == 0 and run.history is history
    plain = _view()
    assert (plain.train_data, plain.val_data, plain.world_size) == (None, None, 1)


def test_the_base_callback_does_nothing_and_names_itself() -> None:
    run, callback = _view(), Callback()
    callback.on_fit_start(run)
    callback.on_epoch_start(run, 1)
    callback.on_batch_end(run, 0, 0.5)
    callback.on_epoch_end(run, 1, {"train_loss": 0.5})
    callback.on_fit_end(run, History())
    assert not run.stop_requested
    assert repr(callback) == "Callback()" and repr(ProgressBar()) == "ProgressBar()"


def test_early_stopping_in_max_mode_and_its_defaults() -> None:
    default = EarlyStopping()
    assert (default.best, default.best_epoch, default.wait, default.stopped_epoch) == (
        math.inf,
        0,
        0,
        None,
    )
    assert EarlyStopping(mode="max").best == -math.inf
    assert (default.monitor, default.patience, default.mode, default.min_delta) == (
        "val_loss",
        3,
        "min",
        0.0,
    )
    assert repr(default) == "EarlyStopping(monitor='val_loss', patience=3, mode='min')"
    run, stopper = _view(), EarlyStopping(monitor="val_accuracy", patience=2, mode="max")
    assert stopper.best == -math.inf
    stopper.on_fit_start(run)
    for epoch, accuracy in enumerate([0.5, 0.7, math.nan, 0.7], start=1):
        stopper.on_epoch_end(run, epoch, {"val_accuracy": accuracy})
    assert (stopper.best, stopper.best_epoch, stopper.stopped_epoch) == (0.7, 2, 4)
    assert run.stop_requested  # NaN and an equal value are no improvement
    again = _view()
    stopper.on_fit_start(again)  # a new fit starts afresh
    assert (stopper.best, stopper.wait, stopper.stopped_epoch) == (-math.inf, 0, None)
    with pytest.raises(ConfigError) as caught:
        stopper.on_epoch_end(again, 1, {"train_loss": 0.5, "lr": 0.1})
    assert str(caught.value) == (
        "EarlyStopping: monitor='val_accuracy' is not in the epoch record; available: lr, "
        "train_loss. Pass validation data to fit() to monitor 'val_*'."
    )
    flat = _view()
    stopper = EarlyStopping(monitor="loss", patience=2)  # min mode: an equal loss is no gain
    for epoch in (1, 2, 3):
        stopper.on_epoch_end(flat, epoch, {"loss": 1.0})
    assert flat.stop_requested and stopper.stopped_epoch == 3
    near = EarlyStopping(monitor="acc", mode="max", min_delta=0.1)
    near.on_epoch_end(_view(), 1, {"acc": 0.5})
    near.on_epoch_end(_view(), 2, {"acc": 0.55})  # better by less than min_delta
    assert (near.best, near.best_epoch, near.wait) == (0.5, 1, 1)
    with pytest.raises(ConfigError, match="'mode'"):
        EarlyStopping(mode="up")
    with pytest.raises(ConfigError, match="'patience'"):
        EarlyStopping(patience=0)


@pytest.mark.parametrize(
    ("mode", "values", "saved_epochs"),
    [("max", [0.5, 0.4, 0.6, 0.6], [1, 3]), ("min", [0.5, 0.6, 0.4, math.nan], [1, 3])],
)
def test_model_checkpoint_saves_each_improvement(
    mode: str, values: list[float], saved_epochs: list[int]
) -> None:
    saved = _Saved()
    run = _view(saved)
    checkpoint = ModelCheckpoint("best.safetensors", monitor="score", mode=mode)
    for epoch, value in enumerate(values, start=1):
        checkpoint.on_epoch_end(run, epoch, {"score": value})
    assert saved.models == [
        (Path("best.safetensors"), {"score": values[e - 1], "epoch": e}) for e in saved_epochs
    ]
    assert checkpoint.best_epoch == saved_epochs[-1]
    default = ModelCheckpoint("m.safetensors")
    assert default.best_epoch is None
    assert (default.monitor, default.mode, default.best) == ("val_accuracy", "max", -math.inf)
    assert ModelCheckpoint("m", mode="min").best == math.inf
    assert repr(default) == "ModelCheckpoint('m.safetensors', monitor='val_accuracy', mode='max')"
    with pytest.raises(ConfigError, match=r"^ModelCheckpoint: monitor='val_accuracy'"):
        default.on_epoch_end(run, 1, {"train_loss": 0.1})


def test_metrics_logger_writes_json_lines_and_csv(tmp_path: Path) -> None:
    records = [{"train_loss": 0.5, "lr": 0.1}, {"train_loss": 0.25, "lr": 0.05}]
    for suffix in (".jsonl", ".csv"):
        path = tmp_path / f"log{suffix}"
        path.write_text("stale\n")
        logger = MetricsLogger(path)
        run = _view()
        logger.on_fit_start(run)  # a fresh run truncates the file
        for epoch, record in enumerate(records, start=1):
            logger.on_epoch_end(run, epoch, record)
        # a key that appears later is left out of the CSV, whose columns are fixed
        logger.on_epoch_end(run, 3, {"train_loss": 0.125, "lr": 0.025, "val_loss": 0.2})
        resumed = MetricsLogger(path)
        resumed.on_fit_start(_view(start_epoch=3))  # a resumed run appends
        # the resumed run's records may list their keys in another order: the columns hold
        resumed.on_epoch_end(run, 4, {"lr": 0.0125, "train_loss": 0.0625})
        text = path.read_text()
        if suffix == ".jsonl":
            assert [json.loads(line) for line in text.splitlines()] == [
                {"epoch": 1, "train_loss": 0.5, "lr": 0.1},
                {"epoch": 2, "train_loss": 0.25, "lr": 0.05},
                {"epoch": 3, "train_loss": 0.125, "lr": 0.025, "val_loss": 0.2},
                {"epoch": 4, "lr": 0.0125, "train_loss": 0.0625},
            ]
        else:
            assert text.splitlines() == [
                "epoch,train_loss,lr",
                "1,0.5,0.1",
                "2,0.25,0.05",
                "3,0.125,0.025",
                "4,0.0625,0.0125",
            ]
        assert repr(logger) == f"MetricsLogger({str(path)!r})"
    missing = tmp_path / "new.csv"
    MetricsLogger(missing).on_fit_start(_view(start_epoch=2))  # resuming without a file
    assert missing.read_text() == ""
    # resuming with an empty file (a run stopped before its first epoch ended): the first
    # record writes the header
    empty = MetricsLogger(missing)
    empty.on_fit_start(_view(start_epoch=2))
    empty.on_epoch_end(_view(), 3, {"train_loss": 0.5})
    assert missing.read_text().splitlines() == ["epoch,train_loss", "3,0.5"]
    with pytest.raises(ConfigError) as caught:
        MetricsLogger(tmp_path / "log.txt")
    assert str(caught.value) == (
        f"Argument 'path' must end in '.jsonl' or '.csv' but got {str(tmp_path / 'log.txt')!r}."
    )


def test_training_state_checkpoint_saves_every_epoch() -> None:
    saved = _Saved()
    checkpoint = TrainingStateCheckpoint("state.pt")
    for epoch in (1, 2):
        checkpoint.on_epoch_end(_view(saved), epoch, {})
    assert saved.states == [Path("state.pt"), Path("state.pt")]
    assert repr(checkpoint) == "TrainingStateCheckpoint('state.pt')"


def test_epoch_log_lines() -> None:
    stream = io.StringIO()
    log = EpochLog(stream)
    log.on_fit_start(_view())
    log.on_fit_start(_view(dataset=None, start_epoch=4, world_size=2, precision="bf16-mixed"))
    record = {"train_loss": 0.123456, "val_accuracy": 0.98765, "lr": 0.1, "seconds": 12.34}
    log.on_epoch_end(_view(), 5, record)
    name = type(get_model("linear")).__name__
    assert stream.getvalue().splitlines() == [
        f"Training {name} on mnist (54000 images) for 20 epochs on cpu [32]",
        f"Training {name} on (54000 images) for 20 epochs on cpu x 2 processes [bf16-mixed], "
        "resuming after epoch 4",
        "epoch 5/20  train_loss 0.1235  val_accuracy 0.9877  12.3s",
    ]
    assert repr(EpochLog()) == "EpochLog('stdout')"


def test_epoch_log_names_its_file(tmp_path: Path) -> None:
    with (tmp_path / "log.txt").open("w") as handle:
        assert repr(EpochLog(handle)) == f"EpochLog({str(tmp_path / 'log.txt')!r})"


def test_epoch_log_defaults_to_standard_output(capsys: pytest.CaptureFixture[str]) -> None:
    EpochLog().on_epoch_end(_view(), 1, {"train_loss": 0.5, "seconds": 1.0})
    assert capsys.readouterr().out == "epoch 1/20  train_loss 0.5000  1.0s\n"


def test_progress_bar_is_closed_when_the_fit_fails(capsys: pytest.CaptureFixture[str]) -> None:
    run, bar = _view(), ProgressBar(leave=True)
    bar.on_epoch_start(run, 1)
    drawn = bar._bar
    bar.on_batch_end(run, 0, 0.5)
    bar.on_exception(run, RuntimeError("diverged"))
    assert bar._bar is None and drawn.disable  # tqdm disables a bar once closed
    assert "epoch 1/20" in capsys.readouterr().err


def test_progress_bar_counts_batches_and_shows_the_loss(
    capsys: pytest.CaptureFixture[str],
) -> None:
    run, bar = _view(), ProgressBar(leave=True)
    bar.on_batch_end(run, 0, 0.5)  # before an epoch: nothing to update
    bar.on_epoch_end(run, 1, {})
    bar.on_epoch_start(run, 2)
    shown = bar._bar
    assert (shown.total, shown.desc, shown.unit) == (3, "epoch 2/20", "batch")
    assert shown.leave is True and bool(shown.dynamic_ncols)  # a resize function if True
    assert ProgressBar().leave is True
    brief = ProgressBar(leave=False)
    brief.on_epoch_start(run, 1)
    assert brief._bar.leave is False
    brief.on_fit_end(run, History())
    for batch, loss in enumerate([0.9, None, 0.7]):
        bar.on_batch_end(run, batch, loss)
        if batch == 0:
            assert shown.postfix == "loss=0.9000"
    bar.on_epoch_end(run, 2, {"train_loss": 0.75, "lr": 0.1, "val_accuracy": 0.5})
    err = capsys.readouterr().err
    assert "epoch 2/20" in err and "3/3" in err
    assert "train_loss=0.7500" in err and "val_accuracy=0.5000" in err and "lr=" not in err
    bar.on_epoch_start(run, 3)
    bar.on_batch_end(run, 0, 0.7)
    bar.on_fit_end(run, History())  # an interrupted epoch's bar is closed too
    assert bar._bar is None
    assert "1/3" in capsys.readouterr().err


def test_progress_by_default_follows_the_terminal_or_jupyter(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False)
    monkeypatch.delitem(sys.modules, "ipykernel.zmqshell", raising=False)
    assert progress_by_default() is False
    monkeypatch.setitem(sys.modules, "ipykernel.zmqshell", sys)
    assert progress_by_default() is True
    monkeypatch.delitem(sys.modules, "ipykernel.zmqshell")
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert progress_by_default() is True
