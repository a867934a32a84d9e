"""``mnistkit compare``: models evaluated on the same real test images, every pair tested.

The statistics themselves are checked against SciPy and statsmodels in ``test_stats.py``;
here the command is run on the bundled models, whose test errors the manifest records.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image
from scipy.stats import binomtest  # type: ignore[import-untyped]

import mnistkit
from mnistkit import pretrained
from mnistkit.cli import main
from mnistkit.models import Ensemble


def test_compare_tells_the_fast_model_from_the_best(
    data_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    figure = tmp_path / "pairs.png"
    args = ["compare", "pretrained:fast", "pretrained:best", "--json", "--precision", "32"]
    assert main([*args, "--figure", str(figure), "--data-dir", str(data_root)]) == 0
    out = capsys.readouterr().out
    data = json.loads(out[: out.rindex("}") + 1])
    assert out.rstrip().endswith(f"wrote {figure}")
    assert (data["dataset"], data["split"], data["num_samples"]) == ("mnist", "test", 10_000)
    models = data["models"]
    # float32 answers are the same on every CPU: exactly the errors the manifest records
    assert models["pretrained:fast"]["errors"] == pretrained.get_info("fast").test_errors
    assert models["pretrained:best"]["errors"] == pretrained.get_info("best").test_errors
    (pair,) = data["pairs"]
    assert (pair["a"], pair["b"]) == ("pretrained:fast", "pretrained:best")
    table = [pair[k] for k in ("both_right", "only_a", "only_b", "both_wrong")]
    assert sum(table) == 10_000
    fast_errors, best_errors = (pretrained.get_info(n).test_errors for n in ("fast", "best"))
    assert pair["only_b"] - pair["only_a"] == fast_errors - best_errors  # only disagreements
    assert pair["both_wrong"] + pair["only_b"] == fast_errors  # fast's errors: B gets them right
    only_a, only_b = pair["only_a"], pair["only_b"]
    assert pair["p_value"] == pytest.approx(binomtest(only_a, only_a + only_b).pvalue, rel=1e-10)
    assert pair["p_value"] < 1e-6
    assert pair["better"] == "pretrained:best"
    assert pair["verdict"] == "pretrained:best is better (p < 0.0001)"
    low, high = pair["difference_interval"]["low"], pair["difference_interval"]["high"]
    assert pair["difference"] == pytest.approx((best_errors - fast_errors) / 10_000)
    assert low < pair["difference"] < high < 0
    with Image.open(figure) as image:
        assert image.format == "PNG" and image.size[0] > 300


def test_compare_a_model_with_itself_finds_no_difference(
    data_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # the bundled model by name, an ensemble file of two copies of it (the same mean
    # probabilities), and the name again (evaluated once)
    members = [pretrained.load("fast").model, pretrained.load("fast").model]
    copy = mnistkit.save_model(Ensemble(members), tmp_path / "fast2.safetensors", dataset="mnist")
    args = ["compare", "pretrained:fast", str(copy), "pretrained:fast", "--precision", "32"]
    assert main([*args, "--data-dir", str(data_root)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == ("3 models on mnist test (10,000 images); exact McNemar test, 95% intervals")
    assert [line.split()[0] for line in lines[2:5]] == [
        "pretrained:fast",
        str(copy),
        "pretrained:fast",
    ]
    assert lines[4].split()[1] == "(2)"  # a name given twice is told apart
    pairs = lines[7:10]
    assert len(pairs) == 3
    errors = pretrained.get_info("fast").test_errors
    for line in pairs:
        assert f"{10_000 - errors:,}             0             0          {errors}" in line
        assert line.endswith("+0.00 (-0.04 to +0.04)  no evidence of a difference (p = 1)")
    assert lines[10].startswith("Each of the 3 pairs is tested on its own")


def test_compare_refuses_models_that_do_not_fit_together(
    data_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    three = mnistkit.save_model(
        mnistkit.get_model("linear", num_classes=3),
        tmp_path / "three.safetensors",
        dataset="mnist",
        classes=["a", "b", "c"],
    )
    cases = [
        (
            ["pretrained:fast", "pretrained:fashion"],
            "the models were trained on different data sets (pretrained:fast on mnist, "
            "pretrained:fashion on fashion-mnist); compare models of one data set, or pass "
            "--dataset",
        ),
        (
            ["pretrained:fast", str(three)],
            f"{three}: the model has 3 classes but mnist has 10",
        ),
        (["pretrained:fast"], "must name at least two models to compare, but got 1"),
        (
            ["pretrained:fast", "pretrained:default", "--figure", str(tmp_path)],
            "Argument '--figure' must be a file",
        ),
        (["pretrained:fast", str(tmp_path / "nope.safetensors")], "no such model file"),
    ]
    for args, message in cases:
        assert main(["compare", *args, "--data-dir", str(data_root)]) == 2, args
        captured = capsys.readouterr()
        assert message in captured.err, (args, captured.err)
        assert captured.out == ""
