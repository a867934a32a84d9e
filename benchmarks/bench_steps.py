"""Time one training step of a model: batch norm × memory format × precision × threads.

The batch norm axis of the CNN has three values: off, on before the max-pool (0.1's
placement) and on after it (``pool_before_norm=True``, the ``default`` recipe's).

Answers "what makes a training step fast on this machine" with one table: for each
combination, the mean (and min) time of ``--steps`` optimisation steps (AdamW, cross-entropy,
backward) on a real MNIST batch, after ``--warmup`` untimed steps. Every combination runs in
the same process, interleaved over ``--repeats`` rounds so that a change in machine load hits
them all alike; the table shows the median over rounds and each row's speed relative to the
first row (the classic CNN as `mnistkit train` used it in 0.1: no batch norm, contiguous
memory, float32, all threads).

Usage::

    python benchmarks/bench_steps.py                         # the default CNN, batch 128
    python benchmarks/bench_steps.py --model cnn --config '{"channels": [16, 32]}'
    python benchmarks/bench_steps.py --batch-size 512 --threads 1 2
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    RESULTS_DIR,
    environment,
    format_table,
    resolve_data_root,
    write_json,
)

import mnistkit
from mnistkit.devices import resolve_precision


def _time_steps(
    model: torch.nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    precision: str,
    steps: int,
    warmup: int,
) -> list[float]:
    plan = resolve_precision(precision, torch.device("cpu"))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model.train()
    times = []
    for i in range(warmup + steps):
        started = time.perf_counter()
        with plan.autocast():
            loss = F.cross_entropy(model(images).float(), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        optimizer.step()
        if i >= warmup:
            times.append(time.perf_counter() - started)
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="cnn", choices=mnistkit.list_models())
    parser.add_argument("--config", default="{}", help="model keyword arguments as JSON")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, nargs="+", default=[torch.get_num_threads()])
    parser.add_argument("--precisions", nargs="+", default=["32", "bf16-mixed"])
    parser.add_argument("--no-batch-norm-axis", action="store_true", help="skip batch norm rows")
    parser.add_argument(
        "--batch-norms",
        nargs="+",
        default=["off", "before-pool", "after-pool"],
        choices=["off", "before-pool", "after-pool"],
        help="the CNN's batch norm settings to time",
    )
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--json", type=Path, default=RESULTS_DIR / "bench_steps.json")
    args = parser.parse_args(argv)

    root = resolve_data_root(args.data_dir)
    mnist = mnistkit.datasets.load("mnist", root=root, download=False)
    images = mnist.train.images[: args.batch_size].unsqueeze(1).float() / 255
    labels = mnist.train.labels[: args.batch_size]
    base_config: dict[str, Any] = json.loads(args.config)
    batch_norms = ["off"] if args.no_batch_norm_axis else args.batch_norms
    combos = list(
        itertools.product(
            batch_norms, ["contiguous", "channels_last"], args.precisions, args.threads
        )
    )
    samples: dict[tuple[Any, ...], list[float]] = {combo: [] for combo in combos}
    env_before = environment()
    for _ in range(args.repeats):
        for combo in combos:
            batch_norm, memory, precision, threads = combo
            torch.set_num_threads(threads)
            torch.manual_seed(0)
            config = dict(base_config)
            if args.model == "cnn":
                config["batch_norm"] = batch_norm != "off"
                config["pool_before_norm"] = batch_norm == "after-pool"
            elif batch_norm != "off":
                continue
            model = mnistkit.get_model(args.model, **config)
            batch = images
            if memory == "channels_last":
                model = model.to(memory_format=torch.channels_last)
                batch = images.contiguous(memory_format=torch.channels_last)
            times = _time_steps(
                model, batch, labels, precision=precision, steps=args.steps, warmup=args.warmup
            )
            samples[combo].append(statistics.mean(times))
    rows, results = [], []
    reference = statistics.median(samples[combos[0]]) if samples[combos[0]] else float("nan")
    for combo in combos:
        if not samples[combo]:
            continue
        batch_norm, memory, precision, threads = combo
        ms = statistics.median(samples[combo]) * 1000
        rows.append(
            [
                f"bn={batch_norm} {memory} {precision} threads={threads}",
                f"{ms:.1f}",
                f"{min(samples[combo]) * 1000:.1f}",
                f"{args.batch_size / (ms / 1000):,.0f}",
                f"{reference * 1000 / ms:.2f}x",
            ]
        )
        results.append(
            {
                "batch_norm": batch_norm,
                "memory_format": memory,
                "precision": precision,
                "threads": threads,
                "ms_per_step_median": ms,
                "ms_per_step_each_repeat": [s * 1000 for s in samples[combo]],
            }
        )
    print(
        f"{args.model} {base_config or ''} batch {args.batch_size}: mean of {args.steps} steps "
        f"after {args.warmup} warm-up, median of {args.repeats} rounds"
    )
    print(format_table(["setting", "ms/step", "min", "images/s", "speed"], rows))
    path = write_json(
        args.json,
        {
            "script": "bench_steps.py",
            "argv": sys.argv[1:] if argv is None else argv,
            "model": args.model,
            "config": base_config,
            "batch_size": args.batch_size,
            "results": results,
            "environment_before": env_before,
            "environment_after": environment(),
        },
    )
    print(f"JSON: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
