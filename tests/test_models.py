"""The model registry, the networks' shapes and parameter counts, and summary()."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import mnistkit
from mnistkit.datasets import DatasetSplits
from mnistkit.models import (
    CNN,
    MLP,
    LeNet5,
    Linear,
    architecture_of,
    get_model,
    list_models,
    register_model,
    summary,
)

# The counts each class docstring documents.
DOCUMENTED_PARAMETERS = {"linear": 7_850, "mlp": 235_146, "cnn": 421_642, "lenet5": 61_706}


def _count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_list_models() -> None:
    assert list_models() == ["cnn", "deepcnn", "lenet5", "linear", "mlp"]
    assert mnistkit.list_models() == list_models()


@pytest.mark.parametrize("name", sorted(DOCUMENTED_PARAMETERS))
def test_documented_parameter_counts_and_shapes(name: str, mnist: DatasetSplits) -> None:
    model = get_model(name)
    assert _count(model) == DOCUMENTED_PARAMETERS[name]
    assert f"{DOCUMENTED_PARAMETERS[name]:,}" in (type(model).__doc__ or "")
    batch = mnist.test.images[:5].unsqueeze(1).float() / 255
    assert model(batch).shape == (5, 10)
    assert architecture_of(model) == {"name": name, "config": {}}


def test_configuration_is_recorded_and_applied() -> None:
    model = get_model("mlp", hidden_sizes=(32, 16), activation="tanh", dropout=0.0)
    assert isinstance(model, MLP)
    assert architecture_of(model) == {
        "name": "mlp",
        "config": {"hidden_sizes": [32, 16], "activation": "tanh", "dropout": 0.0},
    }
    assert _count(model) == 784 * 32 + 32 + 32 * 16 + 16 + 16 * 10 + 10
    cnn = get_model("cnn", channels=(8, 16, 32), hidden=0, batch_norm=True, num_classes=3)
    assert isinstance(cnn, CNN)
    assert cnn(torch.zeros(2, 1, 28, 28)).shape == (2, 3)
    assert any(isinstance(m, nn.BatchNorm2d) for m in cnn.modules())
    assert architecture_of(nn.Linear(2, 2)) is None


def test_unknown_name_suggests_the_closest() -> None:
    with pytest.raises(mnistkit.ConfigError, match="Did you mean 'lenet5'") as info:
        get_model("lenet")
    assert "cnn, lenet5, linear, mlp" in str(info.value)
    with pytest.raises(mnistkit.ConfigError, match="Unknown model 'resnet50'"):
        get_model("resnet50")


def test_unknown_argument_lists_the_accepted_ones() -> None:
    with pytest.raises(mnistkit.ConfigError, match="'hidden_size'") as info:
        get_model("mlp", hidden_size=(10,))
    assert "hidden_sizes" in str(info.value)


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: MLP(hidden_sizes=128), "'hidden_sizes'"),  # type: ignore[arg-type]
        (lambda: MLP(hidden_sizes=(0,)), "'hidden_sizes'"),
        (lambda: MLP(activation="swish"), "'activation'"),
        (lambda: MLP(dropout=1.0), "'dropout'"),
        (lambda: CNN(channels=(8, 8, 8, 8, 8)), "1 to 4 stages"),
        (lambda: CNN(hidden=-1), "'hidden'"),
        (lambda: Linear(num_classes=0), "'num_classes'"),
        (lambda: LeNet5(pooling="median"), "'pooling'"),
    ],
)
def test_bad_model_arguments(build: object, match: str) -> None:
    with pytest.raises(mnistkit.ConfigError, match=match):
        build()  # type: ignore[operator]


def test_register_model(monkeypatch: pytest.MonkeyPatch) -> None:
    from mnistkit.models import _registry

    monkeypatch.setattr(_registry, "_BUILDERS", dict(_registry._BUILDERS))

    def tiny(*, width: int = 4) -> nn.Module:
        return nn.Sequential(nn.Flatten(), nn.Linear(784, width), nn.Linear(width, 10))

    register_model("tiny", tiny)
    assert "tiny" in list_models()
    model = get_model("tiny", width=6)
    assert architecture_of(model) == {"name": "tiny", "config": {"width": 6}}
    with pytest.raises(mnistkit.ConfigError, match="already registered"):
        register_model("tiny", tiny)
    with pytest.raises(mnistkit.ConfigError, match="lower-case"):
        register_model("Tiny", tiny)


def test_summary_lists_layers_shapes_and_totals() -> None:
    model = get_model("lenet5")
    model.train()
    table = summary(model)
    assert model.training  # restored
    assert table.total_params == table.trainable_params == 61_706
    shapes = {layer.name: layer.output_shape for layer in table.layers}
    assert shapes["features.0"] == (1, 6, 28, 28)
    assert shapes["features.5"] == (1, 16, 5, 5)
    assert shapes["classifier.5"] == (1, 10)
    assert sum(layer.params for layer in table.layers) == 61_706
    text = str(table)
    assert "Total params: 61,706" in text
    assert "features.3 (Conv2d)" in text
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    assert summary(model).trainable_params == 0
