"""Export to ONNX and torch.export: the files compute what the PyTorch model computes.

A small batch-norm CNN is trained for one epoch on 6,000 real MNIST digits (a few seconds),
so the exported graphs carry real, non-trivial weights; the checks run on real test digits.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from _full_disk import NO_SPACE, fill_disk
from torch import nn

import mnistkit
from mnistkit.cli import main
from mnistkit.datasets import DatasetSplits
from mnistkit.deploy import DEFAULT_TOLERANCE, check_export, export, load_onnx, read_pt2_metadata
from mnistkit.exceptions import (
    CheckpointError,
    ConfigError,
    ExportError,
    MissingExtraError,
    WriteError,
)


@pytest.fixture(scope="module")
def trained(mnist: DatasetSplits, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A saved model file (the fast recipe's CNN, one epoch on 6,000 digits), dataset mnist."""
    recipe = mnistkit.get_recipe("fast")
    model = recipe.build_model("mnist")
    config = recipe.config.replace(progress=False, precision="32", seed=0)
    trainer = mnistkit.Trainer(model, config)
    trainer.fit(mnist.train.subset(range(6000)))
    path = tmp_path_factory.mktemp("export") / "model.safetensors"
    mnistkit.save_model(model, path, dataset="mnist", classes=mnist.classes)
    return path


@pytest.fixture(scope="module")
def test_digits(mnist: DatasetSplits) -> torch.Tensor:
    return mnist.test.images[:2000]


def test_onnx_matches_pytorch_on_real_digits(
    trained: Path, test_digits: torch.Tensor, tmp_path: Path
) -> None:
    result = export(trained, tmp_path / "m.onnx", check_images=test_digits)
    assert result.target == "onnx"
    assert result.check is not None
    assert result.check.passed
    assert result.check.images == 2000
    assert result.check.max_difference < 1e-5
    # and independently of the export's own check: ONNX Runtime vs PyTorch
    model = mnistkit.load_model(trained).model
    expected = mnistkit.predict_proba(model, test_digits)
    got = load_onnx(result.path).predict_proba(test_digits)
    assert torch.allclose(got, expected, atol=1e-5)
    assert (got.argmax(1) == expected.argmax(1)).float().mean() == 1.0
    # the model really learnt something, so agreement is not between two constant outputs
    accuracy = (got.argmax(1) == mnistkit.datasets.load("mnist").test.labels[:2000]).float()
    assert accuracy.mean() > 0.9


def test_onnx_batch_dimension_is_dynamic_and_metadata_travels(
    trained: Path, test_digits: torch.Tensor, tmp_path: Path
) -> None:
    path = export(trained, tmp_path / "m.onnx").path
    proto = onnx.load(str(path))
    (pixels,) = proto.graph.input
    dims = [d.dim_param or d.dim_value for d in pixels.type.tensor_type.shape.dim]
    assert dims[1:] == [1, 28, 28]
    assert isinstance(dims[0], str)  # a named, free dimension
    props = {p.key: p.value for p in proto.metadata_props}
    assert json.loads(props["mnistkit.classes"]) == [str(i) for i in range(10)]
    assert props["mnistkit.dataset"] == "mnist"
    assert props["mnistkit.architecture"] == "cnn"
    assert props["mnistkit.mnistkit_version"] == mnistkit.__version__
    onnx_model = load_onnx(path)
    for size in (1, 7, 300):
        assert onnx_model.scores(test_digits[:size]).shape == (size, 10)
    assert onnx_model.metadata["dataset"] == "mnist"


def test_onnx_contains_the_normalisation(trained: Path, tmp_path: Path) -> None:
    """The file takes raw [0, 1] pixels: its graph subtracts the data set's mean itself."""
    path = export(trained, tmp_path / "m.onnx").path
    proto = onnx.load(str(path))
    constants = [onnx.numpy_helper.to_array(t) for t in proto.graph.initializer]
    stats = mnistkit.datasets.get_info("mnist")
    assert any(c.size == 1 and np.isclose(float(c.ravel()[0]), stats.mean) for c in constants)


def test_pt2_program_matches_and_carries_metadata(
    trained: Path, test_digits: torch.Tensor, tmp_path: Path
) -> None:
    result = export(trained, tmp_path / "m.pt2", check_images=test_digits)
    assert result.target == "pt2"
    assert result.check is not None
    assert result.check.max_difference <= 1e-6
    meta = read_pt2_metadata(result.path)
    assert meta["dataset"] == "mnist"
    assert json.loads(meta["classes"]) == [str(i) for i in range(10)]
    program = torch.export.load(io.BytesIO(result.path.read_bytes())).module()
    model = mnistkit.load_model(trained).model
    with torch.inference_mode():
        x = test_digits[:33].float().div(255).unsqueeze(1)
        assert torch.allclose(program(x), model(x), atol=1e-5)


def test_export_does_not_change_the_model(trained: Path, tmp_path: Path) -> None:
    model = mnistkit.load_model(trained).model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    export(model, tmp_path / "m.onnx", dataset="mnist")
    assert model.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


