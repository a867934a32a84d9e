"""Failures a new user meets: divergence, bad devices, two runs in one folder."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from _full_disk import NO_SPACE, fill_disk

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


class _Recorder(Callback):
    """Records the hooks called, and can fail in on_exception itself."""

    def __init__(self, *, fail: bool = False) -> None:
        self.calls: list[str] = []
        self.error: BaseException | None = None
        self.fail = fail

    def on_fit_start(self, run: RunView) -> None:
        self.calls.append("fit_start")

    def on_fit_end(self, run: RunView, history: mnistkit.History) -> None:
        assert isinstance(run, RunView) and isinstance(history, mnistkit.History)
        self.calls.append("fit_end")

    def on_exception(self, run: RunView, error: BaseException) -> None:
        assert isinstance(run, RunView)
        self.calls.append("exception")
        self.error = error
        if self.fail:
            raise RuntimeError("cleanup failed too")


def test_a_failed_fit_calls_on_exception_and_releases_the_tensorboard_writer(
    mnist: DatasetSplits, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from mnistkit import TensorBoardLogger

    box: list[Trainer] = []
    first, second = _Recorder(fail=True), _Recorder()
    logger = TensorBoardLogger(tmp_path / "tb", images=False, graph=False)
    config = TrainConfig(
        epochs=3, optimizer="sgd", schedule="none", batch_size=256, device="cpu", progress=False
    )
    trainer = Trainer(
        get_model("mlp", hidden_sizes=(32,)),
        config,
        callbacks=[first, logger, second, _BlowUp(box, at=2)],
    )
    box.append(trainer)
    with pytest.raises(mnistkit.TrainingDivergedError):
        trainer.fit(mnist.train.subset(slice(0, 5000)))
    # every callback hears of it (also after one of them fails in its own clean-up), and the
    # error raised is the divergence, not the clean-up's
    assert first.calls == second.calls == ["fit_start", "exception"]
    assert isinstance(second.error, mnistkit.TrainingDivergedError)
    # the failing clean-up is logged with its traceback, naming the callback
    failures = [r for r in caplog.records if "on_exception failed" in r.getMessage()]
    assert [r.getMessage() for r in failures] == [f"{first!r}.on_exception failed"]
    assert failures[0].exc_info is not None and "cleanup failed too" in caplog.text
    assert logger._writer is None  # closed: its event file is complete and released
    events = list((tmp_path / "tb").glob("events.out.tfevents.*"))
    assert events
    assert events[0].stat().st_size > 0


def test_a_successful_fit_does_not_call_on_exception(mnist: DatasetSplits) -> None:
    recorder = _Recorder()
    config = TrainConfig(epochs=1, batch_size=256, device="cpu", progress=False)
    Trainer(get_model("linear"), config, callbacks=[recorder]).fit(
        mnist.train.subset(slice(0, 1000))
    )
    assert recorder.calls == ["fit_start", "fit_end"]


class _FailsToStart(Callback):
    def on_fit_start(self, run: RunView) -> None:
        raise ValueError("cannot start")


def test_only_started_callbacks_hear_of_a_failure(mnist: DatasetSplits) -> None:
    before, after = _Recorder(), _Recorder()
    config = TrainConfig(epochs=1, batch_size=256, device="cpu", progress=False)
    trainer = Trainer(get_model("linear"), config, callbacks=[before, _FailsToStart(), after])
    with pytest.raises(ValueError, match="cannot start"):
        trainer.fit(mnist.train.subset(slice(0, 1000)))
    assert before.calls == ["fit_start", "exception"]
    assert isinstance(before.error, ValueError)
    assert after.calls == []  # never started, so nothing to release
    assert len(trainer.history) == 0


def test_a_full_disk_ends_mnistkit_train_with_one_line(
    data_root: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = tmp_path / "run"
    fill_disk(monkeypatch)  # the first file written is the training state after epoch 1
    code = main(
        [
            "train",
            *("--model", "linear", "--epochs", "2", "--quiet"),
            *("--data-dir", str(data_root), "--out", str(out)),
        ]
    )
    err = capsys.readouterr().err
    # not torch's "RuntimeError: [enforce fail at inline_container.cc:...] unexpected pos"
    assert code == 1
    assert err == (
        f"mnistkit: error: {out / 'state.pt'}: cannot write the file ([Errno 28] {NO_SPACE}).\n"
    )
    assert not out.exists()  # no half-written state, no temporary file, no empty folder
