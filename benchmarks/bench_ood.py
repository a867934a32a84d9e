"""Is this even a digit? How well "not a digit" scores tell MNIST from Fashion-MNIST.

For each model (a model file or ``pretrained:NAME``) this computes, on the MNIST test digits
(in-distribution) and the Fashion-MNIST test images (never used to choose anything), the
AUROC of several post-hoc scores, and for each the share of Fashion-MNIST rejected and of
test digits kept at the threshold that keeps 99% of held-out digits:

* ``--split val``: the validation split ``mnistkit train`` held out (``--val-fraction``,
  ``--seed``: give the values the model was trained with);
* ``--split train``: all 60,000 training digits, for models trained on all of them (the
  bundled ones); a model is surer of digits it trained on, so such a threshold keeps fewer
  than 99% of new digits, which the table shows.

Scores (higher = more like a digit): maximum softmax probability at temperatures 1 and
1000, energy (``T logsumexp(logits / T)``) at 1 and 2, maximum logit, the norm of the
penultimate features, minus the Mahalanobis distance of those features to the nearest class
mean (class means and one shared covariance from the training digits), and the cosine
similarity to the 10th nearest of 20,000 training digits' normalised features.

``--outlier-exposure EPOCHS`` then fine-tunes a copy of each model for that many epochs on
its training digits (the training split less the held-out ones) plus synthetic non-digits
(:func:`mnistkit.outliers.synthetic_non_digits`: noise, blobs, random scribbles, shapes;
never Fashion-MNIST), whose loss is the cross-entropy to the uniform distribution (outlier
exposure, Hendrycks, Mazeika and Dietterich, ICLR 2019), and measures it again.

``--train-oe W [W ...]`` instead trains from scratch, with ``mnistkit train --recipe
RECIPE --outlier-exposure W`` for each weight (into ``--runs``; a run whose model file is
there already is reused), picks one weight on the validation digits and synthetic pictures
alone (the highest energy AUROC of validation digits against 5,000 synthetic pictures no
step drew, among the runs whose validation accuracy is within 0.1 point of the best), and
measures the chosen model as above; Fashion-MNIST chooses nothing.

Usage::

    export MNISTKIT_DATA_DIR=/path/to/data
    python benchmarks/bench_ood.py runs/mnist-default/model.safetensors --split val \\
        --outlier-exposure 1
    python benchmarks/bench_ood.py pretrained:fast pretrained:default pretrained:best \\
        --split train
    python benchmarks/bench_ood.py --train-oe 0.5 --runs runs/oe --split val

Prints a table per model and writes ``benchmarks/results/bench_ood.json``.
"""

from __future__ import annotations

import argparse
import copy
import math
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from _common import RESULTS_DIR, environment, format_table, write_json
from torch import nn

import mnistkit
from mnistkit import datasets, pretrained
from mnistkit.checkpoints import load_model
from mnistkit.datasets import Split
from mnistkit.loaders import train_val_split
from mnistkit.metrics import ood_report, ood_scores, threshold_for_recall
from mnistkit.outliers import synthetic_non_digits

KEEP = 0.99


