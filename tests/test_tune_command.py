"""``mnistkit tune``: several processes share one Optuna study through its storage."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest

from mnistkit.cli import main
from mnistkit.tune import Param, parse_param

ROOT = Path(__file__).resolve().parents[1]


def _tune(data_root: Path, storage: str, out: Path, *extra: str) -> subprocess.Popen[str]:
    """A ``mnistkit tune`` process of two tiny trials (linear model, 600 images, 1 epoch)."""
    argv = [
        *("tune", "--recipe", "linear", "--trials", "2", "--subset", "600", "--epochs", "1"),
        *("--storage", storage, "--study", "shared", "--device", "cpu"),
        *("--param", "lr=log:3e-3:3e-2"),  # rates that train the linear model in an epoch
        *("--data-dir", str(data_root), "--no-download", "--out", str(out), *extra),
    ]
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    return subprocess.Popen(
        [sys.executable, "-m", "mnistkit", *argv],
        cwd=out.parent,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_processes_share_one_study_and_lose_no_trial(data_root: Path, tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    worker = _tune(data_root, storage, tmp_path / "worker", "--no-retrain")
    chief = _tune(data_root, storage, tmp_path / "chief")
    for process in (worker, chief):
        _, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
    study = optuna.load_study(study_name="shared", storage=storage)
    trials = study.trials
    # every trial of both processes is in the one study, numbered once, and finished
    assert sorted(t.number for t in trials) == [0, 1, 2, 3]
    finished = {optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED}
    assert all(t.state in finished for t in trials)
    processes = [t.user_attrs["process"] for t in trials]
    assert len(set(processes)) == 2 and all(processes.count(p) == 2 for p in set(processes))
    # the chief retrained the best trial it saw and tested it once
    record = json.loads((tmp_path / "chief" / "search.json").read_text())
    assert record["test"]["accuracy"] > 0.5 and (tmp_path / "chief" / "model.safetensors").is_file()
    assert record["best_params"] == next(
        t["params"] for t in record["trials"] if t["number"] == record["best_trial"]
    )
    assert not (tmp_path / "worker" / "model.safetensors").exists()


def test_search_parameters_are_read_and_checked(capsys: pytest.CaptureFixture[str]) -> None:
    assert parse_param("lr=log:1e-4:0.1") == Param("lr", "log", 1e-4, 0.1)
    assert parse_param("optimizer=choice:adam,sgd").choices == ("adam", "sgd")
    assert parse_param("model_config.dropout=float:0:0.5").high == 0.5
    assert main(["tune", "--param", "lr=between:1:2"]) == 2
    assert "NAME=log:LOW:HIGH" in capsys.readouterr().err
    assert main(["tune", "--param", "lr=log:0:1"]) == 2  # a log scale starts above 0
    assert "'low' must be" in capsys.readouterr().err
