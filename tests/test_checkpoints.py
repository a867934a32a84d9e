"""save_model / load_model (safetensors + metadata) and the training-state file."""

from __future__ import annotations

import errno
import json
import pickle
from pathlib import Path
from typing import Any

import pytest
import safetensors.torch
import torch
from _full_disk import NO_SPACE, fill_disk
from torch import nn

import mnistkit
from mnistkit import get_model, list_models, load_model, save_model
from mnistkit.checkpoints import load_training_state, save_training_state
from mnistkit.datasets import DatasetSplits
from mnistkit.exceptions import WriteError


@pytest.mark.parametrize("name", list_models())
def test_round_trip_rebuilds_the_architecture(
    name: str, mnist: DatasetSplits, tmp_path: Path
) -> None:
    torch.manual_seed(0)
    configs: dict[str, dict[str, Any]] = {
        "mlp": {"hidden_sizes": (64, 32)},
        "cnn": {"channels": (8, 16)},
        "resnet": {"widths": (8, 16), "blocks": (2, 1), "stem": 8},
    }
    config = configs.get(name, {})
    model = get_model(name, **config)
    path = save_model(
        model,
        tmp_path / "m.safetensors",
        dataset="mnist",
        classes=mnist.classes,
        metrics={"test_accuracy": 0.5},
    )
    loaded = load_model(path)
    assert type(loaded.model) is type(model)
    assert loaded.metadata.architecture == name
    assert loaded.metadata.dataset == "mnist"
    assert loaded.metadata.classes == mnist.classes
    assert loaded.metadata.metrics == {"test_accuracy": 0.5}
    assert loaded.metadata.mnistkit_version == mnistkit.__version__
    assert not loaded.model.training
    images = mnist.test.images[:64]
    torch.testing.assert_close(
        mnistkit.predict_proba(model, images), mnistkit.predict_proba(loaded.model, images)
    )


def test_file_is_plain_safetensors_with_json_header(tmp_path: Path) -> None:
    path = save_model(get_model("linear", dataset="fashion-mnist"), tmp_path / "m.safetensors")
    tensors = safetensors.torch.load_file(str(path))
    # the normalisation travels in the weights, not in the metadata
    assert set(tensors) == {"fc.weight", "fc.bias", "normalize.mean", "normalize.std"}
    assert tensors["normalize.mean"].item() == pytest.approx(0.2860)
    assert tensors["normalize.std"].item() == pytest.approx(0.3530)
    with safetensors.safe_open(str(path), framework="pt") as handle:
        header = json.loads(handle.metadata()["mnistkit"])
    assert header["architecture"] == "linear"
    assert header["format_version"] == 2
    assert "mean" not in header and "std" not in header
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]  # no temp file left


def _write_version_1(model: nn.Module, path: Path, *, mean: float, std: float) -> None:
    """A model file as mnistkit 0.1 wrote it: no normalisation in the weights."""
    tensors = {k: v for k, v in model.state_dict().items() if not k.startswith("normalize.")}
    header = {
        "architecture": "mlp",
        "config": {"hidden_sizes": [32]},
        "dataset": "mnist",
        "classes": [str(i) for i in range(10)],
        "mean": mean,
        "std": std,
        "mnistkit_version": "0.1.0.dev0",
        "metrics": {},
        "format_version": 1,
    }
    safetensors.torch.save_file(tensors, str(path), metadata={"mnistkit": json.dumps(header)})


