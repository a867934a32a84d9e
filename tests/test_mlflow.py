"""MLflowLogger and ``mnistkit train --mlflow``, read back from a real local store with
MLflow's own client."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from mlflow.tracking import MlflowClient

import mnistkit
from mnistkit.callbacks import Callback, RunView
from mnistkit.cli import main
from mnistkit.datasets import DatasetSplits
from mnistkit.mlflow import MLflowLogger


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """A SQLite tracking store (made once: creating its tables takes seconds) and a folder."""
    folder = tmp_path_factory.mktemp("mlflow")
    return f"sqlite:///{folder / 'mlflow.db'}", folder


def _runs(uri: str, experiment: str) -> list[Any]:
    client = MlflowClient(uri)
    found = client.get_experiment_by_name(experiment)
    return [] if found is None else client.search_runs([found.experiment_id])


def test_cli_train_tracks_settings_metrics_and_files(
    store: tuple[str, Path], data_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    uri, folder = store
    monkeypatch.chdir(folder)  # MLflow's default artifact root is ./mlruns
    out = folder / "run"
    args = ["train", "--model", "linear", "--epochs", "2", "--val-fraction", "0.1", "--quiet"]
    assert main([*args, "--data-dir", str(data_root), "--out", str(out), "--mlflow", uri]) == 0
    (run,) = _runs(uri, "mnistkit")
    client = MlflowClient(uri)
    assert run.info.status == "FINISHED" and run.info.run_name == "run"
    params = run.data.params
    assert params["recipe.name"] == "linear" and params["model"] == "linear"
    assert params["config.epochs"] == "2" and params["val_fraction"] == "0.1"
    assert params["dataset"] == "mnist" and params["train_size"] == "54001"
    # every History key, at step = epoch, as history.json holds it
    records = json.loads((out / "history.json").read_text())["records"]
    for key in ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "seconds"):
        logged = client.get_metric_history(run.info.run_id, key)
        assert [(m.step, m.value) for m in logged] == [(r["epoch"], r[key]) for r in records]
    metrics = json.loads((out / "metrics.json").read_text())
    assert run.data.metrics["test_accuracy"] == metrics["test_accuracy"]
    names = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"model.safetensors", "metrics.json", "history.json", "confusion_matrix.png"} <= names
    assert "state.pt" not in names
    copy = Path(client.download_artifacts(run.info.run_id, "model.safetensors", str(folder)))
    assert copy.read_bytes() == (out / "model.safetensors").read_bytes()


class _Fails(Callback):
    def on_epoch_end(self, run: RunView, epoch: int, record: dict[str, float]) -> None:
        raise RuntimeError("a callback broke")


def test_a_run_that_raises_is_marked_failed(
    store: tuple[str, Path], mnist: DatasetSplits, tmp_path: Path
) -> None:
    uri, _ = store
    logger = MLflowLogger(
        uri, experiment="failing", artifact_location=str(tmp_path), params={"note": "x"}
    )
    config = mnistkit.TrainConfig(epochs=3, progress=False, device="cpu")
    trainer = mnistkit.Trainer(mnistkit.get_model("linear"), config, callbacks=[logger, _Fails()])
    with pytest.raises(RuntimeError, match="a callback broke"):
        trainer.fit(mnist.train.subset(slice(0, 500)))
    (run,) = _runs(uri, "failing")
    assert run.info.run_id == logger.run_id and run.info.status == "FAILED"
    assert run.data.params["note"] == "x" and "train_loss" in run.data.metrics  # epoch 1
    assert MlflowClient(uri).list_artifacts(run.info.run_id) == []  # never reached the end


def test_only_rank_0_logs(
    store: tuple[str, Path], mnist: DatasetSplits, monkeypatch: pytest.MonkeyPatch
) -> None:
    uri, folder = store
    monkeypatch.setenv("RANK", "1")  # as torchrun sets it on the second process
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    logger = MLflowLogger(uri, experiment="rank-1")
    config = mnistkit.TrainConfig(epochs=1, progress=False, device="cpu", distributed="off")
    trainer = mnistkit.Trainer(mnistkit.get_model("linear"), config, callbacks=[logger])
    trainer.fit(mnist.train.subset(slice(0, 200)))
    logger.log_folder(folder, metrics={"test_accuracy": 1.0})
    logger.end()
    assert logger.run_id is None and _runs(uri, "rank-1") == []


def test_without_mlflow_the_error_names_the_extra(
    data_root: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setitem(sys.modules, "mlflow.tracking", None)
    with pytest.raises(mnistkit.MissingExtraError, match=r'pip install "\.\[mlflow\]"'):
        MLflowLogger()
    out = tmp_path / "out"
    argv = ["train", "--data-dir", str(data_root), "--out", str(out), "--mlflow"]
    assert main(argv) == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and 'pip install ".[mlflow]"' in error
    assert not out.exists()  # failed before training started
