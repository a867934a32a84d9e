"""Remake the trained models that ship in ``mnistkit/pretrained/``.

For each bundled model: train it with its recipe on all of the data set's training images
(``mnistkit train --recipe R --val-fraction 0 --seed 0``, skipped when ``--runs`` already
holds a finished run), score it on the 10,000 test images in float32 (so every CPU gives
the same answer, whatever precision trained it), and write the model file with that score,
the recipe, seed and command in its metadata, plus ``manifest.json`` with each file's
SHA-256. Prints a table and writes JSON like the other benchmarks.

Each file also gets a "not a digit" threshold (``metadata.rejection``): the energy score
that keeps 99% of the data set's *training* images. The bundled models trained on all of
them, so no image they did not see is left to choose on without touching the test set; a
model is surer of images it trained on, so on new images such a threshold keeps somewhat
fewer than 99% (measured on the test images and printed; ``benchmarks/RESULTS.md``).
``--thresholds-only`` adds or renews the thresholds of the files as they are, without
training or rewriting the weights.

    export MNISTKIT_DATA_DIR=/path/to/data
    python benchmarks/make_pretrained.py --runs /tmp/pretrained-runs            # all four
    python benchmarks/make_pretrained.py --runs /tmp/pretrained-runs --only fast default
    python benchmarks/make_pretrained.py --thresholds-only                     # weights kept

Training ``best`` takes about 20 minutes and ``fashion`` about an hour on one core of a
2-core CPU (``OMP_NUM_THREADS=1``); ``fast`` and ``default`` take seconds.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

from _common import RESULTS_DIR, environment, format_table, write_json

import mnistkit
from mnistkit import datasets, pretrained
from mnistkit.checkpoints import load_model, save_model, set_rejection_threshold
from mnistkit.inference import choose_rejection_threshold, predict_logits, predict_proba
from mnistkit.metrics import RejectionThreshold

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "mnistkit" / "pretrained"

#: name -> (recipe, data set, seed): the models the package ships.
MODELS: dict[str, tuple[str, str, int]] = {
    "fast": ("fast", "mnist", 0),
    "default": ("default", "mnist", 0),
    "best": ("best", "mnist", 0),
    "fashion": ("fashion", "fashion-mnist", 0),
}


def _command(recipe: str, dataset: str, seed: int, out: Path) -> list[str]:
    return [
        "mnistkit", "train", "--recipe", recipe, "--dataset", dataset,
        "--val-fraction", "0", "--seed", str(seed), "--quiet", "--out", str(out),
    ]  # fmt: skip


def _commit() -> str:
    result = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stdout.strip() or "unknown"


def _train(recipe: str, dataset: str, seed: int, out: Path) -> None:
    if (out / "metrics.json").is_file() and (out / "model.safetensors").is_file():
        return
    argv = _command(recipe, dataset, seed, out)
    subprocess.run([sys.executable, "-m", "mnistkit", *argv[1:]], check=True)


#: The share of training images the bundled models' thresholds keep.
KEEP = 0.99


def threshold(model: Any, dataset: str) -> tuple[RejectionThreshold, float]:
    """The bundled model's rejection threshold, on all training images (float32), and the
    share of the test images it keeps."""
    data = datasets.load(dataset)
    rule = choose_rejection_threshold(
        model,
        data.train.images,
        keep=KEEP,
        chosen_on=f"{dataset} training split ({len(data.train):,} images, all seen in "
        "training: no held-out images are left for a model trained on all of them)",
        device="cpu",
    )
    logits = predict_logits(model, data.test.images, device="cpu", precision="32")
    return rule, 1.0 - float(rule.rejects(logits).double().mean())


def add_threshold(entry: dict[str, Any]) -> dict[str, Any]:
    """Store a threshold in a bundled file as it is (weights untouched); its new entry."""
    path = PACKAGE / entry["file"]
    loaded = load_model(path)
    rule, kept = threshold(loaded.model, entry["dataset"])
    set_rejection_threshold(path, rule)
    print(f"{entry['name']}: {rule}; keeps {kept:.2%} of the test images", flush=True)
    return {**entry, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}


def make(name: str, runs: Path, trained_with: str) -> dict[str, Any]:
    """Train (if needed), score in float32 and write one bundled model; its manifest entry."""
    recipe, dataset, seed = MODELS[name]
    run = runs / name
    _train(recipe, dataset, seed, run)
    loaded = load_model(run / "model.safetensors")
    test = datasets.load(dataset).test
    probs = predict_proba(loaded.model, test.images, device="cpu", precision="32")
    errors = int((probs.argmax(1) != test.labels).sum())
    accuracy = round(1.0 - errors / len(test), 6)
    trained = json.loads((run / "metrics.json").read_text(encoding="utf-8"))
    command = shlex.join(_command(recipe, dataset, seed, Path(f"runs/{name}")))
    file = f"{name}.safetensors"
    rule, kept = threshold(loaded.model, dataset)
    print(f"{name}: {rule}; keeps {kept:.2%} of the test images", flush=True)
    save_model(
        loaded.model,
        PACKAGE / file,
        dataset=dataset,
        classes=loaded.metadata.classes,
        metrics={
            "recipe": recipe,
            "seed": seed,
            "test_accuracy": accuracy,
            "test_errors": errors,
            "evaluated_in": "float32",
            "train_seconds": trained.get("train_seconds"),
            "command": command,
            "trained_with": trained_with,
        },
        rejection=rule,
    )
    digest = hashlib.sha256((PACKAGE / file).read_bytes()).hexdigest()
    return {
        "name": name,
        "file": file,
        "sha256": digest,
        "recipe": recipe,
        "dataset": dataset,
        "seed": seed,
        "test_accuracy": accuracy,
        "test_errors": errors,
        "command": command,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=Path, help="folder for the training runs")
    parser.add_argument(
        "--thresholds-only",
        action="store_true",
        help="only add the rejection thresholds to the files as they are (no training)",
    )
    parser.add_argument("--only", nargs="+", choices=sorted(MODELS), help="remake only these")
    parser.add_argument(
        "--trained-with",
        default=f"mnistkit {mnistkit.__version__} at commit {_commit()}",
        help="which mnistkit trained the runs (recorded in each file; default: this checkout)",
    )
    args = parser.parse_args(argv)
    manifest_path = PACKAGE / "manifest.json"
    entries: dict[str, dict[str, Any]] = {}
    if manifest_path.is_file():
        entries = {e["name"]: e for e in json.loads(manifest_path.read_text())["models"]}
    if not args.thresholds_only and args.runs is None:
        parser.error("--runs is required unless --thresholds-only")
    for name in args.only or sorted(MODELS):
        if args.thresholds_only:
            entries[name] = add_threshold(entries[name])
        else:
            entries[name] = make(name, args.runs, args.trained_with)
    manifest = {
        "about": "Trained models bundled with mnistkit; remade by benchmarks/make_pretrained.py. "
        "test_accuracy is measured in float32 on the data set's 10,000 test images.",
        "models": [entries[name] for name in sorted(entries)],
    }
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    pretrained._manifest.cache_clear()
    rows = [
        [
            e["name"],
            e["recipe"],
            e["dataset"],
            f"{100 * e['test_accuracy']:.2f}%",
            str(e["test_errors"]),
            f"{(PACKAGE / e['file']).stat().st_size / 1e6:.2f} MB",
        ]
        for e in manifest["models"]
    ]
    header = ["model", "recipe", "data set", "test accuracy (fp32)", "errors", "size"]
    print(format_table(header, rows))
    write_json(
        RESULTS_DIR / "make_pretrained.json",
        {
            "environment": environment(),
            "mnistkit": mnistkit.__version__,
            "threads": os.environ.get("OMP_NUM_THREADS"),
            "models": manifest["models"],
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