def _forward(model: nn.Module, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits and the last linear layer's input (penultimate features), float64, float32 run."""
    last = [m for m in model.modules() if isinstance(m, nn.Linear)][-1]
    features: list[torch.Tensor] = []
    hook = last.register_forward_hook(lambda m, i, o: features.append(i[0].detach().double()))
    logits = []
    model.eval()
    try:
        with torch.inference_mode():
            for start in range(0, len(images), 1000):
                batch = images[start : start + 1000].float().div(255).unsqueeze(1)
                logits.append(model(batch).double())
    finally:
        hook.remove()
    return torch.cat(logits), torch.cat(features)


def _scores(
    model: nn.Module, train: Split, sets: dict[str, torch.Tensor]
) -> dict[str, dict[str, torch.Tensor]]:
    """Each score on each named set of uint8 images."""
    train_logits, train_features = _forward(model, train.images)
    labels = train.labels
    means = torch.stack([train_features[labels == c].mean(0) for c in range(10)])  # (C, D)
    centred = train_features - means[labels]
    covariance = centred.T @ centred / len(centred)
    precision = torch.linalg.pinv(covariance)
    bank = F.normalize(train_features[torch.randperm(len(labels))[:20_000]], dim=1)
    out: dict[str, dict[str, torch.Tensor]] = {}
    for name, images in sets.items():
        if images is train.images:  # --split train: the training digits are held out
            logits, features = train_logits, train_features
        else:
            logits, features = _forward(model, images)
        # (x - m)^T P (x - m) for each class mean m: (N, C), without an (N, C, D) tensor
        projected = features @ precision  # (N, D)
        mahalanobis = (
            (projected * features).sum(1, keepdim=True)
            - 2 * projected @ means.T
            + ((means @ precision) * means).sum(1)[None]
        ).amin(1)
        unit = F.normalize(features, dim=1)
        # in chunks: 60,000 x 20,000 similarities at once would take 9.6 GB
        knn = torch.cat(
            [
                (unit[i : i + 2000] @ bank.T).topk(10, dim=1).values[:, -1]
                for i in range(0, len(unit), 2000)
            ]
        )
        out[name] = {
            "msp": ood_scores(logits, kind="msp"),
            "msp T=1000": ood_scores(logits, kind="msp", temperature=1000.0),
            "energy": ood_scores(logits, kind="energy"),
            "energy T=2": ood_scores(logits, kind="energy", temperature=2.0),
            "max logit": logits.amax(1),
            "feature norm": features.norm(dim=1),
            "-Mahalanobis": -mahalanobis,
            "kNN cosine (k=10)": knn,
        }
    del train_logits
    return out


def measure(
    model: nn.Module, train: Split, held_out: Split, test: Split, outside: Split
) -> dict[str, Any]:
    """Test accuracy and, per score, AUROC and the rates at the held-out 99% threshold."""
    started = time.perf_counter()
    sets = {"held_out": held_out.images, "test": test.images, "outside": outside.images}
    scores = _scores(model, train, sets)
    logits, _ = _forward(model, test.images)
    result: dict[str, Any] = {
        "test_accuracy": float((logits.argmax(1) == test.labels).double().mean()),
        "scores": {},
    }
    for kind in scores["test"]:
        threshold = threshold_for_recall(scores["held_out"][kind], keep=KEEP)
        report = ood_report(scores["test"][kind], scores["outside"][kind], threshold=threshold)
        result["scores"][kind] = report.to_dict()
    result["seconds"] = time.perf_counter() - started
    return result


def outlier_exposure(
    model: nn.Module, train: Split, *, epochs: int, weight: float, lr: float, seed: int
) -> nn.Module:
    """A copy of ``model`` fine-tuned with synthetic non-digits of uniform target."""
    tuned = copy.deepcopy(model)
    generator = torch.Generator().manual_seed(seed)
    pool = synthetic_non_digits(20_000, generator=generator)
    optimizer = torch.optim.AdamW(tuned.parameters(), lr=lr, weight_decay=1e-4)
    batch = 128
    steps = epochs * math.ceil(len(train) / batch)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, lr, total_steps=steps, pct_start=0.2)
    images = train.images.float().div(255).unsqueeze(1)
    for _ in range(epochs):
        tuned.train()
        order = torch.randperm(len(images), generator=generator)
        for start in range(0, len(order), batch):
            index = order[start : start + batch]
            extra = torch.randint(0, len(pool), (batch // 2,), generator=generator)
            x = torch.cat([images[index], pool[extra]])
            with torch.autocast("cpu", dtype=torch.bfloat16):
                logits = tuned(x).float()
            digits, others = logits[: len(index)], logits[len(index) :]
            # cross-entropy to the uniform distribution: logsumexp - mean of the logits
            uniform = (torch.logsumexp(others, 1) - others.mean(1)).mean()
            loss = F.cross_entropy(digits, train.labels[index]) + weight * uniform
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
    return tuned.eval()


def train_with_outlier_exposure(
    weights: list[float], runs: Path, *, recipe: str, val_fraction: float, seed: int
) -> dict[float, Path]:
    """``mnistkit train --outlier-exposure W`` for each weight; the model files."""
    models = {}
    for weight in weights:
        out = runs / f"{recipe}-oe{weight:g}"
        model = out / "model.safetensors"
        if not model.exists():
            command = [
                *(sys.executable, "-m", "mnistkit", "train", "--recipe", recipe),
                *("--outlier-exposure", str(weight), "--val-fraction", str(val_fraction)),
                *("--seed", str(seed), "--quiet", "--out", str(out)),
            ]
            print(" ".join(command[1:]), flush=True)
            subprocess.run(command, check=True)
        models[weight] = model
    return models


def choose_weight(
    models: dict[float, nn.Module], held_out: Split, *, seed: int
) -> tuple[float, dict[float, dict[str, float]]]:
    """The weight chosen on validation digits and unseen synthetic pictures only."""
    # a generator no training step used (those are seeded from seed, epoch, step, rank)
    others = synthetic_non_digits(5000, generator=torch.Generator().manual_seed(10**6 + seed))
    others_u8 = others.mul(255).round().to(torch.uint8).squeeze(1)
    table = {}
    for weight, model in models.items():
        logits, _ = _forward(model, held_out.images)
        outside, _ = _forward(model, others_u8)
        report = ood_report(ood_scores(logits, kind="energy"), ood_scores(outside, kind="energy"))
        table[weight] = {
            "val_accuracy": float((logits.argmax(1) == held_out.labels).double().mean()),
            "val_vs_synthetic_auroc": report.auroc,
        }
    best = max(row["val_accuracy"] for row in table.values())
    eligible = [w for w, row in table.items() if row["val_accuracy"] >= best - 0.001]
    return max(eligible, key=lambda w: table[w]["val_vs_synthetic_auroc"]), table


def _table(name: str, result: dict[str, Any]) -> str:
    rows = [
        [
            kind,
            f"{r['auroc']:.4f}",
            f"{r['fpr_at_95_tpr']:.2%}",
            f"{r['kept_in']:.2%}",
            f"{r['rejected_out']:.2%}",
        ]
        for kind, r in result["scores"].items()
    ]
    header = ["score", "AUROC", "FPR@95%TPR", "test digits kept", "Fashion rejected"]
    return f"{name}: test accuracy {result['test_accuracy']:.2%}\n" + format_table(header, rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="*", help="model files or pretrained:NAME")
    parser.add_argument("--split", choices=["val", "train"], default="val")
    parser.add_argument("--val-fraction", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--outlier-exposure", type=int, default=0, metavar="EPOCHS")
    parser.add_argument("--oe-weight", type=float, default=0.5)
    parser.add_argument("--oe-lr", type=float, default=1e-3)
    parser.add_argument("--train-oe", type=float, nargs="+", default=[], metavar="WEIGHT")
    parser.add_argument("--recipe", default="default")
    parser.add_argument("--runs", type=Path, default=Path("runs/oe"))
    parser.add_argument("--json", type=Path, default=RESULTS_DIR / "bench_ood.json")
    args = parser.parse_args(argv)
    if not args.models and not args.train_oe:
        parser.error("give model files, or --train-oe WEIGHT")
    if args.train_oe and args.split != "val":
        parser.error("--train-oe chooses on the validation split: use --split val")
    torch.manual_seed(0)
    mnist, fashion = datasets.load("mnist"), datasets.load("fashion-mnist")
    if args.split == "val":
        train, held_out = train_val_split(
            mnist.train, val_fraction=args.val_fraction, seed=args.seed
        )
    else:
        train, held_out = mnist.train, mnist.train
    results: dict[str, Any] = {}
    if args.train_oe:
        started = time.perf_counter()
        files = train_with_outlier_exposure(
            args.train_oe,
            args.runs,
            recipe=args.recipe,
            val_fraction=args.val_fraction,
            seed=args.seed,
        )
        trained = {w: load_model(path).model for w, path in files.items()}
        chosen, table = choose_weight(trained, held_out, seed=args.seed)
        name = f"mnistkit train --recipe {args.recipe} --outlier-exposure {chosen:g}"
        result = measure(trained[chosen], train, held_out, mnist.test, fashion.test)
        result["selection"] = {str(w): row for w, row in table.items()}
        result["train_and_choose_seconds"] = time.perf_counter() - started
        for weight, row in table.items():
            print(
                f"weight {weight:g}: validation accuracy {row['val_accuracy']:.2%}, energy "
                f"AUROC validation digits vs synthetic {row['val_vs_synthetic_auroc']:.4f}"
            )
        print(_table(f"{name} (chosen)", result), flush=True)
        results[name] = result
    for spec in args.models:
        loaded = pretrained.load(spec) if spec.startswith(pretrained.PREFIX) else load_model(spec)
        result = measure(loaded.model, train, held_out, mnist.test, fashion.test)
        print(_table(spec, result), flush=True)
        results[spec] = result
        if args.outlier_exposure:
            started = time.perf_counter()
            tuned = outlier_exposure(
                loaded.model,
                train,
                epochs=args.outlier_exposure,
                weight=args.oe_weight,
                lr=args.oe_lr,
                seed=args.seed,
            )
            seconds = time.perf_counter() - started
            tuned_result = measure(tuned, train, held_out, mnist.test, fashion.test)
            tuned_result["fine_tune_seconds"] = seconds
            name = f"{spec} + outlier exposure ({args.outlier_exposure} epoch(s))"
            print(f"(fine-tuned in {seconds:.0f} s)\n" + _table(name, tuned_result), flush=True)
            results[name] = tuned_result
    write_json(
        args.json,
        {
            "environment": environment(),
            "mnistkit": mnistkit.__version__,
            "arguments": {k: str(v) for k, v in vars(args).items()},
            "results": results,
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
