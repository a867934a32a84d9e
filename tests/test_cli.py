"""The command line, in process (``main(argv)``) and as a real subprocess for exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

import mnistkit
from mnistkit.cli import main
from mnistkit.datasets import DatasetSplits
from mnistkit.models import TestTimeAugmentation


def _run(*args: str, data_root: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if data_root is not None:
        env["MNISTKIT_DATA_DIR"] = str(data_root)
    return subprocess.run(
        [sys.executable, "-m", "mnistkit", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"mnistkit {mnistkit.__version__}"


def test_models_list_and_summary(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "cnn" in out and "7,850 parameters" in out
    assert main(["models", "lenet5"]) == 0
    out = capsys.readouterr().out
    assert "Total params: 61,706" in out and "Conv2d" in out


def test_datasets_list_and_verify(data_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["datasets", "list", "--data-dir", str(data_root)]) == 0
    out = capsys.readouterr().out
    assert "mnist" in out and "fashion-mnist" in out and out.count("verified") == 2
    assert main(["datasets", "verify", "mnist", "--data-dir", str(data_root)]) == 0
    assert capsys.readouterr().out.count("ok  ") == 4


def test_usage_errors_are_one_line_with_exit_2(data_root: Path, tmp_path: Path) -> None:
    cases = [
        (["train", "--epochs", "0"], "--epochs"),
        (["train", "--model", "resnet50"], "invalid choice: 'resnet50'"),
        (["frobnicate"], "invalid choice"),
        (["evaluate", str(tmp_path / "nope.safetensors")], "no such model file"),
        (["datasets", "verify", "mnist", "--data-dir", str(tmp_path)], "not found"),
    ]
    for args, phrase in cases:
        result = _run(*args, data_root=data_root)
        assert result.returncode == 2, (args, result.stderr)
        assert phrase in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert result.stderr.startswith("mnistkit")


def test_download_failure_is_exit_1(tmp_path: Path) -> None:
    # No network here: every mirror fails, which is not the user's input's fault.
    env = dict(os.environ, MNISTKIT_DATA_DIR=str(tmp_path))
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            (
                "import sys, mnistkit.datasets as d; from mnistkit.cli import main; "
                "d._REGISTRY['mnist'] = __import__('dataclasses').replace("
                "d._REGISTRY['mnist'], mirrors=('http://127.0.0.1:9/',)); "
                "sys.exit(main(['datasets', 'download', 'mnist']))"
            ),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    assert "http://127.0.0.1:9/train-images-idx3-ubyte.gz" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.fixture(scope="module")
def trained_run(data_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`mnistkit train` of the default CNN for one epoch on the real data (about 30 s)."""
    out = tmp_path_factory.mktemp("run") / "out"  # created by the run itself
    previous = os.umask(0o022)  # the usual umask, whatever this process had
    try:
        code = main(
            ["train", "--epochs", "1", "--data-dir", str(data_root), "--out", str(out), "--quiet"]
        )
    finally:
        os.umask(previous)
    assert code == 0
    return out


@pytest.mark.slow
def test_train_writes_every_output(trained_run: Path) -> None:
    names = {p.name for p in trained_run.iterdir()}
    assert {
        "model.safetensors",
        "metrics.json",
        "history.json",
        "predictions.png",
        "misclassified.png",
        "confusion_matrix.png",
        "history.png",
        "state.pt",
    } <= names
    assert not [n for n in names if n.endswith(".tmp")]
    # every file has the mode a new file gets under umask 022, not a temp file's 0600
    modes = {p.name: oct(p.stat().st_mode & 0o777) for p in trained_run.iterdir()}
    assert set(modes.values()) == {"0o644"}, modes
    metrics = json.loads((trained_run / "metrics.json").read_text())
    assert metrics["test_accuracy"] >= 0.985  # one epoch of the default CNN
    assert 0 < metrics["train_seconds"] < metrics["wall_seconds"]
    assert metrics["model"] == "cnn" and metrics["dataset"] == "mnist"
    history = json.loads((trained_run / "history.json").read_text())
    assert len(history["records"]) == 1
    # by default a tenth of the training split is held out, so history.png has both curves
    assert metrics["val_fraction"] == 0.1
    assert 0.97 < history["records"][0]["val_accuracy"] <= 1.0
    with Image.open(trained_run / "predictions.png") as image:
        assert image.size[0] > 400 and image.size[1] > 400


