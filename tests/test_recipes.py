"""Recipes: named model + TrainConfig bundles, and how flags override them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import mnistkit
from mnistkit import Recipe, TrainConfig, get_recipe, list_recipes
from mnistkit.cli import main
from mnistkit.recipes import register_recipe


def test_default_recipe_is_what_train_runs() -> None:
    recipe = get_recipe("default")
    assert recipe.model == "cnn" and recipe.config == TrainConfig()
    assert "default" in list_recipes()
    with pytest.raises(mnistkit.ConfigError, match="did you mean 'default'"):
        get_recipe("defualt")


def test_replace_takes_recipe_and_config_fields() -> None:
    base = Recipe("tiny", "a test", "cnn", {"channels": (8,)}, TrainConfig(epochs=2))
    changed = base.replace(epochs=1, lr=0.01)
    assert (changed.config.epochs, changed.config.lr) == (1, 0.01)
    assert changed.model_config == {"channels": (8,)} and base.config.epochs == 2
    other = base.replace(model="linear")  # another model drops the old model's settings
    assert other.model == "linear" and dict(other.model_config) == {}
    with pytest.raises(mnistkit.ConfigError, match="unknown field.*'epoch'"):
        base.replace(epoch=3)
    with pytest.raises(mnistkit.ConfigError, match="'epochs'"):
        base.replace(epochs=0)  # validated again
    with pytest.raises(mnistkit.ConfigError, match="'model'.*did you mean 'cnn'"):
        Recipe("bad", "a test", "cnnn")
    with pytest.raises(mnistkit.ConfigError, match="already registered"):
        register_recipe(Recipe("default", "again", "cnn"))
    model = base.build_model("fashion-mnist")
    assert model.normalize.mean.item() == pytest.approx(0.2860)


def test_recipes_command_lists_every_recipe(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["recipes"]) == 0
    out = capsys.readouterr().out
    for name in list_recipes():
        assert out.count(f"{name} ") >= 1


@pytest.mark.slow
def test_flags_override_the_recipe_and_metrics_record_it(data_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = ["train", "--recipe", "default", "--model", "linear", "--epochs", "1"]
    args += ["--batch-size", "256", "--quiet", "--data-dir", str(data_root), "--out", str(out)]
    assert main(args) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["recipe"] == "default" and metrics["model"] == "linear"
    assert metrics["config"]["epochs"] == 1 and metrics["config"]["batch_size"] == 256
    assert metrics["config"]["optimizer"] == "adamw"  # not given: the recipe's
    assert metrics["model_config"] == {}
    assert metrics["test_accuracy"] > 0.88  # one epoch of softmax regression
