"""A run cut after any epoch and resumed in a new process ends where the uninterrupted run does.

Each run is a fresh Python process, as after a crash or a Ctrl-C: nothing survives but the
files. The interrupted process ends with ``os._exit`` right after the training state of
epoch ``k`` is written (no clean-up, no ``on_exception``), and a new process resumes from
that ``state.pt``. Compared with the run that was never interrupted: the epoch early
stopping ends at, the best model's file byte for byte (a model file holds no time: its
header is the mnistkit version, architecture, classes and the checkpoint's metrics, so the
same weights give the same bytes), and the metrics logs line by line except the wall-clock
``seconds`` column, which no two runs share.

Below them, each built-in callback's state_dict -> load_state_dict round trip (no training).
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from mnistkit import (
    Callback,
    CheckpointError,
    EarlyStopping,
    History,
    MetricsLogger,
    ModelCheckpoint,
    TrainConfig,
    Trainer,
    TrainingStateCheckpoint,
    get_model,
)
from mnistkit.callbacks import EpochLog, ProgressBar, RunView
from mnistkit.datasets import DatasetSplits

ROOT = Path(__file__).resolve().parents[1]

#: One run: 2,000 training and 500 validation images of real MNIST, the MLP, Adam at a
#: constant 3e-3 for at most 12 epochs. On this data the validation loss is lowest at epoch
#: 4 and early stopping (patience 3) ends the run after epoch 7: both well before the last.
_RUN = """
import json, os, sys
from pathlib import Path

import torch

from mnistkit import (
    EarlyStopping, MetricsLogger, ModelCheckpoint, TrainConfig, Trainer,
    TrainingStateCheckpoint, datasets, get_model, seed_everything,
)

out, die_after, resume = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "resume"
torch.set_num_threads(1)


class SaveThenDie(TrainingStateCheckpoint):
    # a TrainingStateCheckpoint, so the trainer calls it after the other callbacks
    def on_epoch_end(self, run, epoch, record):
        super().on_epoch_end(run, epoch, record)
        if epoch == die_after:
            os._exit(3)  # at once: no clean-up, as a killed process


data = datasets.load("mnist", download=False)
train, val = data.train.subset(slice(0, 2000)), data.train.subset(slice(2000, 2500))
seed_everything(0)
config = TrainConfig(
    epochs=12, optimizer="adam", lr=3e-3, schedule="none", batch_size=64, device="cpu",
    precision="32", progress=False, seed=0,
)
stopper = EarlyStopping(monitor="val_loss", patience=3)
best = ModelCheckpoint(out / "best.safetensors", monitor="val_loss", mode="min")
callbacks = [
    stopper,
    best,
    MetricsLogger(out / "log.csv"),
    MetricsLogger(out / "log.jsonl"),
    SaveThenDie(out / "state.pt"),
]
trainer = Trainer(get_model("mlp"), config, callbacks=callbacks)
history = trainer.fit(train, val=val, resume_from=out / "state.pt" if resume else None)
print(json.dumps({
    "epochs": len(history),
    "stopped_epoch": stopper.stopped_epoch,
    "best_epoch": best.best_epoch,
    "early_best_epoch": stopper.best_epoch,
    "records": [{k: v for k, v in r.items() if k != "seconds"} for r in history.records],
}))
"""


def _train(out: Path, *, die_after: int = 0, resume: bool = False) -> dict[str, Any]:
    """Run :data:`_RUN` in a new process; its summary, or ``{}`` when it was made to die."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", _RUN, str(out), str(die_after), "resume" if resume else "new"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if die_after:
        assert result.returncode == 3, result.stderr
        return {}
    assert result.returncode == 0, result.stderr
    summary: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return summary


def _csv_without_seconds(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows and all("seconds" in row for row in rows)
    return [{k: v for k, v in row.items() if k != "seconds"} for row in rows]


def _jsonl_without_seconds(path: Path) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert rows and all("seconds" in row for row in rows)
    return [{k: v for k, v in row.items() if k != "seconds"} for row in rows]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory, data_root: Path) -> Path:
    out = tmp_path_factory.mktemp("uninterrupted")
    summary = _train(out)
    # the premise: early stopping ends the run early, and its best epoch is not its last
    assert summary["epochs"] == summary["stopped_epoch"] < 12
    assert summary["best_epoch"] == summary["early_best_epoch"] < summary["epochs"] - 1
    (out / "summary.json").write_text(json.dumps(summary))
    return out


