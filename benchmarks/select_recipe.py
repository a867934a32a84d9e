"""How the accuracy recipes' settings were chosen: candidates compared on a validation split.

The ``best`` (MNIST) and ``fashion`` (Fashion-MNIST) recipes were chosen among the
candidates below by their accuracy on 10% of the data set's *training* split (stratified,
``train_val_split(seed=0)``); the model trains on the other 90% with the candidate's full
schedule and seed 0. The test set is never read. The rule, fixed before the runs: keep the
candidate with the highest validation accuracy after the last epoch, the simpler one on a
tie within 0.1 percentage point.

    python benchmarks/select_recipe.py --recipe fashion --threads 1      # all four, ~2 h
    python benchmarks/select_recipe.py --recipe best --candidates affine affine-elastic
    python benchmarks/select_recipe.py --recipe fashion --epochs 1 --limit 2000   # smoke run

Each candidate is a change to the recipe as it stands (the kept one is the recipe itself).
Prints a table and writes JSON (every epoch's validation accuracy, the settings, the
environment). The runs behind ``benchmarks/RESULTS.md`` are long on a CPU: start them in the
background, one thread each.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import torch
from _common import RESULTS_DIR, environment, format_table, validation_split, write_json

import mnistkit
from mnistkit import Trainer, datasets, recipes
from mnistkit.augment import (
    Compose,
    ElasticDistortion,
    RandomAffine,
    RandomCrop,
    RandomErasing,
    RandomHorizontalFlip,
)

_AFFINE = RandomAffine(degrees=10.0, translate=0.1, scale=(0.9, 1.1))
_FLIP_CROP = (RandomHorizontalFlip(0.5), RandomCrop(padding=2))
_ERASE = Compose(*_FLIP_CROP, RandomErasing(p=0.5, value="random"))

#: Per recipe: its data set, and each candidate's changes (``Recipe.replace`` keywords).
CANDIDATES: dict[str, tuple[str, dict[str, dict[str, Any]]]] = {
    "best": (
        "mnist",
        {
            "affine": {"augment": _AFFINE, "epochs": 5},
            "affine-strong": {
                "augment": RandomAffine(
                    degrees=15.0, translate=0.12, scale=(0.85, 1.15), shear=8.0
                ),
                "epochs": 5,
            },
            "affine-elastic": {
                "augment": Compose(_AFFINE, ElasticDistortion(alpha=8.0, sigma=3.0)),
                "epochs": 5,
            },
        },
    ),
    "fashion": (
        "fashion-mnist",
        {
            "flip-crop-20": {"augment": Compose(*_FLIP_CROP), "epochs": 20},
            "erase-20": {"augment": _ERASE, "epochs": 20},
            "erase-wide-20": {
                "augment": _ERASE,
                "epochs": 20,
                "model_config": {"stages": ((48, 48), (96, 96), (192, 192)), "dropout": 0.2},
            },
            "erase-40": {"augment": _ERASE, "epochs": 40},
        },
    ),
}


def run(
    recipe: recipes.Recipe,
    dataset: str,
    train: datasets.Split,
    val: datasets.Split,
    *,
    seed: int,
) -> dict[str, Any]:
    """Train ``recipe`` on ``train`` and read ``val`` after every epoch."""
    recipe = recipe.replace(seed=seed)
    mnistkit.seed_everything(seed)  # fit() seeds again; this makes the initial weights repeatable
    model = recipe.build_model(dataset=dataset)
    trainer = Trainer(model, recipe.config, augment=recipe.augment)
    started = time.perf_counter()
    history = trainer.fit(train, val=val)
    return {
        "recipe": recipe.to_dict(),
        "parameters": sum(p.numel() for p in model.parameters()),
        "epochs": len(history),
        "val_accuracy": history.val_accuracy[-1],
        "val_loss": history.val_loss[-1],
        "val_accuracy_per_epoch": list(history.val_accuracy),
        "seconds_per_epoch": sum(history.seconds) / len(history),
        "wall_seconds": time.perf_counter() - started,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipe", choices=list(CANDIDATES), required=True)
    parser.add_argument("--candidates", nargs="+", default=None, help="(default: all)")
    parser.add_argument("--epochs", type=int, default=None, help="override every schedule")
    parser.add_argument("--limit", type=int, default=None, help="use this many training images")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    dataset, candidates = CANDIDATES[args.recipe]
    names = args.candidates or list(candidates)
    unknown = sorted(set(names) - set(candidates))
    if unknown:
        parser.error(f"unknown candidates {unknown} for {args.recipe}; known: {list(candidates)}")
    if args.threads:
        torch.set_num_threads(args.threads)
    before = environment(torch.device("cpu"))
    train, val = validation_split(dataset, args.data_dir, args.limit)
    print(f"{args.recipe} on {dataset}: {len(train)} training images, {len(val)} validation")
    base = recipes.get_recipe(args.recipe).replace(progress=False)
    results, rows = [], []
    for name in names:
        changes = dict(candidates[name])
        if args.epochs is not None:
            changes["epochs"] = args.epochs
        trained = run(base.replace(**changes), dataset, train, val, seed=args.seed)
        result = {"candidate": name, **trained}
        results.append(result)
        rows.append(
            [
                name,
                f"{result['parameters']:,}",
                str(result["epochs"]),
                f"{result['val_accuracy']:.2%}",
                f"{result['val_loss']:.4f}",
                f"{result['seconds_per_epoch']:.1f}",
            ]
        )
        print(f"{name}: validation accuracy {result['val_accuracy']:.2%}", flush=True)
    print()
    header = ["candidate", "parameters", "epochs", "val acc", "val loss", "s/epoch"]
    print(format_table(header, rows))
    path = args.json or RESULTS_DIR / f"select_{args.recipe}.json"
    write_json(
        path,
        {
            "script": "select_recipe.py",
            "settings": {
                "recipe": args.recipe,
                "dataset": dataset,
                "seed": args.seed,
                "epochs": args.epochs,
                "limit": args.limit,
                "threads": args.threads,
                "train_images": len(train),
                "val_images": len(val),
            },
            "results": results,
            "environment_before": before,
            "environment_after": environment(torch.device("cpu")),
        },
    )
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
