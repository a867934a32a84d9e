"""Device and precision check: one epoch of the default CNN under each precision on a device.

Meant to be the one script a session with a GPU runs (``--device cuda``), and runnable on a
CPU as well (``--device cpu``) so that it is known to work before a GPU is at hand. For each
precision it trains the default CNN for ``--epochs`` epoch(s) from the same seed, evaluates it
on the 10,000 test images, and compares its test predictions with the float32 run's. It also
times the device-resident loader alone. Prints a table and writes JSON.

    python benchmarks/bench_devices.py --device cuda --json benchmarks/results/bench_devices.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
import warnings
from pathlib import Path
from typing import Any

import torch

import mnistkit
from mnistkit import TrainConfig, Trainer, datasets, get_model, seed_everything
from mnistkit.devices import resolve_device
from mnistkit.loaders import DeviceLoader


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def loader_throughput(split: datasets.Split, device: torch.device, batch_size: int) -> float:
    """Images per second of one shuffled epoch of the loader alone (after a warm-up epoch)."""
    loader = DeviceLoader(split, batch_size=batch_size, device=device, shuffle=True)
    for _ in loader:  # warm-up: first touches, allocator, kernels
        pass
    _sync(device)
    started = time.perf_counter()
    for images, _labels in loader:
        images.sum()  # touch the batch so lazy work is counted
    _sync(device)
    return len(split) / (time.perf_counter() - started)


def train_once(
    data: datasets.DatasetSplits, device: str, precision: str, epochs: int, batch_size: int
) -> dict[str, Any]:
    seed_everything(0)
    config = TrainConfig(
        epochs=epochs, batch_size=batch_size, device=device, precision=precision, progress=False
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer = Trainer(get_model("cnn"), config)
    history = trainer.fit(data.train)
    report = trainer.evaluate(data.test)
    return {
        "precision_asked": precision,
        "precision_used": trainer.precision.precision,
        "warnings": [str(w.message) for w in caught],
        "train_seconds": sum(history.seconds),
        "test_accuracy": report.accuracy,
        "predictions": trainer.predict(data.test.images),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument(
        "--precisions", nargs="+", default=["32", "bf16-mixed", "16-mixed"], metavar="P"
    )
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/bench_devices.json"))
    args = parser.parse_args()

    device = resolve_device(args.device)
    data = datasets.load("mnist", root=args.data_dir, download=False)
    env = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "mnistkit": mnistkit.__version__,
        "torch": torch.__version__,
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "load_average": list(os.getloadavg()),
    }
    loader_rate = loader_throughput(data.train, device, args.batch_size)
    runs = [train_once(data, str(device), p, args.epochs, args.batch_size) for p in args.precisions]
    reference = runs[0]["predictions"]
    rows = []
    for run in runs:
        agree = float((run.pop("predictions") == reference).double().mean())
        rows.append({**run, "agreement_with_first": agree})

    print(f"device {env['device']} ({env['device_name']}), torch {env['torch']}")
    print(f"DeviceLoader alone: {loader_rate:,.0f} images/s at batch {args.batch_size}")
    header = f"{'precision':<12} {'used':<12} {'train s':>8} {'test acc':>9} {'agree':>7}"
    print(header)
    print("-" * len(header))
    for row in rows:
        print(
            f"{row['precision_asked']:<12} {row['precision_used']:<12} "
            f"{row['train_seconds']:>8.1f} {row['test_accuracy']:>9.4f} "
            f"{row['agreement_with_first']:>7.4f}"
        )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    result = {"environment": env, "epochs": args.epochs, "loader_images_per_s": loader_rate}
    result["runs"] = rows
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