class _Noisy(nn.Module):
    """Adds fresh noise on every call: no exported copy can reproduce its outputs."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x) + 20 * torch.rand(x.shape[0], 10)


def test_a_mismatch_fails_the_export_and_leaves_no_file(
    trained: Path, test_digits: torch.Tensor, tmp_path: Path
) -> None:
    noisy = _Noisy(mnistkit.load_model(trained).model)
    out = tmp_path / "noisy.onnx"
    with pytest.raises(ExportError, match=r"noisy\.onnx: the exported model does not match"):
        export(noisy, out, check_images=test_digits[:500])
    assert list(tmp_path.iterdir()) == []


def test_check_export_reports_disagreement(
    trained: Path, test_digits: torch.Tensor, tmp_path: Path
) -> None:
    path = export(trained, tmp_path / "m.onnx").path
    other = mnistkit.load_model(trained).model
    with torch.no_grad():
        for p in other.parameters():
            p.add_(0.05 * torch.randn_like(p))
    check = check_export(path, other, test_digits[:500])
    assert not check.passed
    assert check.max_difference > DEFAULT_TOLERANCE
    assert check.agreements < 500
    assert "> tolerance" in str(check)


def test_bad_arguments_are_named(trained: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="Cannot tell the export target from"):
        export(trained, tmp_path / "model.bin")
    with pytest.raises(ConfigError, match="'target'"):
        export(trained, tmp_path / "m.onnx", target="tflite")
    with pytest.raises(ConfigError, match="'tolerance'"):
        export(trained, tmp_path / "m.onnx", tolerance=-1.0)
    with pytest.raises(ConfigError, match="'model'"):
        export(42, tmp_path / "m.onnx")  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


def test_format_is_a_deprecated_name_of_target(trained: Path, tmp_path: Path) -> None:
    renamed = "'format' is deprecated and will be removed in mnistkit 0.3; use 'target'"
    with pytest.warns(DeprecationWarning, match=renamed) as caught:
        result = export(trained, tmp_path / "m.bin", format="pt2")
    assert caught[0].filename == __file__  # attributed to the caller's line
    assert result.target == "pt2" and read_pt2_metadata(result.path)["dataset"] == "mnist"
    with pytest.warns(DeprecationWarning, match=renamed) as caught:
        assert result.format == "pt2"
    assert caught[0].filename == __file__
    model = mnistkit.load_model(trained).model
    with pytest.warns(DeprecationWarning, match=renamed):
        check = check_export(result.path, model, torch.zeros(3, 28, 28), format="pt2")
    assert check.images == 3 and check.passed
    with (
        pytest.warns(DeprecationWarning, match=renamed),
        pytest.raises(ConfigError, match="Pass only 'target'"),
    ):
        export(trained, tmp_path / "m.onnx", target="onnx", format="pt2")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.bin"]


def test_a_full_disk_fails_the_export_in_one_line(
    trained: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "m.pt2"
    fill_disk(monkeypatch)
    with pytest.raises(WriteError) as caught:
        export(trained, out)
    assert str(caught.value) == f"{out}: cannot write the file ([Errno 28] {NO_SPACE})."
    assert list(tmp_path.iterdir()) == []


def test_load_onnx_refuses_a_file_that_is_not_onnx(tmp_path: Path) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"this is not a protobuf graph" * 10)
    with pytest.raises(CheckpointError, match=r"bad\.onnx: not a readable ONNX model"):
        load_onnx(bad)
    with pytest.raises(CheckpointError, match="no such ONNX file"):
        load_onnx(tmp_path / "missing.onnx")


def test_missing_onnxruntime_names_the_extra(
    trained: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import now raises ImportError
    with pytest.raises(MissingExtraError, match=r'pip install "\.\[export\]"'):
        load_onnx(tmp_path / "m.onnx")


def test_cli_export_checks_on_the_whole_test_set(
    trained: Path, data_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "digits.onnx"
    code = main(["export", str(trained), "--out", str(out), "--data-dir", str(data_root)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert out.is_file()
    assert "checked on the mnist test set: predictions agree on 10000/10000 images" in printed
    code = main(["export", str(trained), "--format", "pt2", "--no-check"])
    assert code == 0
    assert trained.with_suffix(".pt2").is_file()


def test_cli_export_errors_are_one_line(
    trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["export", str(tmp_path / "none.safetensors")]) == 2
    assert "none.safetensors" in capsys.readouterr().err
    assert main(["export", str(trained), "--format", "tflite"]) == 2
    assert "invalid choice: 'tflite'" in capsys.readouterr().err
    assert main(["export", str(trained), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "must be a file" in err
    assert "Traceback" not in err
    assert main(["export", str(trained), "--tolerance", "-1"]) == 2
    assert "--tolerance" in capsys.readouterr().err


def test_an_ensemble_exports_as_one_graph_averaging_its_members(
    trained: Path, test_digits: torch.Tensor, tmp_path: Path
) -> None:
    from mnistkit.models import Ensemble

    first = mnistkit.load_model(trained).model
    second = mnistkit.load_model(trained).model
    with torch.no_grad():
        for p in second.parameters():
            p.add_(0.05 * torch.randn_like(p, generator=torch.Generator().manual_seed(1)))
    result = export(Ensemble([first, second]), tmp_path / "pair.onnx", check_images=test_digits)
    assert result.check is not None
    assert result.check.passed
    assert result.metadata["architecture"] == "ensemble"
    mean = mnistkit.predict_proba(first, test_digits) + mnistkit.predict_proba(second, test_digits)
    got = load_onnx(result.path).predict_proba(test_digits)
    assert torch.allclose(got, mean / 2, atol=1e-5)
