"""The model registry, the networks' shapes and parameter counts, and summary()."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import mnistkit
from mnistkit.datasets import DatasetSplits
from mnistkit.models import (
    CNN,
    MLP,
    LeNet5,
    Linear,
    ResNet,
    architecture_of,
    get_model,
    list_models,
    register_model,
    summary,
)

# The counts each class docstring documents.
DOCUMENTED_PARAMETERS = {
    "linear": 7_850,
    "mlp": 235_146,
    "cnn": 421_642,
    "lenet5": 61_706,
    "deepcnn": 288_170,
    "resnet": 308_074,
}


def _count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_list_models() -> None:
    assert list_models() == ["cnn", "deepcnn", "lenet5", "linear", "mlp", "resnet"]
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


def _textbook_cnn(model: CNN, images: torch.Tensor, *, pool_first: bool) -> torch.Tensor:
    """The CNN's stages computed in the order a textbook draws them, with its weights."""
    x = model.normalize(images)
    for stage in range(len(model.channels)):
        conv, *rest = list(model.features)[4 * stage : 4 * stage + 4]
        norm = next(m for m in rest if not isinstance(m, nn.MaxPool2d | nn.ReLU))
        x = conv(x)
        x = (
            torch.relu(norm(F.max_pool2d(x, 2)))
            if pool_first
            else F.max_pool2d(torch.relu(norm(x)), 2)
        )
    logits: torch.Tensor = model.classifier(x)
    return logits


@pytest.mark.parametrize("batch_norm", [False, True])
def test_cnn_stages_compute_the_textbook_order(batch_norm: bool, mnist: DatasetSplits) -> None:
    """Convolution, batch norm (if any), ReLU, max-pool; in training and in eval mode."""
    torch.manual_seed(0)
    model = get_model("cnn", batch_norm=batch_norm, dropout=0.0)
    assert isinstance(model, CNN)
    images = mnist.test.images[:64].float().unsqueeze(1) / 255
    for mode in (True, False):
        model.train(mode)
        with torch.no_grad():
            ours = model(images)
            textbook = _textbook_cnn(model, images, pool_first=False)
        torch.testing.assert_close(ours, textbook, rtol=0, atol=0)
    kinds = [type(m).__name__ for m in model.features[:4]]
    assert kinds == ["Conv2d", "BatchNorm2d" if batch_norm else "Identity", "ReLU", "MaxPool2d"]
    if not batch_norm:  # then pooling first computes the same function: ReLU and max commute
        pooled = get_model("cnn", pool_before_norm=True, dropout=0.0)
        pooled.load_state_dict(model.state_dict())
        with torch.no_grad():
            torch.testing.assert_close(pooled.eval()(images), model.eval()(images))


def test_pool_before_norm_normalises_the_pooled_maps(mnist: DatasetSplits) -> None:
    torch.manual_seed(0)
    plain = get_model("cnn", batch_norm=True, dropout=0.0)
    torch.manual_seed(0)
    pooled = get_model("cnn", batch_norm=True, pool_before_norm=True, dropout=0.0)
    assert isinstance(pooled, CNN) and pooled.pool_before_norm
    assert architecture_of(pooled) == {
        "name": "cnn",
        "config": {"batch_norm": True, "pool_before_norm": True, "dropout": 0.0},
    }
    # the same parameters, the batch norm one place later in each stage (after the pool)
    moved = {"features.1.": "features.2.", "features.5.": "features.6."}
    state = {
        next((k.replace(a, b) for a, b in moved.items() if k.startswith(a)), k): v
        for k, v in plain.state_dict().items()
    }
    assert state.keys() == pooled.state_dict().keys()
    pooled.load_state_dict(state)
    seen: list[tuple[int, ...]] = []
    for module in pooled.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.register_forward_hook(lambda m, i, o: seen.append(tuple(i[0].shape[2:])))
    images = mnist.test.images[:64].float().unsqueeze(1) / 255
    with torch.no_grad():
        out = pooled.train()(images)
        torch.testing.assert_close(out, _textbook_cnn(pooled, images, pool_first=True))
        assert seen[:2] == [(14, 14), (7, 7)]
        # training-mode statistics of pooled maps differ from those of the full maps
        assert not torch.allclose(out, plain.train()(images), atol=1e-3)


