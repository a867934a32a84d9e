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


def test_each_derived_train_flag_sets_its_recipe_field(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # every TrainConfig field that is a flag, given a value the default recipe does not have
    import mnistkit.run
    from mnistkit.cli._parser import train_fields

    given: dict[str, tuple[list[str], object]] = {
        "epochs": (["--epochs", "2"], 2),
        "batch_size": (["--batch-size", "50"], 50),
        "optimizer": (["--optimizer", "sgd"], "sgd"),
        "lr": (["--lr", "0.02"], 0.02),
        "schedule": (["--schedule", "step"], "step"),
        "weight_decay": (["--weight-decay", "0.001"], 0.001),
        "label_smoothing": (["--label-smoothing", "0.1"], 0.1),
        "outlier_exposure": (["--outlier-exposure", "0.5"], 0.5),
        "grad_clip": (["--grad-clip", "5"], 5.0),
        "seed": (["--seed", "7"], 7),
        "device": (["--device", "cpu"], "cpu"),
        "precision": (["--precision", "bf16-mixed"], "bf16-mixed"),
        "channels_last": (["--no-channels-last"], False),
        "compile": (["--compile"], True),
    }
    assert set(given) == set(train_fields())  # a new flag needs its line here
    default = get_recipe("default").config
    assert all(getattr(default, name) != value for name, (_, value) in given.items())
    seen: list[Recipe] = []

    def fake_run(out: Path, *, recipe: Recipe, **kwargs: object) -> SimpleNamespace:
        seen.append(recipe)
        report = SimpleNamespace(accuracy=1.0)
        return SimpleNamespace(report=report, metrics={"train_seconds": 0.0}, model_path=out)

    monkeypatch.setattr(mnistkit.run, "run_training", fake_run)
    for name, (flags, value) in given.items():
        assert main(["train", *flags, "--out", str(tmp_path), "--quiet"]) == 0
        config = seen[-1].config
        assert getattr(config, name) == value, name
        # the others keep the recipe's values
        others = {f.name for f in dataclasses.fields(config)} - {name, "progress"}
        assert all(getattr(config, other) == getattr(default, other) for other in others)


def test_ensemble_flags_set_every_members_recipe(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import mnistkit.run

    calls: list[dict[str, Any]] = []

    def fake_ensemble(out: Path, **kwargs: Any) -> SimpleNamespace:
        calls.append(kwargs)
        report = SimpleNamespace(accuracy=1.0)
        return SimpleNamespace(report=report, metrics={"members": []}, model_path=out)

    monkeypatch.setattr(mnistkit.run, "run_ensemble", fake_ensemble)
    argv = ["ensemble", "--recipe", "fast", "default", "--seeds", "4", "9", "--epochs", "2"]
    argv += ["--device", "cpu", "--precision", "32", "--out", str(tmp_path), "--quiet"]
    assert main(argv) == 0
    (call,) = calls
    assert call["seeds"] == [4, 9]
    assert [r.name for r in call["recipe"]] == ["fast", "default"]
    for recipe in call["recipe"]:
        config, own = recipe.config, get_recipe(recipe.name).config
        assert (config.epochs, config.device, config.precision) == (2, "cpu", "32")
        assert (config.batch_size, config.lr) == (own.batch_size, own.lr)
    assert "seeds 4, 9" in capsys.readouterr().out