# epoch 2: before the best epoch; 5: after it, before the stop; 7: the stop epoch itself
@pytest.mark.parametrize("cut_after", [2, 5, 7])
def test_a_run_resumed_in_a_new_process_ends_as_the_uninterrupted_one(
    uninterrupted: Path, tmp_path: Path, cut_after: int
) -> None:
    expected = json.loads((uninterrupted / "summary.json").read_text())
    assert cut_after <= expected["epochs"]
    assert (cut_after < expected["best_epoch"]) == (cut_after == 2)
    _train(tmp_path, die_after=cut_after)
    assert len((tmp_path / "log.jsonl").read_text().splitlines()) == cut_after
    resumed = _train(tmp_path, resume=True)
    assert resumed == expected  # stop epoch, best epochs, every record but the seconds
    assert (tmp_path / "best.safetensors").read_bytes() == (
        uninterrupted / "best.safetensors"
    ).read_bytes()
    for read, name in ((_csv_without_seconds, "log.csv"), (_jsonl_without_seconds, "log.jsonl")):
        assert read(tmp_path / name) == read(uninterrupted / name), name


# ------------------------------------------------------------------ each callback's state
def _view(start_epoch: int = 0) -> RunView:
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
        start_epoch=start_epoch,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
        save_model=lambda path, metrics=None: Path(path),
        save_state=Path,
    )


