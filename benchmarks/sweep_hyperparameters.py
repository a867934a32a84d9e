"""Hyper-parameter sweep: the default MLP's validation accuracy as one setting changes.

The figures of the documentation's "Choosing hyper-parameters" page come from this script.
Starting from the defaults (``get_model("mlp")``, ``TrainConfig()`` with AdamW and the
one-cycle schedule, batch 128, seed 0), it changes one setting at a time, trains on 90% of
MNIST's training split and measures on the other 10% (stratified, seed 0). The test set is
not used: choosing settings by their test score would spoil it as an estimate.

    python benchmarks/sweep_hyperparameters.py                       # every sweep, 2 epochs
    python benchmarks/sweep_hyperparameters.py --sweeps lr --threads 1

Prints one table per sweep and writes JSON (settings, every run's history, the environment).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import torch
from _common import RESULTS_DIR, environment, format_table, resolve_data_root, write_json

from mnistkit import TrainConfig, Trainer, datasets, get_model, train_val_split
from mnistkit.exceptions import TrainingDivergedError

#: The values each sweep tries; every other setting stays at its default.
SWEEPS: dict[str, list[Any]] = {
    "lr": [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1],
    "batch_size": [16, 64, 128, 512, 2048],
    "epochs": [1, 2, 4, 8],
    "hidden_sizes": [(16,), (64,), (256, 128), (1024, 512)],
}


def run(
    data: datasets.DatasetSplits,
    train: datasets.Split,
    val: datasets.Split,
    *,
    epochs: int,
    setting: str,
    value: Any,
) -> dict[str, Any]:
    """Train the MLP once with ``setting=value``; return its validation figures."""
    model_kw: dict[str, Any] = {}
    config_kw: dict[str, Any] = {"epochs": epochs, "device": "cpu", "progress": False}
    if setting == "hidden_sizes":
        model_kw["hidden_sizes"] = value
    else:
        config_kw[setting] = value
    config = TrainConfig(**config_kw)
    torch.manual_seed(0)  # fit() seeds again; this makes the initial weights repeatable
    model = get_model("mlp", **model_kw)
    parameters = sum(p.numel() for p in model.parameters())
    trainer = Trainer(model, config)
    started = time.perf_counter()
    try:
        history = trainer.fit(train, val=val)
    except TrainingDivergedError as error:
        return {"setting": setting, "value": value, "diverged": str(error)}
    return {
        "setting": setting,
        "value": value,
        "parameters": parameters,
        "effective_lr": config.effective_lr,
        "epochs": len(history),
        "train_loss": history.train_loss[-1],
        "train_accuracy": history.train_accuracy[-1],
        "val_loss": history.val_loss[-1],
        "val_accuracy": history.val_accuracy[-1],
        "seconds_per_epoch": sum(history.seconds) / len(history),
        "wall_seconds": time.perf_counter() - started,
        "history": history.to_dict(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sweeps", nargs="+", choices=list(SWEEPS), default=list(SWEEPS))
    parser.add_argument("--epochs", type=int, default=2, help="epochs of every other sweep")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--json", type=Path, default=RESULTS_DIR / "sweep_hyperparameters.json")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    before = environment(torch.device("cpu"))
    data = datasets.load("mnist", root=resolve_data_root(args.data_dir), download=False)
    train, val = train_val_split(data.train, val_fraction=0.1, seed=0)
    print(f"MLP on {len(train)} training images, validated on {len(val)}; {args.epochs} epochs")
    results: list[dict[str, Any]] = []
    for setting in args.sweeps:
        rows = []
        for value in SWEEPS[setting]:
            result = run(data, train, val, epochs=args.epochs, setting=setting, value=value)
            results.append(result)
            if "diverged" in result:
                rows.append([str(value), "diverged", "", "", "", ""])
                continue
            rows.append(
                [
                    str(value),
                    f"{result['parameters']:,}",
                    f"{result['train_accuracy']:.2%}",
                    f"{result['val_accuracy']:.2%}",
                    f"{result['val_loss']:.4f}",
                    f"{result['seconds_per_epoch']:.1f}",
                ]
            )
        header = [setting, "parameters", "train acc", "val acc", "val loss", "s/epoch"]
        print()
        print(format_table(header, rows))
    write_json(
        args.json,
        {
            "script": "sweep_hyperparameters.py",
            "settings": {"epochs": args.epochs, "threads": args.threads, "sweeps": args.sweeps},
            "results": results,
            "environment_before": before,
            "environment_after": environment(torch.device("cpu")),
        },
    )
    print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
