"""After training, the model file alone is enough: no normalisation constants anywhere else."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from mnistkit import TrainConfig, Trainer, get_model, seed_everything
from mnistkit.datasets import DatasetSplits

# Run in a fresh interpreter: load the file, call model(x) on [0, 1] pixels, softmax.
_LOAD_AND_CALL = """
import sys
import numpy as np
import torch
from mnistkit import load_model

loaded = load_model(sys.argv[1])
pixels = torch.from_numpy(np.load(sys.argv[2])).float() / 255  # (N, 1, 28, 28) in [0, 1]
with torch.no_grad():
    probs = torch.softmax(loaded.model(pixels), dim=1)
np.save(sys.argv[3], probs.numpy())
"""


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_saved_model_called_on_pixels_matches_the_trainer(
    name: str, mnist: DatasetSplits, fashion: DatasetSplits, tmp_path: Path
) -> None:
    data = mnist if name == "mnist" else fashion
    seed_everything(0)
    model = get_model("cnn", dataset=name, channels=(8, 16), hidden=32)
    trainer = Trainer(model, TrainConfig(epochs=1, batch_size=256, device="cpu", progress=False))
    trainer.fit(data.train.subset(slice(0, 6000)))
    images = data.test.images[:500]
    expected = trainer.predict_proba(images)  # (500, 10)
    assert (
        float((expected.argmax(1) == data.test.labels[:500]).double().mean()) > 0.5
    )  # it learnt (chance: 0.1)

    path = trainer.save_model(tmp_path / "model.safetensors")
    np.save(tmp_path / "pixels.npy", images.unsqueeze(1).numpy())
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            _LOAD_AND_CALL,
            str(path),
            str(tmp_path / "pixels.npy"),
            str(tmp_path / "probs.npy"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ),
        check=False,
    )
    assert result.returncode == 0, result.stderr
    probs = torch.from_numpy(np.load(tmp_path / "probs.npy"))
    assert (probs - expected).abs().max().item() < 1e-5
    # and the file's normalisation is the data set's, from the registry
    assert model.normalize.mean.item() == pytest.approx(data.info.mean)