def _through_a_file(state: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    """``state`` as the training state gives it back: saved, then read with weights_only."""
    torch.save(state, tmp_path / "callback.pt")
    back: dict[str, Any] = torch.load(tmp_path / "callback.pt", weights_only=True)
    return back


def test_early_stopping_state_round_trips(tmp_path: Path) -> None:
    run, stopper = _view(), EarlyStopping(monitor="val_loss", patience=2)
    stopper.on_fit_start(run)
    for epoch, loss in enumerate([1.0, 0.5, 0.7], start=1):
        stopper.on_epoch_end(run, epoch, {"val_loss": loss})
    saved = stopper.state_dict()
    assert saved == {"best": 0.5, "best_epoch": 2, "wait": 1, "stopped_epoch": None}
    fresh = EarlyStopping(monitor="val_loss", patience=2)
    fresh.load_state_dict(_through_a_file(saved, tmp_path))
    assert fresh.state_dict() == saved
    resumed = _view(start_epoch=3)
    fresh.on_fit_start(resumed)  # a resume keeps the state...
    assert fresh.state_dict() == saved and [resumed.stop_requested] == [False]
    fresh.on_epoch_end(resumed, 4, {"val_loss": 0.9})  # ...so one more bad epoch stops it
    assert fresh.stopped_epoch == 4 and resumed.stop_requested
    stopped = _view(start_epoch=4)
    fresh.on_fit_start(stopped)  # resumed after its stop: it stays stopped
    assert stopped.stop_requested
    fresh.on_fit_start(_view())  # a new run starts afresh
    assert fresh.state_dict() == {
        "best": math.inf,
        "best_epoch": 0,
        "wait": 0,
        "stopped_epoch": None,
    }


def test_model_checkpoint_state_round_trips(tmp_path: Path) -> None:
    saved_models: list[int] = []

    def save(path: Path, *, metrics: dict[str, Any] | None = None) -> Path:
        saved_models.append(int((metrics or {})["epoch"]))
        return path

    checkpoint = ModelCheckpoint(tmp_path / "best.safetensors", monitor="val_loss", mode="min")
    run = dataclasses.replace(_view(), save_model=save)
    checkpoint.on_fit_start(run)
    checkpoint.on_epoch_end(run, 1, {"val_loss": 0.4})
    saved = checkpoint.state_dict()
    assert saved == {"best": 0.4, "best_epoch": 1}
    fresh = ModelCheckpoint(tmp_path / "best.safetensors", monitor="val_loss", mode="min")
    fresh.load_state_dict(_through_a_file(saved, tmp_path))
    resumed = dataclasses.replace(_view(start_epoch=1), save_model=save)
    fresh.on_fit_start(resumed)
    fresh.on_epoch_end(resumed, 2, {"val_loss": 0.6})  # worse than the restored best
    assert saved_models == [1] and fresh.state_dict() == saved
    fresh.on_epoch_end(resumed, 3, {"val_loss": 0.3})
    assert saved_models == [1, 3] and fresh.best_epoch == 3


def test_metrics_logger_state_round_trips_and_cuts_what_the_resume_redoes(
    tmp_path: Path,
) -> None:
    path = tmp_path / "log.csv"
    logger = MetricsLogger(path)
    assert logger.state_dict() == {"fields": None, "size": None}
    logger.on_fit_start(_view())
    logger.on_epoch_end(_view(), 1, {"train_loss": 0.5, "lr": 0.1})
    saved = logger.state_dict()
    assert saved == {"fields": ["epoch", "train_loss", "lr"], "size": path.stat().st_size}
    logger.on_epoch_end(_view(), 2, {"train_loss": 0.4, "lr": 0.1})  # after the saved state
    fresh = MetricsLogger(path)
    fresh.load_state_dict(_through_a_file(saved, tmp_path))
    assert fresh.state_dict() == saved
    fresh.on_fit_start(_view(start_epoch=1))
    fresh.on_epoch_end(_view(start_epoch=1), 2, {"lr": 0.1, "train_loss": 0.45})
    assert path.read_text().splitlines() == ["epoch,train_loss,lr", "1,0.5,0.1", "2,0.45,0.1"]


def test_callbacks_without_state_save_nothing() -> None:
    for callback in (Callback(), ProgressBar(), EpochLog(), TrainingStateCheckpoint("s.pt")):
        assert callback.state_dict() == {}
        callback.load_state_dict({})  # accepted, and nothing to check


def test_the_saved_callbacks_must_match_by_class_and_order(
    mnist: DatasetSplits, tmp_path: Path
) -> None:
    train, val = mnist.train.subset(slice(0, 256)), mnist.train.subset(slice(256, 512))
    config = TrainConfig(epochs=1, device="cpu", progress=False, schedule="none")
    state = tmp_path / "state.pt"
    best = tmp_path / "b.safetensors"
    stopper, checkpoint = EarlyStopping(monitor="train_loss"), ModelCheckpoint(best)
    first: list[Callback] = [stopper, checkpoint]
    Trainer(get_model("linear"), config, callbacks=[*first, TrainingStateCheckpoint(state)]).fit(
        train, val=val
    )
    # callbacks without a state (a progress bar, a log of lines) may come and go; those
    # with one get theirs back (all epochs are done, so nothing changes it afterwards)
    with open(os.devnull, "w") as devnull:
        same = [
            ProgressBar(),
            EarlyStopping(monitor="train_loss"),
            EpochLog(devnull),
            ModelCheckpoint(best),
        ]
        Trainer(get_model("linear"), config, callbacks=same).fit(train, val=val, resume_from=state)
    assert same[1].state_dict() == stopper.state_dict()
    assert same[3].state_dict() == checkpoint.state_dict()
    assert checkpoint.best_epoch == 1
    swapped = [ModelCheckpoint(best), EarlyStopping(monitor="train_loss")]
    with pytest.raises(CheckpointError) as caught:
        Trainer(get_model("linear"), config, callbacks=swapped).fit(
            train, val=val, resume_from=state
        )
    assert str(caught.value) == (
        f"{state}: the training state holds the state of the callbacks [EarlyStopping, "
        "ModelCheckpoint], but this run's callbacks with a state are [ModelCheckpoint, "
        "EarlyStopping]; resume with the same callbacks in the same order (callbacks "
        "without a state, such as ProgressBar or EpochLog, may differ)."
    )
    with pytest.raises(CheckpointError, match=r"are \[EarlyStopping\];"):
        Trainer(get_model("linear"), config, callbacks=first[:1]).fit(
            train, val=val, resume_from=state
        )