def test_version_1_files_load_with_their_normalisation(
    mnist: DatasetSplits, tmp_path: Path
) -> None:
    torch.manual_seed(0)
    model = get_model("mlp", hidden_sizes=(32,)).eval()
    path = tmp_path / "old.safetensors"
    _write_version_1(model, path, mean=0.25, std=0.5)
    loaded = load_model(path)
    assert loaded.metadata.format_version == 1
    assert loaded.model.normalize.mean.item() == 0.25
    assert loaded.model.normalize.std.item() == 0.5
    # a 0.1 model was called on normalised input; the loaded one takes [0, 1] pixels
    pixels = mnist.test.images[:16].unsqueeze(1).float() / 255
    body = model.layers  # the same weights, without the normalising layer
    torch.testing.assert_close(loaded.model(pixels), body((pixels - 0.25) / 0.5))
    # a custom module without a normalize layer cannot hold it: a clear error
    with pytest.raises(mnistkit.CheckpointError, match="version-1 model file.*Normalize"):
        load_model(path, model=nn.Sequential(nn.Flatten(), nn.Linear(784, 32)))
    # a custom module with its Normalize anywhere (here: first in a Sequential) receives it
    custom = nn.Sequential(mnistkit.Normalize(0.0, 1.0), nn.Flatten(), nn.Linear(784, 10))
    weights = {"2.weight": torch.zeros(10, 784), "2.bias": torch.arange(10.0)}
    custom_path = tmp_path / "custom-v1.safetensors"
    header = {"architecture": None, "format_version": 1, "mean": 0.3, "std": 0.2}
    safetensors.torch.save_file(weights, str(custom_path), {"mnistkit": json.dumps(header)})
    loaded_custom = load_model(custom_path, model=custom).model
    assert loaded_custom[0].mean.item() == pytest.approx(0.3)
    assert loaded_custom[0].std.item() == pytest.approx(0.2)


def test_newer_format_versions_are_refused_by_name(tmp_path: Path) -> None:
    path = save_model(get_model("linear"), tmp_path / "m.safetensors")
    tensors = safetensors.torch.load_file(str(path))
    with safetensors.safe_open(str(path), framework="pt") as handle:
        header = json.loads(handle.metadata()["mnistkit"])
    header["format_version"] = 3
    safetensors.torch.save_file(tensors, str(path), metadata={"mnistkit": json.dumps(header)})
    with pytest.raises(mnistkit.CheckpointError, match="format version 3 is not supported"):
        load_model(path)


def test_custom_module_needs_a_model_to_load_into(tmp_path: Path) -> None:
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    path = save_model(model, tmp_path / "custom.safetensors")
    with pytest.raises(mnistkit.CheckpointError, match="pass the module"):
        load_model(path)
    loaded = load_model(path, model=nn.Sequential(nn.Flatten(), nn.Linear(784, 10)))
    assert loaded.metadata.architecture is None
    with pytest.raises(mnistkit.CheckpointError, match="do not fit"):
        load_model(path, model=nn.Sequential(nn.Flatten(), nn.Linear(784, 5)))