def test_resnet_blocks_add_their_input_and_halve_the_image(mnist: DatasetSplits) -> None:
    """Each block is relu(branch(x) + shortcut(x)); stages after the first halve the maps."""
    torch.manual_seed(0)
    model = get_model("resnet", widths=(8, 16, 32), blocks=(2, 1, 1), stem=8, dropout=0.0)
    assert isinstance(model, ResNet)
    images = mnist.test.images[:32].float().unsqueeze(1) / 255
    shapes: list[tuple[int, ...]] = []
    for block in model.features:
        block.register_forward_hook(lambda m, i, o: shapes.append(tuple(o.shape[1:])))
    with torch.no_grad():
        model.train()(images)
    assert shapes == [(8, 28, 28), (8, 28, 28), (16, 14, 14), (32, 7, 7)]
    model.eval()
    first, third = model.features[0], model.features[2]
    assert isinstance(first.shortcut, nn.Identity)  # same shape: the input itself
    assert isinstance(third.shortcut, nn.Sequential)  # stride 2, 8 -> 16: a 1x1 projection
    conv1, bn1, conv2, bn2 = (first.get_submodule(n) for n in ("conv1", "bn1", "conv2", "bn2"))
    assert isinstance(bn2, nn.BatchNorm2d)
    with torch.no_grad():
        x = model.stem(model.normalize(images))
        branch = bn2(conv2(torch.relu(bn1(conv1(x)))))
        torch.testing.assert_close(first(x), torch.relu(branch + x))
        # a branch that outputs zero passes its (non-negative, post-ReLU) input through
        nn.init.zeros_(bn2.weight)
        nn.init.zeros_(bn2.bias)
        torch.testing.assert_close(first(x), x)
        assert third(torch.relu(torch.randn(4, 8, 28, 28))).shape == (4, 16, 14, 14)


def test_a_cnn_saved_before_pool_before_norm_loads_unchanged() -> None:
    """Parameter names are those of 0.1's layout: conv at 4k, batch norm at 4k + 1."""
    names = set(get_model("cnn", batch_norm=True).state_dict())
    assert {"features.0.weight", "features.1.running_mean", "features.4.weight"} <= names
    assert "features.5.weight" in names and "classifier.2.weight" in names


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
        (lambda: ResNet(widths=()), "'widths'"),
        (lambda: ResNet(widths=(8, 0)), "'widths'"),
        (lambda: ResNet(widths=(8, 16), blocks=(1,)), "for each of the 2 stages"),
        (lambda: ResNet(stem=0), "'stem'"),
    ],
)
def test_bad_model_arguments(build: object, match: str) -> None:
    with pytest.raises(mnistkit.ConfigError, match=match):
        build()  # type: ignore[operator]


def test_register_model(monkeypatch: pytest.MonkeyPatch) -> None:
    from mnistkit.models import _registry

    monkeypatch.setattr(_registry, "_REGISTRY", dict(_registry._REGISTRY))

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


def test_register_model_as_a_decorator_returns_what_it_decorates(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from mnistkit.models import _registry

    monkeypatch.setattr(_registry, "_REGISTRY", dict(_registry._REGISTRY))

    @register_model("narrow")
    class Narrow(nn.Module):
        def __init__(self, *, width: int = 2) -> None:
            super().__init__()
            self.layers = nn.Sequential(nn.Flatten(), nn.Linear(784, width), nn.Linear(width, 10))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out: torch.Tensor = self.layers(x)
            return out

    assert isinstance(Narrow(), Narrow)  # the class itself, not a wrapper
    model = get_model("narrow", width=3)
    assert isinstance(model, Narrow) and architecture_of(model) == {
        "name": "narrow",
        "config": {"width": 3},
    }
    assert get_model("narrow")(torch.rand(2, 1, 28, 28)).shape == (2, 10)
    hidden = register_model("hidden", Narrow, listed=False)
    assert hidden is Narrow and "hidden" not in list_models() and "narrow" in list_models()
    assert isinstance(get_model("hidden"), Narrow)
    with pytest.raises(mnistkit.ConfigError, match="'builder'"):
        register_model("broken", 3)  # type: ignore[call-overload]
    with pytest.raises(mnistkit.ConfigError, match="already registered"):
        register_model("ensemble")(Narrow)  # ensembles register like any model


def test_an_ensemble_of_registered_models_records_how_to_rebuild_it() -> None:
    from mnistkit.models import Ensemble

    members = [get_model("linear"), get_model("mlp", hidden_sizes=(16,))]
    ensemble = Ensemble(members)
    record = architecture_of(ensemble)
    assert record == {
        "name": "ensemble",
        "config": {
            "members": [
                {"name": "linear", "config": {}},
                {"name": "mlp", "config": {"hidden_sizes": [16]}},
            ]
        },
    }
    rebuilt = get_model(record["name"], **record["config"])
    assert isinstance(rebuilt, Ensemble) and len(rebuilt) == 2
    assert [_count(m) for m in rebuilt.members] == [_count(m) for m in members]
    # a module the registry did not build leaves the ensemble without a record
    assert architecture_of(Ensemble([members[0], nn.Flatten()])) is None
    with pytest.raises(mnistkit.ConfigError, match="'members'"):
        get_model("ensemble", members=[])


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
