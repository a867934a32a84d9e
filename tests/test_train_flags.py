"""Each ``mnistkit train`` flag reaches the settings the run records in ``metrics.json``.

The run trains on real MNIST cut to a few hundred images, so it takes seconds; what is
checked is that no flag is parsed and then dropped on the way to the trainer.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from mnistkit import datasets
from mnistkit.cli import main
from mnistkit.datasets import DatasetSplits
from mnistkit.recipes import Recipe, get_recipe


def test_every_train_flag_reaches_metrics_json(
    mnist: DatasetSplits,
    data_root: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def few(name: str, **kwargs: Any) -> DatasetSplits:
        assert name == "mnist" and kwargs["root"] == data_root
        return dataclasses.replace(
            mnist, train=mnist.train.subset(slice(0, 400)), test=mnist.test.subset(slice(0, 200))
        )

    monkeypatch.setattr(datasets, "load", few)
    flags = {
        "--model": "linear",
        "--epochs": "2",
        "--batch-size": "50",
        "--lr": "0.02",
        "--optimizer": "sgd",
        "--schedule": "step",
        "--weight-decay": "0.001",
        "--label-smoothing": "0.1",
        "--grad-clip": "5",
        "--device": "cpu",
        "--precision": "bf16-mixed",
        "--seed": "7",
        "--val-fraction": "0.25",
    }
    out = tmp_path / "run"
    argv = ["train", *(x for pair in flags.items() for x in pair)]
    assert main([*argv, "--data-dir", str(data_root), "--out", str(out), "--quiet"]) == 0
    assert "(300 images)" in capsys.readouterr().out  # 400 less a quarter held out
    metrics = json.loads((out / "metrics.json").read_text())
    expected = {
        "epochs": 2,
        "batch_size": 50,
        "lr": 0.02,
        "optimizer": "sgd",
        "schedule": "step",
        "weight_decay": 0.001,
        "label_smoothing": 0.1,
        "grad_clip": 5.0,
        "device": "cpu",
        "precision": "bf16-mixed",
        "seed": 7,
    }
    assert {k: metrics["config"][k] for k in expected} == expected
    assert metrics["model"] == "linear" and metrics["parameters"] == 7850
    assert (metrics["seed"], metrics["val_fraction"]) == (7, 0.25)
    assert (metrics["device"], metrics["precision"]) == ("cpu", "bf16-mixed")
    assert metrics["epochs"] == 2 and metrics["report"]["num_samples"] == 200
    # the flags not given keep the recipe's values: --model alone picks the model's recipe
    assert metrics["recipe"] == "linear"
    recipe = get_recipe("linear").config
    assert metrics["config"]["momentum"] == recipe.momentum
    assert metrics["config"]["channels_last"] == recipe.channels_last


def test_compile_and_channels_last_flags_reach_the_recipe(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # torch.compile takes about 20 s on a CPU: the run itself is replaced here
    import mnistkit.run

    seen: list[Recipe] = []

    def fake_run(out: Path, *, recipe: Recipe, **kwargs: object) -> SimpleNamespace:
        seen.append(recipe)
        report = SimpleNamespace(accuracy=1.0)
        return SimpleNamespace(report=report, metrics={"train_seconds": 0.0}, model_path=out)

    monkeypatch.setattr(mnistkit.run, "run_training", fake_run)
    assert main(["train", "--out", str(tmp_path), "--quiet"]) == 0
    assert main(["train", "--compile", "--channels-last", "--out", str(tmp_path), "--quiet"]) == 0
    off = ["train", "--recipe", "fast", "--no-compile", "--no-channels-last", "--quiet"]
    assert main([*off, "--out", str(tmp_path)]) == 0
    plain, flagged, unflagged = (recipe.config for recipe in seen)
    assert (plain.compile, flagged.compile, unflagged.compile) == (False, True, False)
    # the recipes use channels-last: --channels-last confirms it, --no-channels-last turns it off
    assert (plain.channels_last, flagged.channels_last) == (True, True)
    assert unflagged.channels_last is False
