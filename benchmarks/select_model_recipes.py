"""How the per-model recipes (``linear``, ``mlp``, ``lenet5``, ``cnn``) were chosen.

``mnistkit train --model X`` trains the recipe named after ``X``. For the four models with a
test-set target, candidates are compared on the validation split every selection script
uses (``_common.validation_split``: 10% of MNIST's training split, stratified,
``train_val_split(seed=0)``); the model trains on the rest with the candidate's full
schedule, seed 0. The test set is never read.

The rule, fixed before the runs: the candidates of a model are listed cheapest first; keep
the first whose validation accuracy after the last epoch is at least the model's test
target + 0.15 percentage points (the margin covers the other seed-0 run on all 60,000
images, a CPU without bfloat16, another machine's kernels). If none clears it, keep the
most accurate and say so. Once a candidate clears the bar the dearer ones are not run
(``--all`` runs them anyway, for the record). Every model keeps the network its
documentation describes (its ``get_model`` defaults); only the training settings are
candidates.

    python benchmarks/select_model_recipes.py --threads 1                  # all, ~15 min
    python benchmarks/select_model_recipes.py --models cnn --candidates cnn-5
    python benchmarks/select_model_recipes.py --epochs 1 --limit 2000      # smoke run

Prints a table and writes JSON (every epoch's validation accuracy, the settings, the
environment). Start it in the background with one thread; each candidate is a process-free
run after the previous one.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import torch
from _common import RESULTS_DIR, environment, format_table, validation_split, write_json
from select_recipe import run

from mnistkit import TrainConfig
from mnistkit.recipes import Recipe

#: Each model's test-set target (what its CI test asserts), as a fraction.
TARGETS: dict[str, float] = {"linear": 0.923, "mlp": 0.982, "lenet5": 0.990, "cnn": 0.993}

#: How far above the target a candidate's validation accuracy must be to be kept.
MARGIN = 0.0015


def _candidate(model: str, epochs: int, *, fast: bool, **config: Any) -> Recipe:
    """``model`` with its default network, AdamW one-cycle for ``epochs`` epochs.

    ``fast``: bfloat16 autocast where the CPU computes it natively (``precision="auto"``) and
    the channels-last memory format, what the convolutional recipes use; otherwise float32.
    """
    speed = {"precision": "auto", "channels_last": True} if fast else {}
    return Recipe(
        name=model,
        summary=f"candidate: {epochs} epochs",
        model=model,
        config=TrainConfig(epochs=epochs, **speed, **config),
    )


#: Per model, its candidates, cheapest first (the order the rule reads them in).
CANDIDATES: dict[str, dict[str, Recipe]] = {
    "linear": {
        "linear-5": _candidate("linear", 5, fast=False),
        "linear-10": _candidate("linear", 10, fast=False),
        "linear-20": _candidate("linear", 20, fast=False),
    },
    "mlp": {
        "mlp-5": _candidate("mlp", 5, fast=False),
        "mlp-10": _candidate("mlp", 10, fast=False),
        "mlp-20": _candidate("mlp", 20, fast=False),
    },
    "lenet5": {
        "lenet5-5": _candidate("lenet5", 5, fast=True),
        "lenet5-10": _candidate("lenet5", 10, fast=True),
        "lenet5-15": _candidate("lenet5", 15, fast=True),
    },
    "cnn": {
        "cnn-4": _candidate("cnn", 4, fast=True),
        "cnn-6": _candidate("cnn", 6, fast=True),
        "cnn-8": _candidate("cnn", 8, fast=True),
    },
}


def choose(model: str, results: list[dict[str, Any]]) -> tuple[str, bool]:
    """The rule above: the kept candidate's name, and whether it cleared the bar."""
    bar = TARGETS[model] + MARGIN
    for result in results:  # cheapest first
        if result["val_accuracy"] >= bar:
            return result["candidate"], True
    return max(results, key=lambda r: r["val_accuracy"])["candidate"], False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", choices=list(CANDIDATES), default=None)
    parser.add_argument("--candidates", nargs="+", default=None, help="(default: all)")
    parser.add_argument("--epochs", type=int, default=None, help="override every schedule")
    parser.add_argument("--limit", type=int, default=None, help="use this many training images")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    parser.add_argument("--all", action="store_true", help="run every candidate")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    models = args.models or list(CANDIDATES)
    known = {name for model in models for name in CANDIDATES[model]}
    unknown = sorted(set(args.candidates or ()) - known)
    if unknown:
        parser.error(f"unknown candidates {unknown}; known: {sorted(known)}")
    if args.threads:
        torch.set_num_threads(args.threads)
    before = environment(torch.device("cpu"))
    train, val = validation_split("mnist", args.data_dir, args.limit)
    print(f"mnist: {len(train)} training images, {len(val)} validation", flush=True)
    results: list[dict[str, Any]] = []
    rows, kept = [], {}
    for model in models:
        done = []
        for name, recipe in CANDIDATES[model].items():
            if args.candidates and name not in args.candidates:
                continue
            if not args.all and any(r["val_accuracy"] >= TARGETS[model] + MARGIN for r in done):
                break  # the rule keeps the cheapest that cleared the bar
            if args.epochs is not None:
                recipe = recipe.replace(epochs=args.epochs)
            trained = run(recipe.replace(progress=False), "mnist", train, val, seed=args.seed)
            result = {"model": model, "candidate": name, **trained}
            done.append(result)
            print(
                f"{name}: validation accuracy {result['val_accuracy']:.2%} "
                f"({result['wall_seconds']:.0f} s)",
                flush=True,
            )
            rows.append(
                [
                    name,
                    f"{result['parameters']:,}",
                    str(result["epochs"]),
                    f"{TARGETS[model] + MARGIN:.2%}",
                    f"{result['val_accuracy']:.2%}",
                    f"{result['val_loss']:.4f}",
                    f"{result['seconds_per_epoch']:.1f}",
                    f"{result['wall_seconds']:.0f}",
                ]
            )
        if done:
            kept[model] = choose(model, done)
        results += done
    print()
    header = ["candidate", "parameters", "epochs", "bar", "val acc", "val loss", "s/epoch", "s"]
    print(format_table(header, rows))
    for model, (name, cleared) in kept.items():
        print(f"{model}: keep {name}" + ("" if cleared else " (none cleared the bar)"))
    path = args.json or RESULTS_DIR / "select_model_recipes.json"
    write_json(
        path,
        {
            "script": "select_model_recipes.py",
            "settings": {
                "models": models,
                "seed": args.seed,
                "epochs": args.epochs,
                "limit": args.limit,
                "threads": args.threads,
                "train_images": len(train),
                "val_images": len(val),
                "targets": TARGETS,
                "margin": MARGIN,
            },
            "results": results,
            "kept": {model: {"candidate": n, "cleared": c} for model, (n, c) in kept.items()},
            "environment_before": before,
            "environment_after": environment(torch.device("cpu")),
        },
    )
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