def test_bad_model_files(tmp_path: Path) -> None:
    missing = tmp_path / "missing.safetensors"
    with pytest.raises(mnistkit.CheckpointError, match="no such model file") as info:
        load_model(missing)
    assert str(missing) in str(info.value)
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"this is not a safetensors file")
    with pytest.raises(mnistkit.CheckpointError, match="not a valid safetensors file"):
        load_model(junk)
    plain = tmp_path / "plain.safetensors"
    safetensors.torch.save_file({"w": torch.zeros(2)}, str(plain))
    with pytest.raises(mnistkit.CheckpointError, match="without mnistkit metadata"):
        load_model(plain)
    truncated = tmp_path / "truncated.safetensors"
    good = save_model(get_model("linear"), tmp_path / "good.safetensors").read_bytes()
    truncated.write_bytes(good[: len(good) // 2])
    with pytest.raises(mnistkit.CheckpointError, match=str(truncated)):
        load_model(truncated)


def test_failed_save_leaves_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "m.safetensors"
    target.write_bytes(b"previous")
    fill_disk(monkeypatch, room=100)  # the header fits, the weights do not
    with pytest.raises(WriteError) as caught:
        save_model(get_model("linear"), target)
    assert str(caught.value) == f"{target}: cannot write the file ([Errno 28] {NO_SPACE})."
    assert isinstance(caught.value, OSError) and caught.value.errno == errno.ENOSPC
    assert target.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]


def test_a_full_disk_while_the_training_state_is_written_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = mnistkit.TrainConfig(epochs=2, lr=0.1, device="cpu")
    target = _training_state(config).save(tmp_path / "state.pt", mnistkit.History())
    previous = target.read_bytes()
    fill_disk(monkeypatch, room=4096)  # torch.save's zip writer fails part-way
    with pytest.raises(WriteError) as caught:
        _training_state(config).save(target, mnistkit.History([{"epoch": 1}]))
    # not torch's "RuntimeError: [enforce fail at inline_container.cc...] unexpected pos"
    assert str(caught.value) == f"{target}: cannot write the file ([Errno 28] {NO_SPACE})."
    assert isinstance(caught.value.__cause__, RuntimeError)
    assert "inline_container" in str(caught.value.__cause__)
    assert target.read_bytes() == previous
    assert [p.name for p in tmp_path.iterdir()] == ["state.pt"]


class _Evil:
    """Unpickling this would create a file: proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (Path.touch, (str(self.marker),))  # type: ignore[return-value]


def test_training_state_never_executes_code(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    evil = tmp_path / "state.pt"
    torch.save({"format": "mnistkit-training-state", "payload": _Evil(marker)}, evil)
    with pytest.raises(mnistkit.CheckpointError, match="safely"):
        load_training_state(evil)
    assert not marker.exists()
    raw = tmp_path / "raw.pt"
    raw.write_bytes(pickle.dumps(_Evil(marker)))
    with pytest.raises(mnistkit.CheckpointError):
        load_training_state(raw)
    assert not marker.exists()


def test_training_state_round_trip(tmp_path: Path) -> None:
    state = {"format": "mnistkit-training-state", "epoch": 2, "w": torch.arange(3)}
    path = save_training_state(state, tmp_path / "state.pt")
    back = load_training_state(path)
    assert back["epoch"] == 2 and torch.equal(back["w"], torch.arange(3))
    other = tmp_path / "other.pt"
    torch.save({"epoch": 1}, other)
    with pytest.raises(mnistkit.CheckpointError, match="not an mnistkit training-state file"):
        load_training_state(other)
    with pytest.raises(mnistkit.CheckpointError, match="no such"):
        load_training_state(tmp_path / "nope.pt")


# --- edges that mutation testing found unpinned (tests/README.md) --------------------------------


def test_metadata_round_trips_the_classes(tmp_path: Path) -> None:
    default = load_model(save_model(get_model("linear"), tmp_path / "d.safetensors"))
    assert default.metadata.classes == tuple("0123456789")
    named = tuple("abcdefghij")
    path = save_model(get_model("linear"), tmp_path / "n.safetensors", classes=named)
    loaded = load_model(path)
    assert loaded.metadata.classes == named
    assert loaded.metadata.to_dict()["classes"] == list(named)


def test_messages_name_the_file_and_what_to_do(tmp_path: Path) -> None:
    def message(call: object) -> str:
        with pytest.raises(mnistkit.CheckpointError) as caught:
            call()  # type: ignore[operator]
        return str(caught.value)

    missing = tmp_path / "missing.safetensors"
    assert message(lambda: load_model(missing)) == (
        f"{missing}: no such model file; expected a .safetensors file written by "
        "mnistkit.save_model or 'mnistkit train'."
    )
    plain = tmp_path / "plain.safetensors"
    safetensors.torch.save_file({"w": torch.zeros(2)}, str(plain))
    assert message(lambda: load_model(plain)) == (
        f"{plain}: a safetensors file without mnistkit metadata; it was not written by "
        "mnistkit.save_model. Load its tensors with safetensors.torch.load_file instead."
    )
    target = tmp_path / "m.safetensors"
    assert message(
        lambda: save_model(get_model("linear"), target, metrics={"x": {1, 2}})
    ).startswith(f"{target}: metadata is not JSON-serialisable (")
    old = tmp_path / "old.safetensors"
    _write_version_1(get_model("mlp", hidden_sizes=(32,)), old, mean=0.25, std=0.5)
    assert message(lambda: load_model(old, model=nn.Flatten())) == (
        f"{old}: a version-1 model file (mnistkit 0.1), whose model expects input normalised "
        "with mean 0.25 and std 0.5; the module to load into has no Normalize layer to hold "
        "them. Put mnistkit.models.Normalize(mean, std) first in your module."
    )


def test_a_version_1_file_loads_into_a_bare_normalize_module(tmp_path: Path) -> None:
    path = tmp_path / "norm-v1.safetensors"
    header = {"architecture": None, "format_version": 1, "mean": 0.3, "std": 0.2}
    safetensors.torch.save_file({}, str(path), {"mnistkit": json.dumps(header)})
    loaded = load_model(path, model=mnistkit.Normalize(0.0, 1.0)).model
    assert (loaded.mean.item(), loaded.std.item()) == pytest.approx((0.3, 0.2))


def _layers(*sizes: tuple[int, int]) -> nn.Module:
    return nn.Sequential(*(nn.Linear(i, o) for i, o in sizes))


def test_shape_errors_list_five_problems_then_count_the_rest(tmp_path: Path) -> None:
    path = save_model(_layers((1, 1), (1, 1), (1, 1)), tmp_path / "three.safetensors")
    first_five = (
        "0.bias: file (1,) vs model (2,); 0.weight: file (1, 1) vs model (2, 1); "
        "1.bias: file (1,) vs model (2,); 1.weight: file (1, 1) vs model (2, 1); "
    )
    with pytest.raises(mnistkit.CheckpointError) as five:
        load_model(path, model=_layers((1, 2), (1, 2), (2, 1)))
    assert str(five.value) == (
        f"{path}: the weights do not fit the model Sequential: "
        + first_five
        + "2.weight: file (1, 1) vs model (1, 2)."
    )
    with pytest.raises(mnistkit.CheckpointError) as six:
        load_model(path, model=_layers((1, 2), (1, 2), (1, 2)))
    assert str(six.value) == (
        f"{path}: the weights do not fit the model Sequential: "
        + first_five
        + "2.bias: file (1,) vs model (2,); and 1 more."
    )


@pytest.mark.parametrize(
    ("config", "too_big"),
    [
        ({"hidden_sizes": [1] * 255}, False),  # the list and its 255 numbers: 256 values
        ({"hidden_sizes": [1] * 256}, True),
        ({"hidden_sizes": [1], "nested": {"deep": [0] * 300}}, True),  # values of dicts count
    ],
)
def test_the_model_configuration_may_hold_256_values(
    tmp_path: Path, config: dict[str, object], too_big: bool
) -> None:
    path = save_model(get_model("linear"), tmp_path / "m.safetensors")
    tensors = safetensors.torch.load_file(str(path))
    with safetensors.safe_open(str(path), framework="pt") as handle:
        header = json.loads(handle.metadata()["mnistkit"])
    header.update(architecture="mlp", config=config)
    safetensors.torch.save_file(tensors, str(path), metadata={"mnistkit": json.dumps(header)})
    with pytest.raises(mnistkit.CheckpointError) as caught:
        load_model(path)
    assert ("more than 256 values" in str(caught.value)) is too_big, str(caught.value)
    assert str(caught.value).startswith(f"{path}: ")


def test_the_training_state_check_sees_the_state(tmp_path: Path) -> None:
    state = {"format": "mnistkit-training-state", "epoch": 4}
    path = save_training_state(state, tmp_path / "state.pt")
    seen: list[dict[str, object]] = []
    load_training_state(path, check=seen.append)
    assert seen == [state]


def _with_header(path: Path, **changes: object) -> Path:
    tensors = safetensors.torch.load_file(str(path))
    with safetensors.safe_open(str(path), framework="pt") as handle:
        header = json.loads(handle.metadata()["mnistkit"])
    for key, value in changes.items():
        if value is None:
            header.pop(key, None)
        else:
            header[key] = value
    safetensors.torch.save_file(tensors, str(path), metadata={"mnistkit": json.dumps(header)})
    return path


def test_headers_without_a_version_are_version_1(tmp_path: Path) -> None:
    old = tmp_path / "old.safetensors"
    _write_version_1(get_model("mlp", hidden_sizes=(32,)), old, mean=0.25, std=0.5)
    loaded = load_model(_with_header(old, format_version=None, mnistkit_version=None))
    assert loaded.metadata.format_version == 1
    assert loaded.metadata.mnistkit_version == ""
    assert loaded.model.normalize.mean.item() == 0.25
    newer = _with_header(save_model(get_model("linear"), tmp_path / "new.safetensors"))
    for written_by, shown in (("9.1", "9.1"), (None, "?")):
        _with_header(newer, format_version=3, mnistkit_version=written_by)
        with pytest.raises(mnistkit.CheckpointError) as caught:
            load_model(newer)
        assert str(caught.value).endswith(
            f"The file was written by mnistkit {shown}: upgrade mnistkit to read it."
        )


def test_a_custom_module_file_says_how_to_load_it(tmp_path: Path) -> None:
    path = save_model(nn.Sequential(nn.Flatten(), nn.Linear(784, 10)), tmp_path / "c.safetensors")
    with pytest.raises(mnistkit.CheckpointError) as caught:
        load_model(path)
    assert str(caught.value).endswith("to load into as load_model(path, model=YourModel()).")


def test_metadata_html_is_exact() -> None:
    meta = mnistkit.checkpoints.ModelMetadata(
        "cnn", {"channels": [8, 16]}, "mnist", ("a", "b"), "0.2.0", {"test_accuracy": 0.5}
    )

    def row(name: str, value: str, right: bool = False) -> str:
        style = ' style="text-align:right"' if right else ""
        return f"<tr><td>{name}</td><td{style}>{value}</td></tr>"

    assert meta._repr_html_() == (
        '<table class="mnistkit"><caption>Model metadata</caption><tbody>'
        + row("architecture", "cnn")
        + row("config.channels", "[8, 16]")
        + row("dataset", "mnist")
        + row("classes", "a, b")
        + row("metrics.test_accuracy", "0.5000", right=True)
        + row("written by mnistkit", "0.2.0")
        + row("file format version", "2", right=True)
        + "</tbody></table>"
    )
    unknown = mnistkit.checkpoints.ModelMetadata(None)._repr_html_()
    assert row("architecture", "(a custom module)") in unknown
    assert row("dataset", "(unknown)") in unknown
    assert row("written by mnistkit", "(unknown)") in unknown


def _training_state(config: mnistkit.TrainConfig) -> mnistkit.checkpoints.TrainingState:
    from mnistkit.optim import build_optimizer, build_schedule

    model = get_model("linear")
    optimizer = build_optimizer(config, model.parameters())
    scaler = torch.amp.GradScaler("cpu")
    scaler.scale(torch.ones(()))  # the scale exists once it is used
    return mnistkit.checkpoints.TrainingState(
        config,
        model,
        optimizer,
        build_schedule(config, optimizer, steps_per_epoch=10),
        scaler,
        torch.Generator(),
        torch.device("cpu"),
    )


def test_training_state_restores_the_scaler_and_names_what_differs(tmp_path: Path) -> None:
    config = mnistkit.TrainConfig(epochs=2, lr=0.1, device="cpu")
    saved = _training_state(config)
    assert saved.scaler is not None
    saved.scaler.update(1024.0)
    path = saved.save(tmp_path / "state.pt", mnistkit.History())
    restored = _training_state(config)
    restored.restore(path)
    assert restored.scaler is not None and restored.scaler.get_scale() == 1024.0
    with pytest.raises(mnistkit.CheckpointError) as caught:
        _training_state(config.replace(lr=0.5, gamma=0.5)).restore(path)
    assert str(caught.value) == (
        f"{path}: the training state was saved with a different configuration "
        "(gamma: 0.7 != 0.5, lr: 0.1 != 0.5)."
    )
    with pytest.raises(mnistkit.CheckpointError) as caught:
        _training_state(config.replace(epochs=3)).restore(path)
    assert str(caught.value) == (
        f"{path}: cannot change 'epochs' (2 -> 3) when resuming a 'onecycle' schedule, "
        "whose length depends on it."
    )
    step = config.replace(schedule="step")  # stepped per epoch: its length is free
    step_path = _training_state(step).save(tmp_path / "step.pt", mnistkit.History())
    _training_state(step.replace(epochs=3)).restore(step_path)


def test_metadata_that_is_not_json_is_named(tmp_path: Path) -> None:
    path = tmp_path / "bad.safetensors"
    safetensors.torch.save_file({"w": torch.zeros(1)}, str(path), {"mnistkit": "{not json"})
    with pytest.raises(mnistkit.CheckpointError) as caught:
        load_model(path)
    assert str(caught.value).startswith(f"{path}: the mnistkit metadata is not valid JSON (")


def test_a_state_whose_history_disagrees_with_its_epoch_is_refused(tmp_path: Path) -> None:
    config = mnistkit.TrainConfig(epochs=2, lr=0.1, device="cpu")
    state = _training_state(config).state_dict(mnistkit.History([{"epoch": 1}, {"epoch": 2}]))
    state["epoch"] = 3
    path = save_training_state(state, tmp_path / "state.pt")
    with pytest.raises(mnistkit.CheckpointError) as caught:
        _training_state(config).restore(path)
    assert str(caught.value) == (
        f"{path}: the training state does not fit this model: 3 epochs but 2 history records"
    )
