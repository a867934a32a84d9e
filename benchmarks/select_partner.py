"""Which members make the best MNIST ensemble with `best`: partners compared on a validation split.

An ensemble gains where its members make different mistakes. This script asks, on 10% of
MNIST's *training* split (stratified, ``train_val_split(seed=0)``, never the test set),
which kind of second member helps `best` most: another seed of `best` itself, `best`
with another augmentation (elastic distortion added, or a stronger affine warp), or
another network with `best`'s training (the ``resnet`` model, a small residual network
with strided convolutions instead of max-pooling). Each
model trains on the other 90% with `best`'s full schedule; then the validation
probabilities of `best` seed 0 are averaged with each partner's, as
:class:`mnistkit.models.Ensemble` does. The rule, fixed before the runs: the partner whose
two-member ensemble makes the fewest validation errors; on a tie, the lower validation
negative log-likelihood of that ensemble.

    python benchmarks/select_partner.py --threads 1                  # five models, ~1 h 30 min
    python benchmarks/select_partner.py --epochs 1 --limit 2000      # smoke run, a minute

Prints a table (each partner's errors, the errors it shares with `best` seed 0, the pair's
errors, accuracy and NLL) and writes JSON with every model's validation accuracy per epoch.
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
from mnistkit.augment import Compose, ElasticDistortion, RandomAffine

#: Each partner: its seed and its changes to `best` (``Recipe.replace`` keywords). The
#: reference member is `best` with seed 0.
PARTNERS: dict[str, tuple[int, dict[str, Any]]] = {
    "best-seed1": (1, {}),
    "elastic": (
        0,
        {
            "augment": Compose(
                RandomAffine(degrees=10.0, translate=0.1, scale=(0.9, 1.1)),
                ElasticDistortion(alpha=8.0, sigma=3.0),
            )
        },
    ),
    "strong-affine": (
        0,
        {"augment": RandomAffine(degrees=15.0, translate=0.12, scale=(0.85, 1.15), shear=8.0)},
    ),
    "resnet": (0, {"model": "resnet"}),
}


def train_and_score(
    recipe: recipes.Recipe, train: datasets.Split, val: datasets.Split, seed: int
) -> dict[str, Any]:
    """Train ``recipe`` with ``seed`` and return its validation probabilities and figures."""
    recipe = recipe.replace(seed=seed)
    mnistkit.seed_everything(seed)  # the initial weights follow the seed
    trainer = Trainer(recipe.build_model(), recipe.config, augment=recipe.augment)
    started = time.perf_counter()
    history = trainer.fit(train, val=val)
    seconds = time.perf_counter() - started
    # the saved model's weights (the EMA average), as an ensemble member would have them
    probs = mnistkit.predict_proba(trainer.inference_model, val.images)
    return {
        "probs": probs,
        "recipe": recipe.to_dict(),
        "val_accuracy_per_epoch": list(history.val_accuracy),
        "train_seconds": seconds,
    }


def pair_figures(
    reference: torch.Tensor, partner: torch.Tensor, labels: torch.Tensor
) -> dict[str, Any]:
    """Errors of the partner alone, shared with the reference, and of the averaged pair.

    ``reference`` and ``partner`` are (N, C) class probabilities; the pair is their mean,
    what :class:`mnistkit.models.Ensemble` of the two models predicts.
    """
    pair = (reference + partner) / 2
    wrong_reference = reference.argmax(1) != labels
    wrong_partner = partner.argmax(1) != labels
    wrong_pair = pair.argmax(1) != labels
    return {
        "partner_errors": int(wrong_partner.sum()),
        "shared_errors": int((wrong_reference & wrong_partner).sum()),
        "pair_errors": int(wrong_pair.sum()),
        "pair_accuracy": 1.0 - float(wrong_pair.float().mean()),
        "pair_nll": float(-pair.gather(1, labels[:, None]).clamp_min(1e-12).log().mean()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--partners", nargs="+", choices=list(PARTNERS), default=list(PARTNERS))
    parser.add_argument("--epochs", type=int, default=None, help="(default: best's 20)")
    parser.add_argument("--limit", type=int, default=None, help="use this many training images")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    before = environment(torch.device("cpu"))
    train, val = validation_split("mnist", args.data_dir, args.limit)
    print(f"best's partners on mnist: {len(train)} training images, {len(val)} validation")
    best = recipes.get_recipe("best").replace(progress=False)
    if args.epochs is not None:
        best = best.replace(epochs=args.epochs)
    reference = train_and_score(best, train, val, seed=0)
    ref_errors = int((reference["probs"].argmax(1) != val.labels).sum())
    print(f"best-seed0: {ref_errors} validation errors", flush=True)
    results: list[dict[str, Any]] = [
        {"partner": "best-seed0 (reference)", "partner_errors": ref_errors, **_public(reference)}
    ]
    rows = []
    for name in args.partners:
        seed, changes = PARTNERS[name]
        trained = train_and_score(best.replace(**changes), train, val, seed=seed)
        figures = pair_figures(reference["probs"], trained["probs"], val.labels)
        results.append({"partner": name, "seed": seed, **figures, **_public(trained)})
        rows.append(
            [
                name,
                str(figures["partner_errors"]),
                str(figures["shared_errors"]),
                str(figures["pair_errors"]),
                f"{figures['pair_accuracy']:.2%}",
                f"{figures['pair_nll']:.4f}",
            ]
        )
        print(f"{name}: the pair makes {figures['pair_errors']} errors", flush=True)
    chosen = min(results[1:], key=lambda r: (r["pair_errors"], r["pair_nll"]))["partner"]
    print()
    header = ["partner", "errors", "shared with seed 0", "pair errors", "pair acc", "pair NLL"]
    print(format_table(header, rows))
    print(f"\nbest-seed0 alone: {ref_errors} errors of {len(val)}; chosen partner: {chosen}")
    path = args.json or RESULTS_DIR / "select_partner.json"
    write_json(
        path,
        {
            "script": "select_partner.py",
            "settings": {
                "epochs": best.config.epochs,
                "limit": args.limit,
                "threads": args.threads,
                "train_images": len(train),
                "val_images": len(val),
            },
            "chosen": chosen,
            "results": results,
            "environment_before": before,
            "environment_after": environment(torch.device("cpu")),
        },
    )
    print(f"wrote {path}")


def _public(trained: dict[str, Any]) -> dict[str, Any]:
    """A trained model's JSON-able figures (not its probabilities)."""
    return {key: value for key, value in trained.items() if key != "probs"}


if __name__ == "__main__":
    main()
