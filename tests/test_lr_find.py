"""The learning-rate range test: it leaves no trace, and its suggestion trains."""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import mnistkit
from mnistkit.cli import main
from mnistkit.datasets import DatasetSplits, Split
from mnistkit.tune import lr_find


@pytest.fixture(scope="module")
def digits(mnist: DatasetSplits) -> tuple[Split, Split]:
    return mnist.train.subset(slice(0, 6_000)), mnist.test.subset(slice(0, 2_000))


def _equal(a: dict[str, object], b: dict[str, object]) -> bool:
    """Nested state dicts equal bit for bit (tensors with torch.equal)."""
    if a.keys() != b.keys():
        return False
    for key in a:
        x, y = a[key], b[key]
        if isinstance(x, torch.Tensor):
            if not (isinstance(y, torch.Tensor) and x.dtype == y.dtype and torch.equal(x, y)):
                return False
        elif isinstance(x, dict):
            if not (isinstance(y, dict) and _equal(x, y)):
                return False
        elif x != y:
            return False
    return True


def test_weights_optimiser_and_random_state_are_restored_bit_for_bit(
    digits: tuple[Split, Split],
) -> None:
    train, _ = digits
    # batch norm (running statistics, a step counter) and dropout (random numbers)
    model = nn.Sequential(
        mnistkit.models.Normalize(0.1307, 0.3081),
        nn.Flatten(),
        nn.Linear(784, 32),
        nn.BatchNorm1d(32),
        nn.ReLU(),
        nn.Dropout(0.2),
        nn.Linear(32, 10),
    )
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    images = train.images[:64].unsqueeze(1).float() / 255
    loss = nn.functional.cross_entropy(model(images), train.labels[:64])
    loss.backward()  # type: ignore[no-untyped-call]
    optimizer.step()  # the optimiser now has state (moments, step count) to keep
    model.eval()
    weights = copy.deepcopy(model.state_dict())
    saved_optimizer = copy.deepcopy(optimizer.state_dict())
    random.seed(7)
    np.random.seed(7)
    torch.manual_seed(7)
    states = (random.getstate(), np.random.get_state(), torch.get_rng_state())

    result = lr_find(
        model,
        train,
        mnistkit.TrainConfig(device="cpu", batch_size=64),
        num_steps=40,
        optimizer=optimizer,
    )

    assert _equal(model.state_dict(), weights) and not model.training
    assert _equal(optimizer.state_dict(), saved_optimizer)
    assert random.getstate() == states[0]
    after = np.random.get_state()
    assert all(np.array_equal(x, y) for x, y in zip(after, states[1], strict=True))
    assert torch.equal(torch.get_rng_state(), states[2])
    # the test did train: 40 rates rising geometrically from 1e-7, each with its loss
    assert len(result.lrs) == len(result.losses) == len(result.raw_losses) <= 40
    ratios = np.diff(np.log(result.lrs))
    assert result.lrs[0] == pytest.approx(1e-7) and np.allclose(ratios, ratios[0])


def test_the_suggested_rate_trains_and_a_hundred_times_more_does_not(
    digits: tuple[Split, Split], tmp_path: Path
) -> None:
    train, test = digits
    config = mnistkit.TrainConfig(device="cpu", batch_size=64, progress=False)
    mnistkit.seed_everything(0)
    result = lr_find(mnistkit.get_model("mlp"), train, config, num_steps=200)
    assert result.stop_reason in ("diverged", "end") and len(result.lrs) <= 200
    assert result.suggestion is not None and result.suggestion < result.min_loss_lr

    def accuracy(lr: float) -> float:
        mnistkit.seed_everything(0)
        settings = config.replace(lr=lr, schedule="none", epochs=1)
        trainer = mnistkit.Trainer(mnistkit.get_model("mlp"), settings)
        trainer.fit(train)
        return trainer.evaluate(test).accuracy

    # one epoch over 6,000 digits: 89% measured at the suggestion, chance at 100x
    assert accuracy(result.suggestion) > 0.85
    assert accuracy(100 * result.suggestion) < 0.3
    figure = result.plot()
    assert len(figure.axes[0].lines) == 4  # raw, smoothed, minimum, suggestion
    saved = json.loads(result.save(tmp_path / "lr_find.json").read_text())
    assert saved["suggestion"] == result.suggestion and saved["lrs"] == list(result.lrs)


def test_cli_writes_the_figure_and_json(
    data_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "lr"
    argv = ["lr-find", "--model", "linear", "--steps", "60", "--device", "cpu"]
    assert main([*argv, "--data-dir", str(data_root), "--out", str(out)]) == 0
    saved = json.loads((out / "lr_find.json").read_text())
    assert len(saved["lrs"]) <= 60 and saved["settings"]["optimizer"] == "adamw"
    assert (out / "lr_find.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "suggested lr" in capsys.readouterr().out
    assert main(["lr-find", "--model", "linear", "--recipe", "fast"]) == 2  # one or the other
