"""Which augmentation makes hand-drawn digits work? The draw-a-digit page's model, compared.

The documentation's draw-a-digit page runs a model trained by the docs build. People do not
draw like the census employees and students who wrote MNIST: their strokes are thicker or
thinner, slanted, rotated, squeezed. This benchmark trains the page's recipe with each
candidate augmentation (same seed, same epochs) and reads two things with each model:

* the 10,000 MNIST test digits (test accuracy);
* ``--drawings`` drawings made from the stored stroke paths of ``tests/data/strokes.json``
  (one per digit, the paths the browser test draws with the mouse), each varied at random:
  rotation ±20°, shear ±20°, width 0.7-1.2 and height 0.8-1.2 times, stroke width 8-34
  pixels on the 280-pixel pad, and point jitter up to 3 pixels; rendered with Pillow and
  preprocessed by :func:`mnistkit.imaging.preprocess_image`, as the page does in JavaScript.

Usage::

    python benchmarks/demo_augmentation.py                 # 2 epochs, 300 drawings, seed 0
    python benchmarks/demo_augmentation.py --seeds 0 1 2 --threads 1

Prints a table and writes ``benchmarks/results/demo_augmentation.json``. The drawings come
from ten stroke paths only, so they measure robustness to how a digit is *rendered* (slant,
thickness, proportions), not to the variety of people's handwriting.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS_DIR, environment, format_table, resolve_data_root, write_json

import mnistkit
from mnistkit.augment import RandomAffine
from mnistkit.imaging import preprocess_image

STROKES = Path(__file__).resolve().parents[1] / "tests" / "data" / "strokes.json"
PAD = 280

#: The candidates: none, the mild affine warp, and a stronger one with shear.
CANDIDATES: dict[str, Any] = {
    "none": None,
    "affine": RandomAffine(degrees=10.0, translate=0.1, scale=(0.9, 1.1)),
    "affine+shear": RandomAffine(degrees=15.0, translate=0.1, scale=(0.85, 1.15), shear=15.0),
}


def _render(strokes: list[list[list[float]]], rng: np.random.Generator) -> torch.Tensor:
    angle, shear = math.radians(rng.uniform(-20, 20)), math.radians(rng.uniform(-20, 20))
    sx, sy = rng.uniform(0.7, 1.2), rng.uniform(0.8, 1.2)
    width, jitter = rng.uniform(8, 34), rng.uniform(0, 3)
    image = Image.new("L", (PAD, PAD), 0)
    draw = ImageDraw.Draw(image)
    for stroke in strokes:
        points = []
        for x, y in stroke:
            x, y = (x - 0.5) * sx, (y - 0.5) * sy
            x += math.tan(shear) * y
            cos, sin = math.cos(angle), math.sin(angle)
            x, y = x * cos - y * sin, x * sin + y * cos
            points.append(
                ((0.5 + x) * PAD + rng.normal(0, jitter), (0.5 + y) * PAD + rng.normal(0, jitter))
            )
        draw.line(points, fill=255, width=round(width), joint="curve")
        r = width / 2
        for x, y in (points[0], points[-1]):  # round stroke ends, as the page's canvas draws
            draw.ellipse([x - r, y - r, x + r, y + r], fill=255)
    return preprocess_image(np.asarray(image))


def drawings(count: int, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """``count`` varied drawings (uint8, (N, 28, 28)) and their labels."""
    paths = json.loads(STROKES.read_text())
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for i in range(count):
        digit = str(i % 10)
        images.append(_render(paths[digit], rng))
        labels.append(int(digit))
    return torch.stack(images), torch.tensor(labels)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipe", default="fast")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--drawings", type=int, default=300)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--candidates", nargs="+", default=list(CANDIDATES))
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    data = mnistkit.datasets.load("mnist", root=resolve_data_root(args.data_dir))
    images, labels = drawings(args.drawings)
    runs: list[dict[str, Any]] = []
    for name in args.candidates:
        for seed in args.seeds:
            recipe = mnistkit.get_recipe(args.recipe).replace(
                epochs=args.epochs, seed=seed, progress=False
            )
            mnistkit.seed_everything(seed)
            model = recipe.build_model("mnist")
            trainer = mnistkit.Trainer(model, recipe.config, augment=CANDIDATES[name])
            start = time.perf_counter()
            trainer.fit(data.train)
            seconds = time.perf_counter() - start
            read = trainer.predict_proba(images).argmax(1)
            runs.append(
                {
                    "augment": name,
                    "augment_settings": repr(CANDIDATES[name]),
                    "seed": seed,
                    "test_accuracy": trainer.evaluate(data.test).accuracy,
                    "drawn_accuracy": float((read == labels).float().mean()),
                    "drawn_wrong": int((read != labels).sum()),
                    "train_seconds": round(seconds, 1),
                }
            )
            print(json.dumps(runs[-1]), flush=True)
    rows = []
    for name in args.candidates:
        mine = [r for r in runs if r["augment"] == name]
        rows.append(
            [
                name,
                f"{statistics.mean(r['test_accuracy'] for r in mine):.2%}",
                f"{statistics.mean(r['drawn_accuracy'] for r in mine):.2%}",
                str(sum(r["drawn_wrong"] for r in mine)),
                f"{statistics.mean(r['train_seconds'] for r in mine):.1f}",
            ]
        )
    print()
    print(
        f"{args.recipe} recipe, {args.epochs} epochs, seeds {args.seeds}, "
        f"{args.drawings} varied drawings"
    )
    print(format_table(["augment", "test", "drawings", "drawings wrong", "train s"], rows))
    path = write_json(
        RESULTS_DIR / "demo_augmentation.json",
        {
            "command": "python benchmarks/demo_augmentation.py " + " ".join(argv or sys.argv[1:]),
            "environment": environment(),
            "runs": runs,
        },
    )
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
