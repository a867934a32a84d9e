"""How the ``fast`` recipe's settings were chosen (issue 30): cheaper variants of 0.2's
``fast`` compared on a validation split, for their training time and their accuracy.

``fast`` promises 99% in one epoch, as soon as possible. Each candidate below is a change to
0.2's ``fast`` (channels 16/32/64, batch norm before each max-pool, batches of 128 at a peak
rate of 0.01). Each trains for the recipe's one epoch on 90% of MNIST's training images and
is scored on the other 10% (stratified, ``train_val_split(seed=0)``; the test set is never
read), with seeds 0, 1 and 2 by default. The rule, fixed before the runs: the candidate
with the least median training time whose mean validation accuracy is within 0.05 points of
0.2's ``fast``.

    python benchmarks/select_fast.py                              # all candidates, 3 seeds
    python benchmarks/select_fast.py --candidates fast-0.2 pool-first-256 --seeds 0
    python benchmarks/select_fast.py --limit 2000 --seeds 0      # smoke run

Times are of one process running the candidates one after the other, interleaved by seed
(so that a busy moment spreads over all of them); run it on a quiet machine. Prints a table
and writes JSON (every run, the settings, the environment).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

import torch
from _common import RESULTS_DIR, environment, format_table, validation_split, write_json

from mnistkit import Trainer, recipes
from mnistkit.inference import evaluate_model

#: 0.2's ``fast``: the model and training settings as the 0.2 release shipped them.
FAST_02: dict[str, Any] = {
    "model_config": {"channels": (16, 32, 64), "hidden": 0, "batch_norm": True, "dropout": 0.0},
    "batch_size": 128,
    "lr": 0.01,
}

#: Each candidate: changes to 0.2's ``fast``.
CANDIDATES: dict[str, dict[str, Any]] = {
    "fast-0.2": {},
    # batch norm and ReLU after the max-pool see a quarter of the values (as `default` does)
    "pool-first": {"model_config": {**FAST_02["model_config"], "pool_before_norm": True}},
    # ... and half as many steps, each at twice the rate
    "pool-first-256": {
        "model_config": {**FAST_02["model_config"], "pool_before_norm": True},
        "batch_size": 256,
        "lr": 0.02,
    },
    # ... and a first stage half as wide
    "pool-first-256-narrow": {
        "model_config": {
            **FAST_02["model_config"],
            "pool_before_norm": True,
            "channels": (8, 32, 64),
        },
        "batch_size": 256,
        "lr": 0.02,
    },
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--candidates", nargs="+", choices=list(CANDIDATES), default=list(CANDIDATES)
    )
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--limit", type=int, default=None, help="first N training images")
    parser.add_argument("--data-dir", default=None, help="folder holding mnist/")
    parser.add_argument("--json", type=Path, default=RESULTS_DIR / "select_fast.json")
    return parser.parse_args()


def run(name: str, seed: int, train: Any, val: Any) -> dict[str, Any]:
    """Train candidate ``name`` with ``seed``; its training seconds and validation score."""
    changes = {**FAST_02, **CANDIDATES[name]}
    recipe = recipes.get_recipe("fast").replace(
        model_config=changes["model_config"],
        batch_size=changes["batch_size"],
        lr=changes["lr"],
        seed=seed,
        progress=False,
    )
    trainer = Trainer(recipe.build_model("mnist"), recipe.config)
    history = trainer.fit(train)
    report = evaluate_model(
        trainer.inference_model,
        val,
        device=trainer.device,
        precision=trainer.precision.precision,
    )
    return {
        "candidate": name,
        "seed": seed,
        "train_seconds": sum(history.seconds),
        "val_accuracy": report.accuracy,
        "val_errors": report.errors,
        "precision": trainer.precision.precision,
        "settings": {k: list(v) if isinstance(v, tuple) else v for k, v in changes.items()},
    }


def main() -> None:
    args = parse_args()
    before = environment(torch.device("cpu"))
    print(f"load average {before['load_average']}", flush=True)
    train, val = validation_split("mnist", args.data_dir, args.limit)
    # a first, untimed epoch on a few batches: the kernels' one-time set-up is nobody's
    run("fast-0.2", 0, train.subset(slice(0, 1024)), val)
    started = time.perf_counter()
    runs = []
    for seed in args.seeds:
        for name in args.candidates:
            record = run(name, seed, train, val)
            runs.append(record)
            print(
                f"{name:24s} seed {seed}  {record['train_seconds']:6.2f} s  "
                f"val {record['val_accuracy']:.2%}",
                flush=True,
            )
    rows = []
    summary = {}
    for name in args.candidates:
        mine = [r for r in runs if r["candidate"] == name]
        seconds = statistics.median(r["train_seconds"] for r in mine)
        accuracy = statistics.fmean(r["val_accuracy"] for r in mine)
        summary[name] = {"median_train_seconds": seconds, "mean_val_accuracy": accuracy}
        rows.append(
            [
                name,
                f"{seconds:.2f}",
                f"{accuracy:.2%}",
                " ".join(f"{r['val_accuracy']:.2%}" for r in mine),
            ]
        )
    print()
    print(format_table(["candidate", "median train s", "mean val acc", "per seed"], rows))
    base = summary.get("fast-0.2")
    if base is not None:
        allowed = [
            name
            for name, s in summary.items()
            if s["mean_val_accuracy"] >= base["mean_val_accuracy"] - 0.0005
        ]
        chosen = min(allowed, key=lambda name: summary[name]["median_train_seconds"])
        print(f"chosen by the rule: {chosen}")
        summary["chosen"] = chosen
    after = environment(torch.device("cpu"))
    print(f"load average before {before['load_average']}, after {after['load_average']}")
    path = write_json(
        args.json,
        {
            "benchmark": "select_fast",
            "settings": {"seeds": args.seeds, "limit": args.limit},
            "runs": runs,
            "summary": summary,
            "seconds": time.perf_counter() - started,
            "environment_before": before,
            "environment_after": after,
        },
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
