"""Model files are untrusted input: crafted or mangled ones end in CheckpointError, fast."""

from __future__ import annotations

import contextlib
import json
import struct
import time
from pathlib import Path
from typing import Any

import pytest
import safetensors.torch
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mnistkit
from mnistkit import get_model, load_model, save_model


def _header(path: Path) -> dict[str, Any]:
    with safetensors.safe_open(str(path), framework="pt") as handle:
        return dict(json.loads(handle.metadata()["mnistkit"]))


def _rewrite(path: Path, header: dict[str, Any], tensors: dict[str, torch.Tensor]) -> None:
    safetensors.torch.save_file(tensors, str(path), metadata={"mnistkit": json.dumps(header)})


@pytest.fixture(scope="module")
def cnn_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("model") / "cnn.safetensors"
    return save_model(get_model("cnn", channels=(4, 8), hidden=16), path)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"architecture": "resnet152"}, "cannot rebuild the model: Unknown model 'resnet152'"),
        ({"config": {"channels": [4, 8], "hidden": 16, "evil": 1}}, "does not take.*'evil'"),
        ({"config": {"channels": [10**9, 8], "hidden": 16}}, "features.0.weight: file"),
        ({"config": {"hidden": 10**12, "channels": [4, 8]}}, "classifier.2.weight: file"),
        ({"config": {"channels": list(range(1, 10**6))}}, "more than 256 values"),
        ({"config": {"channels": "lots"}}, "cannot rebuild the model"),
        ({"format_version": 99}, "format version 99 is not supported"),
        ({"format_version": "2"}, "format version '2' is not supported"),
        ({"format_version": 1}, "malformed mnistkit metadata"),  # v1 needs mean and std
        ({"classes": 5}, "malformed mnistkit metadata"),
    ],
)
def test_crafted_metadata_is_refused_before_any_large_allocation(
    cnn_file: Path, tmp_path: Path, change: dict[str, Any], match: str
) -> None:
    path = tmp_path / "crafted.safetensors"
    _rewrite(path, {**_header(cnn_file), **change}, safetensors.torch.load_file(str(cnn_file)))
    started = time.perf_counter()
    with pytest.raises(mnistkit.CheckpointError, match=match):
        load_model(path)
    assert time.perf_counter() - started < 10  # refused, not attempted


def test_weights_of_the_wrong_shape_are_named(cnn_file: Path, tmp_path: Path) -> None:
    tensors = safetensors.torch.load_file(str(cnn_file))
    tensors["classifier.5.bias"] = torch.zeros(11)
    del tensors["features.0.weight"]
    tensors["extra"] = torch.zeros(1)
    path = tmp_path / "shapes.safetensors"
    _rewrite(path, _header(cnn_file), tensors)
    with pytest.raises(mnistkit.CheckpointError) as info:
        load_model(path)
    message = str(info.value)
    assert "classifier.5.bias: file (11,) vs model (10,)" in message
    assert "features.0.weight: missing from the file" in message
    assert "extra: not in the model" in message


_SETTINGS = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@_SETTINGS
@given(data=st.data())
def test_mangled_bytes_never_escape_as_other_errors(
    cnn_file: Path, tmp_path: Path, data: st.DataObject
) -> None:
    raw = bytearray(cnn_file.read_bytes())
    (header_size,) = struct.unpack("<Q", raw[:8])
    # flip bytes anywhere, mostly in the length prefix and the JSON header
    for _ in range(data.draw(st.integers(1, 8))):
        limit = data.draw(st.sampled_from([8, 8 + header_size, len(raw)]))
        index = data.draw(st.integers(0, limit - 1))
        raw[index] = data.draw(st.integers(0, 255))
    cut = data.draw(st.none() | st.integers(0, len(raw)))
    path = tmp_path / "mangled.safetensors"
    path.write_bytes(bytes(raw[:cut]))
    with contextlib.suppress(mnistkit.CheckpointError):
        load_model(path)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=10,
)


@_SETTINGS
@given(
    key=st.sampled_from(
        ["architecture", "config", "classes", "format_version", "metrics", "dataset", "mean", "std"]
    ),
    value=json_values,
)
def test_mutated_metadata_never_escapes_as_other_errors(
    cnn_file: Path, tmp_path: Path, key: str, value: Any
) -> None:
    path = tmp_path / "mutated.safetensors"
    _rewrite(path, {**_header(cnn_file), key: value}, safetensors.torch.load_file(str(cnn_file)))
    try:
        loaded = load_model(path)
    except mnistkit.CheckpointError:
        return
    assert isinstance(loaded.model, torch.nn.Module)  # loaded: then it works
    assert loaded.model(torch.rand(2, 1, 28, 28)).shape == (2, 10)
