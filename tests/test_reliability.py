"""Failures a new user meets: divergence, bad devices, two runs in one folder."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import mnistkit
from mnistkit import Callback, RunView, TrainConfig, Trainer, TrainingStateCheckpoint, get_model
from mnistkit._io import locked_folder
from mnistkit.cli import main
from mnistkit.datasets import DatasetSplits


def test_divergence_stops_with_the_step_and_writes_nothing(
    data_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    code = main(
        [
            "train",
            *("--model", "mlp", "--optimizer", "sgd", "--schedule", "none", "--lr", "1e6"),
            *("--epochs", "2", "--quiet", "--data-dir", str(data_root), "--out", str(out)),
        ]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert "Training diverged" in err and "epoch 1, step " in err
    assert "--grad-clip" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()  # nothing was written, so no folder is left behind


class _BlowUp(Callback):
    """Raises the learning rate to an absurd value when epoch ``at`` starts."""

    def __init__(self, trainer_box: list[Trainer], at: int) -> None:
        self.box, self.at = trainer_box, at

    def on_epoch_start(self, run: RunView, epoch: int) -> None:
        if epoch == self.at:
            state = self.box[0].state
            assert state is not None
            for group in state.optimizer.param_groups:
                group["lr"] = 1e6


def test_divergence_keeps_the_last_good_state(mnist: DatasetSplits, tmp_path: Path) -> None:
    state_path = tmp_path / "state.pt"
    box: list[Trainer] = []
    config = TrainConfig(
        epochs=3, optimizer="sgd", schedule="none", batch_size=256, device="cpu", progress=False
    )
    trainer = Trainer(
        get_model("mlp", hidden_sizes=(32,)),
        config,
        callbacks=[TrainingStateCheckpoint(state_path), _BlowUp(box, at=2)],
    )
    box.append(trainer)
    with pytest.raises(mnistkit.TrainingDivergedError, match="at epoch 2, step "):
        trainer.fit(mnist.train.subset(slice(0, 5000)))
    saved = torch.load(state_path, weights_only=True)
    assert saved["epoch"] == 1  # written after epoch 1, not overwritten by epoch 2
    assert all(torch.isfinite(t).all() for t in saved["model"].values())
    assert not all(torch.isfinite(p).all() for p in trainer.model.parameters())


@pytest.mark.parametrize("device", ["cuda:99", "mps", "banana"])
def test_unavailable_devices_are_usage_errors(
    device: str, data_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if device == "mps" and mnistkit.devices.available_devices().count("mps"):
        pytest.fail("this test needs a machine without Apple's MPS")  # never on CI
    out = tmp_path / "run"
    empty = tmp_path / "no-data"  # nothing to load: the device is checked before any download
    code = main(["train", "--device", device, "--data-dir", str(empty), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert device in err and "available here: " in err
    assert not out.exists() and not empty.exists()


def test_a_second_run_into_a_locked_folder_fails_at_once(
    data_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "shared"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from mnistkit._io import locked_folder\n"
            "with locked_folder(sys.argv[1]):\n"
            "    print('locked', flush=True); time.sleep(60)\n",
            str(out),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        started = time.perf_counter()
        code = main(["train", "--epochs", "1", "--data-dir", str(data_root), "--out", str(out)])
        elapsed = time.perf_counter() - started
    finally:
        holder.kill()
        holder.wait()
    err = capsys.readouterr().err
    assert code == 1
    assert f"{out}: another mnistkit run is writing into this folder" in err
    assert elapsed < 30  # it did not train first (a CNN epoch takes longer on CI)
    # the holder's death released the lock: the folder can be locked again
    with locked_folder(out) as folder:
        assert (folder / ".mnistkit.lock").exists()
    assert not (out / ".mnistkit.lock").exists()


def test_the_lock_is_exclusive_within_one_process_too(tmp_path: Path) -> None:
    with (
        locked_folder(tmp_path / "a"),
        pytest.raises(mnistkit.FolderLockedError, match="a:"),
        locked_folder(tmp_path / "a"),
    ):
        pass  # pragma: no cover - never entered
    assert not (tmp_path / "a").exists()  # created by the first block, left empty: removed