@pytest.mark.slow
def test_evaluate_json_matches_training(
    trained_run: Path, data_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = trained_run / "model.safetensors"
    assert main(["evaluate", str(model), "--json", "--data-dir", str(data_root)]) == 0
    report = json.loads(capsys.readouterr().out)
    metrics = json.loads((trained_run / "metrics.json").read_text())
    # the same weights and precision; the training run's channels-last layout picks other
    # bfloat16 kernels than the loaded model's, which may flip a near-tie: one image at most
    assert report["accuracy"] == pytest.approx(metrics["test_accuracy"], abs=1e-4)
    assert (
        main(["evaluate", str(model), "--json", "--precision", "32", "--data-dir", str(data_root)])
        == 0
    )
    exact = json.loads(capsys.readouterr().out)
    assert exact["accuracy"] == pytest.approx(metrics["test_accuracy"], abs=2e-3)
    assert report["dataset"] == "mnist"
    assert main(["evaluate", str(model), "--data-dir", str(data_root)]) == 0
    assert "macro avg" in capsys.readouterr().out


@pytest.mark.slow
def test_evaluate_and_predict_with_test_time_augmentation(
    trained_run: Path,
    data_root: Path,
    mnist: DatasetSplits,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    model = trained_run / "model.safetensors"
    common = ["--json", "--precision", "32", "--data-dir", str(data_root)]
    assert main(["evaluate", str(model), *common]) == 0
    plain = json.loads(capsys.readouterr().out)
    assert main(["evaluate", str(model), "--tta", *common]) == 0
    report = json.loads(capsys.readouterr().out)
    assert plain["tta"] is None
    # digits are never mirrored
    assert report["tta"] == {"shifts": [[0, 0], [1, 0], [-1, 0], [0, 1], [0, -1]], "flip": False}
    # what the flag computes is the Python wrapper's result on the loaded model
    loaded = mnistkit.load_model(model)
    wrapped = mnistkit.predict_proba(TestTimeAugmentation(loaded.model), mnist.test.images)
    accuracy = float((wrapped.argmax(1) == mnist.test.labels).double().mean())
    assert report["accuracy"] == pytest.approx(accuracy, abs=1e-12)
    assert report["accuracy"] != plain["accuracy"]  # the views changed some answers
    assert report["accuracy"] > 0.97
    assert main(["evaluate", str(model), "--tta", "--data-dir", str(data_root)]) == 0
    assert "test-time augmentation over 5 views" in capsys.readouterr().out
    image = tmp_path / "digit.png"
    Image.fromarray(mnist.test.images[0].numpy()).save(image)
    assert main(["predict", str(model), "--json", "--tta", str(image)]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["label"] == str(mnist.test.labels[0].item())
    assert sum(row["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)


def test_evaluate_with_test_time_augmentation_mirrors_clothes(
    data_root: Path,
    fashion: DatasetSplits,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    torch.manual_seed(0)
    model = mnistkit.get_model("cnn", dataset="fashion-mnist", channels=(8, 16), hidden=0)
    config = mnistkit.TrainConfig(epochs=1, batch_size=256, precision="32", progress=False)
    mnistkit.Trainer(model, config).fit(fashion.train.subset(slice(0, 4096)))
    path = mnistkit.save_model(model, tmp_path / "fashion.safetensors", dataset="fashion-mnist")
    args = ["evaluate", str(path), "--tta", "--json", "--precision", "32"]
    assert main([*args, "--data-dir", str(data_root)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["dataset"] == "fashion-mnist"
    assert report["tta"] == {"shifts": [[0, 0], [1, 0], [-1, 0], [0, 1], [0, -1]], "flip": True}
    loaded = mnistkit.load_model(path)
    wrapped = TestTimeAugmentation(loaded.model, flip=True)
    probs = mnistkit.predict_proba(wrapped, fashion.test.images, precision="32")
    accuracy = float((probs.argmax(1) == fashion.test.labels).double().mean())
    assert report["accuracy"] == pytest.approx(accuracy, abs=1e-12)
    assert report["accuracy"] > 0.5  # trained for seconds; chance is 0.1
    assert main(["evaluate", str(path), "--tta", "--data-dir", str(data_root)]) == 0
    assert "test-time augmentation over 10 views" in capsys.readouterr().out


@pytest.mark.slow
def test_predict_real_digits_from_image_files(
    trained_run: Path, mnist: DatasetSplits, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Render test digits as a user would have them: large, dark ink on white, in colour.
    paths = []
    for i in range(20):
        digit = Image.fromarray(255 - mnist.test.images[i].numpy()).resize((140, 140))
        page = Image.new("RGB", (200, 180), "white")
        page.paste(digit.convert("RGB"), (40, 20))
        path = tmp_path / f"digit{i}.{'png' if i % 2 else 'jpg'}"
        page.save(path)
        paths.append(path)
    model = trained_run / "model.safetensors"
    assert main(["predict", str(model), *map(str, paths)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 20
    right = 0
    for line, path, label in zip(lines, paths, mnist.test.labels[:20].tolist(), strict=True):
        name, predicted, probability = line.split(" ")
        assert name == str(path)
        assert 0.0 < float(probability) <= 1.0
        right += int(predicted) == label
    assert right >= 18
    assert main(["predict", str(model), "--json", str(paths[0])]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["label"] == str(mnist.test.labels[0].item())
    assert sum(row["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)


@pytest.mark.slow
def test_predict_bad_image_is_exit_2(trained_run: Path, tmp_path: Path) -> None:
    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    result = _run("predict", str(trained_run / "model.safetensors"), str(bad))
    assert result.returncode == 2
    assert str(bad) in result.stderr and "Traceback" not in result.stderr
    assert result.stdout == ""


@pytest.mark.slow
def test_resume_continues_from_state(trained_run: Path, data_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "resume"
    out.mkdir()
    (out / "state.pt").write_bytes((trained_run / "state.pt").read_bytes())
    # the saved state is of a finished 1-epoch run: resuming it with --epochs 1 trains nothing
    # more and must reproduce the same test accuracy from the restored weights
    code = main(
        [
            "train",
            "--epochs",
            "1",
            "--resume",
            "--data-dir",
            str(data_root),
            "--out",
            str(out),
            "--quiet",
        ]
    )
    assert code == 0
    before = json.loads((trained_run / "metrics.json").read_text())["test_accuracy"]
    after = json.loads((out / "metrics.json").read_text())["test_accuracy"]
    assert after == before


def test_resume_without_state_is_exit_2(tmp_path: Path, data_root: Path) -> None:
    result = _run("train", "--resume", "--out", str(tmp_path), data_root=data_root)
    assert result.returncode == 2
    assert "nothing to resume" in result.stderr


def test_train_linear_with_validation_split(
    data_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "linear"
    args = ["train", "--model", "linear", "--epochs", "2", "--val-fraction", "0.1"]
    assert main([*args, "--data-dir", str(data_root), "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    trained_on = int(printed.split(" images)")[0].rsplit("(", 1)[1])
    assert abs(trained_on - 54_000) <= 10  # 10% of each class held out for validation
    assert printed.count("val_accuracy") == 2
    records = json.loads((out / "history.json").read_text())["records"]
    assert [r["epoch"] for r in records] == [1, 2]
    assert records[-1]["val_accuracy"] > 0.88
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["model"] == "linear" and metrics["parameters"] == 7850
    assert metrics["test_accuracy"] > 0.88


def test_out_must_be_a_folder(data_root: Path, tmp_path: Path) -> None:
    target = tmp_path / "a-file"
    target.write_text("x")
    result = _run("train", "--out", str(target), data_root=data_root)
    assert result.returncode == 2
    assert "'--out' must be a folder" in result.stderr
    assert "Traceback" not in result.stderr
