"""The trained models inside the package: present, intact, and as accurate as recorded."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from mnistkit import pretrained
from mnistkit.datasets import DatasetSplits
from mnistkit.exceptions import CheckpointError, ConfigError
from mnistkit.inference import predict_proba

SHIPPED = ["best", "default", "fashion", "fast"]


def test_the_promised_models_are_bundled() -> None:
    assert pretrained.list_pretrained() == SHIPPED
    for name in SHIPPED:
        info = pretrained.get_info(name)
        assert info.recipe == name
        assert info.dataset == ("fashion-mnist" if name == "fashion" else "mnist")
        assert info.command.startswith(f"mnistkit train --recipe {name} ")
        assert pretrained.get_info(f"pretrained:{name}") == info


@pytest.mark.parametrize("name", SHIPPED)
def test_bundled_model_scores_its_recorded_accuracy(
    name: str, mnist: DatasetSplits, fashion: DatasetSplits
) -> None:
    # re-scored on the real test set in float32, so every CPU must give the recorded figure
    info = pretrained.get_info(name)
    loaded = pretrained.load(name)
    test = fashion.test if info.dataset == "fashion-mnist" else mnist.test
    probs = predict_proba(loaded.model, test.images, device="cpu", precision="32")
    errors = int((probs.argmax(1) != test.labels).sum())
    assert errors == info.test_errors
    assert round(1 - errors / len(test), 6) == info.test_accuracy
    # the file's own metadata tells the same story as the manifest
    metrics = loaded.metadata.metrics
    assert loaded.metadata.dataset == info.dataset
    assert {k: metrics[k] for k in ("recipe", "seed", "test_accuracy", "test_errors")} == {
        "recipe": info.recipe,
        "seed": info.seed,
        "test_accuracy": info.test_accuracy,
        "test_errors": info.test_errors,
    }
    assert metrics["command"] == info.command


def test_a_damaged_file_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    real = pretrained._manifest()
    bad = dataclasses.replace(real["fast"], sha256="0" * 64)
    monkeypatch.setattr(pretrained, "_manifest", lambda: {**real, "fast": bad})
    with pytest.raises(CheckpointError, match="SHA-256 .* but the manifest says 0{64}.*reinstall"):
        pretrained.load("fast")


def test_unknown_name_suggests_the_closest() -> None:
    with pytest.raises(ConfigError, match=r"'defualt'.*did you mean 'default'\?"):
        pretrained.get_info("defualt")


def test_manifest_sums_match_the_files() -> None:
    folder = Path(pretrained.__file__).parent
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    files = sorted(p.name for p in folder.glob("*.safetensors"))
    assert files == sorted(entry["file"] for entry in manifest["models"])
    for name in SHIPPED:
        assert pretrained.resolve_path(name).parent == folder


def test_predict_needs_no_model_file(
    mnist: DatasetSplits, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # a new user's first command: their own pictures, no training, no model file
    from PIL import Image

    from mnistkit.cli import main

    paths = []
    for i in range(5):
        path = tmp_path / f"digit{i}.png"
        ink = mnist.test.images[i].numpy()
        Image.fromarray(255 - ink).resize((112, 112)).save(path)  # dark ink on white paper
        paths.append(str(path))
    assert main(["predict", *paths]) == 0
    lines = capsys.readouterr().out.split("\n")[:5]
    assert [line.split()[1] for line in lines] == [str(int(y)) for y in mnist.test.labels[:5]]
    assert main(["predict", "pretrained:best", paths[0], "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["label"] == str(int(mnist.test.labels[0]))


def test_evaluate_and_export_take_a_bundled_model(
    data_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from mnistkit.cli import main

    assert main(["evaluate", "pretrained:fast", "--json", "--precision", "32"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["model"] == "pretrained:fast"
    assert report["accuracy"] == pretrained.get_info("fast").test_accuracy
    out = tmp_path / "fast.pt2"
    assert main(["export", "pretrained:fast", "--out", str(out)]) == 0
    assert out.is_file() and "agree on 10000/10000" in capsys.readouterr().out


def test_predict_answers_every_readable_file_and_fails_for_the_others(
    mnist: DatasetSplits, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from PIL import Image

    from mnistkit.cli import main

    good = tmp_path / "seven.png"
    Image.fromarray(255 - mnist.test.images[0].numpy()).resize((112, 112)).save(good)
    blank = tmp_path / "blank.png"
    Image.new("L", (100, 100), 255).save(blank)
    broken = tmp_path / "broken.png"
    broken.write_text("not a picture")
    show = tmp_path / "why.png"
    argv = ["predict", str(blank), str(good), str(broken), str(good), "--show", str(show)]
    assert main(argv) == 2  # some files failed
    out, err = capsys.readouterr()
    assert [line.split()[:2] for line in out.splitlines()[:2]] == [[str(good), "7"]] * 2
    errors = err.splitlines()
    assert len(errors) == 3 and all(line.startswith("mnistkit: error: ") for line in errors)
    assert "blank.png' contains no digit" in errors[0]
    assert "broken.png' is not an image" in errors[1]
    assert errors[2] == "mnistkit: error: 2 of 4 image files could not be read"
    # the explanation has a row of three panels per file (four rows: taller than wide)
    with Image.open(show) as figure:
        assert figure.format == "PNG" and figure.height > figure.width
    assert main(["predict", "--json", str(blank), str(good)]) == 2
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert list(records[0]) == ["path", "error"] and records[1]["label"] == "7"
