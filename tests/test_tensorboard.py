"""TensorBoardLogger: what it writes, read back with TensorBoard's own event reader.

Scalars are stored as float32 in the event files, so each History number is compared with
its float32 rounding, exactly.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import (
    GRAPH,
    IMAGES,
    SCALARS,
    EventAccumulator,
)

import mnistkit
from mnistkit import TensorBoardLogger
from mnistkit.cli import main
from mnistkit.datasets import DatasetSplits
from mnistkit.tensorboard import read_scalars


def _events(folder: Path) -> EventAccumulator:
    events = EventAccumulator(str(folder), size_guidance={SCALARS: 0, IMAGES: 0, GRAPH: 0})
    events.Reload()
    return events


@pytest.fixture(scope="module")
def logged(
    mnist: DatasetSplits, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, mnistkit.History, int]:
    """Two epochs of a small CNN on 1,200 real images, 25% held out for validation."""
    train, val = mnistkit.train_val_split(mnist.train.subset(slice(0, 1_200)), val_fraction=0.25)
    folder = tmp_path_factory.mktemp("tb") / "run"
    mnistkit.seed_everything(0)
    model = mnistkit.get_model("cnn", channels=(4, 8), hidden=16)
    config = mnistkit.TrainConfig(epochs=2, batch_size=100, log_every=3, progress=False)
    trainer = mnistkit.Trainer(model, config, callbacks=[TensorBoardLogger(folder)])
    history = trainer.fit(train, val=val)
    return folder, history, len(train)


def test_epoch_scalars_equal_the_history(logged: tuple[Path, mnistkit.History, int]) -> None:
    folder, history, _ = logged
    events = _events(folder)
    keys = [k for k in history.records[0] if k != "epoch"]
    assert set(keys) == {
        "train_loss",
        "train_accuracy",
        "val_loss",
        "val_accuracy",
        "lr",
        "seconds",
    }
    for key in keys:
        stored = events.Scalars(f"epoch/{key}")
        assert [e.step for e in stored] == history.epochs, key
        assert [e.value for e in stored] == [float(np.float32(v)) for v in history.metric(key)]
    assert read_scalars(folder)["epoch/val_accuracy"] == [
        (e, float(np.float32(v))) for e, v in zip(history.epochs, history.val_accuracy, strict=True)
    ]


def test_batch_scalars_every_log_every_batches(
    logged: tuple[Path, mnistkit.History, int],
) -> None:
    folder, _, train_size = logged
    events = _events(folder)
    batches = -(-train_size // 100)  # 9 batches of at most 100 per epoch
    expected = [e * batches + b + 1 for e in range(2) for b in range(0, batches, 3)]
    assert [e.step for e in events.Scalars("batch/train_loss")] == expected
    assert [e.step for e in events.Scalars("batch/lr")] == expected
    assert all(e.value > 0 for e in events.Scalars("batch/train_loss"))


def test_figures_graph_and_hparams_are_written(
    logged: tuple[Path, mnistkit.History, int],
) -> None:
    folder, _, _ = logged
    events = _events(folder)
    tags = events.Tags()
    assert set(tags["images"]) == {"predictions/val", "confusion_matrix/val"}
    for tag in tags["images"]:
        images = events.Images(tag)
        assert [i.step for i in images] == [1, 2]
        assert images[0].encoded_image_string[:8] == b"\x89PNG\r\n\x1a\n"
    assert tags["graph"] is True
    assert "Conv2d" in str(events.Graph())
    plugins = events.PluginTagToContent("hparams")
    assert {"_hparams_/experiment", "_hparams_/session_start_info"} <= set(plugins)
    start = plugins["_hparams_/session_start_info"]
    for setting in (b"model", b"cnn", b"batch_size", b"optimizer", b"adamw", b"dataset"):
        assert setting in start
    assert events.PluginTagToContent("custom_scalars")  # the loss and accuracy charts


def test_without_validation_the_training_sample_is_drawn(
    mnist: DatasetSplits, tmp_path: Path
) -> None:
    folder = tmp_path / "train-only"
    model = mnistkit.get_model("linear")
    config = mnistkit.TrainConfig(epochs=1, progress=False)
    logger = TensorBoardLogger(folder, graph=False, hparams=False)
    mnistkit.Trainer(model, config, callbacks=[logger]).fit(mnist.train.subset(slice(0, 500)))
    tags = _events(folder).Tags()
    assert set(tags["images"]) == {"predictions/train", "confusion_matrix/train"}
    assert "epoch/val_loss" not in tags["scalars"] and tags["graph"] is False


def test_cli_train_logs_for_tensorboard(data_root: Path, tmp_path: Path) -> None:
    out, board = tmp_path / "out", tmp_path / "board"
    args = ["train", "--model", "linear", "--epochs", "1", "--val-fraction", "0.1", "--quiet"]
    argv = [*args, "--data-dir", str(data_root), "--out", str(out), "--tensorboard", str(board)]
    assert main(argv) == 0
    history = json.loads((out / "history.json").read_text())["records"]
    stored = _events(board).Scalars("epoch/val_accuracy")
    assert [e.value for e in stored] == [float(np.float32(r["val_accuracy"])) for r in history]


def test_without_tensorboard_the_error_names_the_extra(
    data_root: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    with pytest.raises(mnistkit.MissingExtraError, match=r'"mnistkit\[tensorboard\] @ file:///'):
        TensorBoardLogger(tmp_path / "never")
    out = tmp_path / "out"
    argv = [
        "train",
        "--data-dir",
        str(data_root),
        "--out",
        str(out),
        "--tensorboard",
        str(tmp_path),
    ]
    assert main(argv) == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and 'pip install ".[tensorboard]"' in error
    assert not out.exists()  # failed before training started
