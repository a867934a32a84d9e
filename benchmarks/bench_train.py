"""Time to accuracy: mnistkit's Trainer against the official PyTorch MNIST example's recipe.

Each method trains epoch by epoch from a fixed seed; after every epoch the model is evaluated on
the 10,000 test images. The clock covers training only (evaluation is timed apart), and the run
stops once the test accuracy reaches ``--target`` or after ``--max-epochs`` epochs.

Methods (``--methods`` picks some):

* ``mnistkit``: ``Trainer(get_model("cnn"), TrainConfig(epochs=--max-epochs, ...))`` with every
  other field at its default (AdamW, one-cycle schedule, batch 128). The one-cycle schedule
  spans ``--max-epochs`` epochs, so the time to target depends on that setting.
* ``reference``: the recipe of pytorch/examples ``mnist/main.py``, written here from its
  description: two 3×3 convolutions without padding (32 and 64 channels), 2×2 max-pooling,
  dropout 0.25, a 9216→128 layer, dropout 0.5, 128→10 and log-softmax; Adadelta (lr 1.0),
  StepLR (step 1, gamma 0.7), batch 64, test batch 1000, ``torchvision.datasets.MNIST`` with
  ``ToTensor`` + ``Normalize`` through a ``DataLoader`` (no workers on the CPU; one worker and
  pinned memory on CUDA, as the example does).
* ``mnistkit-refnet``: the reference's network and recipe (Adadelta, step schedule, batch 64)
  trained by mnistkit's Trainer on its DeviceLoader. Against ``reference`` this isolates what
  the data path and loop change; against ``mnistkit`` it shows what the model and recipe
  change (mnistkit's CNN pads and pools after each convolution, so its second convolution
  runs on 14×14 maps instead of 24×24 and costs far less).

A full run is heavy on a small CPU (the reference network takes minutes per epoch on two
cores); ``--train-subset N`` trains on N images drawn with the seed, for a quick check.

Usage::

    MNISTKIT_DATA_DIR=/path/to/data python benchmarks/bench_train.py            # full
    python benchmarks/bench_train.py --train-subset 5000 --max-epochs 1 --target 0.9  # smoke
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
import torchvision
from _common import (
    RESULTS_DIR,
    environment,
    format_table,
    prepare_torchvision_root,
    resolve_data_root,
    synchronize,
    write_json,
)
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset
from torchvision import transforms

import mnistkit
from mnistkit import Callback, RunView, Split, TrainConfig, Trainer, predict
from mnistkit.datasets import DatasetSplits

METHODS: tuple[str, ...] = ("mnistkit", "mnistkit-refnet", "reference")


class ReferenceNet(nn.Module):
    """The network of the official PyTorch MNIST example (1,199,882 parameters)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, kernel_size=3)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.conv1(x))  # (B, 32, 26, 26)
        x = F.relu(self.conv2(x))  # (B, 64, 24, 24)
        x = F.max_pool2d(x, 2)  # (B, 64, 12, 12)
        x = torch.flatten(self.dropout1(x), 1)  # (B, 9216)
        x = self.dropout2(F.relu(self.fc1(x)))  # (B, 128)
        return F.log_softmax(self.fc2(x), dim=1)  # (B, 10) log-probabilities


@dataclass
class Run:
    """What one method did, epoch by epoch."""

    method: str
    description: str
    construction_s: float = 0.0
    epochs: list[dict[str, float]] = field(default_factory=list)

    def add(self, epoch: int, train_s: float, eval_s: float, accuracy: float) -> None:
        self.epochs.append(
            {"epoch": epoch, "train_seconds": train_s, "eval_seconds": eval_s, "accuracy": accuracy}
        )
        print(
            f"  {self.method}: epoch {epoch}  train {train_s:.1f} s  eval {eval_s:.1f} s  "
            f"test accuracy {accuracy:.4f}",
            flush=True,
        )

    def seconds_to(self, target: float) -> float | None:
        """Cumulative training seconds until the first epoch at or above ``target``."""
        total = 0.0
        for record in self.epochs:
            total += record["train_seconds"]
            if record["accuracy"] >= target:
                return total
        return None

    def epochs_to(self, target: float) -> int | None:
        for record in self.epochs:
            if record["accuracy"] >= target:
                return int(record["epoch"])
        return None

    @property
    def seconds_per_epoch(self) -> float:
        return sum(r["train_seconds"] for r in self.epochs) / max(len(self.epochs), 1)

    @property
    def final_accuracy(self) -> float:
        return self.epochs[-1]["accuracy"] if self.epochs else float("nan")


class _TimeToTarget(Callback):
    """Times each training epoch, evaluates on the test split, stops at the target."""

    def __init__(self, run: Run, test: Split, target: float, device: torch.device) -> None:
        self.run = run
        self.test = test
        self.target = target
        self.device = device
        self._started = 0.0

    def on_epoch_start(self, run: RunView, epoch: int) -> None:
        synchronize(self.device)
        self._started = time.perf_counter()

    def on_epoch_end(self, run: RunView, epoch: int, record: dict[str, float]) -> None:
        # fit() runs without validation data, so nothing but training lies in this span
        synchronize(self.device)
        train_s = time.perf_counter() - self._started
        started = time.perf_counter()
        predicted = predict(run.model, self.test.images, device=run.device)
        accuracy = float((predicted == self.test.labels.cpu()).double().mean())
        self.run.add(epoch, train_s, time.perf_counter() - started, accuracy)
        if accuracy >= self.target:
            run.request_stop()


def run_mnistkit(
    name: str,
    train: Split,
    test: Split,
    args: argparse.Namespace,
    device: torch.device,
    construction_s: float,
) -> Run:
    common = {"epochs": args.max_epochs, "device": str(device), "progress": False}
    if name == "mnistkit":
        config = TrainConfig(seed=args.seed, **common)
        mnistkit.seed_everything(args.seed)
        model = mnistkit.get_model("cnn")
        description = "Trainer + get_model('cnn'), default TrainConfig"
    else:
        config = TrainConfig(
            batch_size=64,
            optimizer="adadelta",
            lr=1.0,
            schedule="step",
            step_size=1,
            gamma=0.7,
            seed=args.seed,
            **common,
        )
        mnistkit.seed_everything(args.seed)
        # log-softmax outputs are valid logits: cross-entropy on them equals the NLL loss
        model = ReferenceNet()
        description = "Trainer + reference network and recipe (Adadelta, StepLR, batch 64)"
    run = Run(name, description, construction_s)
    trainer = Trainer(model, config, callbacks=[_TimeToTarget(run, test, args.target, device)])
    trainer.fit(train)
    return run


def _accuracy(model: nn.Module, loader: DataLoader[Any], device: torch.device) -> float:
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for images, labels in loader:
            images, labels = images.to(device), labels.to(device)
            correct += int((model(images).argmax(dim=1) == labels).sum())
            total += int(labels.shape[0])
    return correct / total


def run_reference(
    train: Dataset[Any],
    test: Dataset[Any],
    args: argparse.Namespace,
    device: torch.device,
    construction_s: float,
) -> Run:
    run = Run("reference", "official PyTorch MNIST example recipe (torchvision + DataLoader)")
    extra: dict[str, Any] = {"num_workers": 1, "pin_memory": True} if device.type == "cuda" else {}
    started = time.perf_counter()
    torch.manual_seed(args.seed)
    train_loader = DataLoader(train, batch_size=64, shuffle=True, **extra)
    test_loader = DataLoader(test, batch_size=1000, shuffle=False, **extra)
    model = ReferenceNet().to(device)
    optimizer = torch.optim.Adadelta(model.parameters(), lr=1.0)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.7)
    run.construction_s = construction_s + time.perf_counter() - started
    for epoch in range(1, args.max_epochs + 1):
        synchronize(device)
        started = time.perf_counter()
        model.train()
        for images, labels in train_loader:
            images, labels = images.to(device), labels.to(device)
            optimizer.zero_grad()
            loss = F.nll_loss(model(images), labels)
            loss.backward()  # type: ignore[no-untyped-call]
            optimizer.step()
        scheduler.step()
        synchronize(device)
        train_s = time.perf_counter() - started
        started = time.perf_counter()
        accuracy = _accuracy(model, test_loader, device)
        run.add(epoch, train_s, time.perf_counter() - started, accuracy)
        if accuracy >= args.target:
            break
    return run


def _subset_indices(n: int, size: int | None, seed: int) -> torch.Tensor | None:
    if size is None or size >= n:
        return None
    generator = torch.Generator()
    generator.manual_seed(seed)
    return torch.randperm(n, generator=generator)[:size].sort().values


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--target", type=float, default=0.99, help="test accuracy to reach")
    parser.add_argument("--max-epochs", type=int, default=3)
    parser.add_argument(
        "--train-subset",
        type=int,
        default=None,
        help="train on this many images drawn with the seed; None trains on all 60,000",
    )
    parser.add_argument(
        "--methods", nargs="+", choices=METHODS, default=list(METHODS), metavar="METHOD"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch intra-op threads; None keeps torch's choice",
    )
    parser.add_argument(
        "--data-dir", default=None, help="folder holding mnist/; None reads $MNISTKIT_DATA_DIR"
    )
    parser.add_argument("--json", type=Path, default=RESULTS_DIR / "bench_train.json")
    args = parser.parse_args(argv)
    if not 0.0 < args.target <= 1.0:
        parser.error("--target must be in (0, 1]")
    if args.max_epochs < 1:
        parser.error("--max-epochs must be a positive integer")
    if args.train_subset is not None and args.train_subset < 1:
        parser.error("--train-subset must be a positive integer")
    if args.threads is not None and args.threads < 1:
        parser.error("--threads must be a positive integer")
    return args


def _ratio(reference: float | None, value: float | None) -> str:
    if reference is None or value is None or value <= 0:
        return "n/a"
    return f"{reference / value:.1f}×"


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device = mnistkit.resolve_device(args.device)
    env_before = environment(device)
    data_root = resolve_data_root(args.data_dir)
    print(
        f"target {args.target}, at most {args.max_epochs} epoch(s), seed {args.seed}, "
        f"device {device}, torch threads {torch.get_num_threads()}, load average "
        f"{env_before['load_average']}",
        flush=True,
    )

    runs: list[Run] = []
    started = time.perf_counter()
    mnist: DatasetSplits = mnistkit.datasets.load("mnist", root=data_root, download=False)
    load_s = time.perf_counter() - started
    indices = _subset_indices(len(mnist.train), args.train_subset, args.seed)
    train = mnist.train if indices is None else mnist.train.subset(indices)
    n_train = len(train)
    for name in ("mnistkit", "mnistkit-refnet"):
        if name in args.methods:
            runs.append(run_mnistkit(name, train, mnist.test, args, device, load_s))

    if "reference" in args.methods:
        with tempfile.TemporaryDirectory(prefix="mnistkit-bench-") as tmp:
            started = time.perf_counter()
            root = str(prepare_torchvision_root(data_root, Path(tmp)))
            transform = transforms.Compose(
                [transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))]
            )
            tv_train: Dataset[Any] = torchvision.datasets.MNIST(
                root, train=True, transform=transform, download=False
            )
            tv_test = torchvision.datasets.MNIST(
                root, train=False, transform=transform, download=False
            )
            if indices is not None:
                tv_train = Subset(tv_train, indices.tolist())
            runs.append(
                run_reference(tv_train, tv_test, args, device, time.perf_counter() - started)
            )

    # ---- report
    reference = next((r for r in runs if r.method == "reference"), None)
    ref_to_target = reference.seconds_to(args.target) if reference else None
    ref_per_epoch = reference.seconds_per_epoch if reference else None
    headers = [
        "method",
        "epochs",
        "train s/epoch",
        "s to target",
        "final acc",
        "speed-up to target",
        "speed-up per epoch",
    ]
    rows: list[list[str]] = []
    results: list[dict[str, Any]] = []
    for run in runs:
        to_target = run.seconds_to(args.target)
        rows.append(
            [
                run.method,
                str(len(run.epochs)),
                f"{run.seconds_per_epoch:.1f}",
                f"{to_target:.1f}" if to_target is not None else "not reached",
                f"{run.final_accuracy:.4f}",
                _ratio(ref_to_target, to_target),
                _ratio(ref_per_epoch, run.seconds_per_epoch),
            ]
        )
        results.append(
            {
                "method": run.method,
                "description": run.description,
                "construction_seconds": run.construction_s,
                "epochs_run": len(run.epochs),
                "epochs_to_target": run.epochs_to(args.target),
                "seconds_to_target": to_target,
                "seconds_per_epoch": run.seconds_per_epoch,
                "final_accuracy": run.final_accuracy,
                "speedup_to_target_vs_reference": (
                    ref_to_target / to_target if ref_to_target and to_target else None
                ),
                "speedup_per_epoch_vs_reference": (
                    ref_per_epoch / run.seconds_per_epoch
                    if ref_per_epoch and run.seconds_per_epoch
                    else None
                ),
                "epochs": run.epochs,
            }
        )
    env_after = environment(device)
    print()
    print(
        f"MNIST, {n_train:,} training images, test on {len(mnist.test):,}; target accuracy "
        f"{args.target}; training time only (evaluation excluded); speed-up = reference ÷ method"
    )
    print(format_table(headers, rows))
    print(
        f"load average before {env_before['load_average']}, after {env_after['load_average']} "
        f"({env_before['cpus_usable']} usable CPUs)"
    )
    payload = {
        "benchmark": "bench_train",
        "command": " ".join(
            ["python", "benchmarks/bench_train.py", *(sys.argv[1:] if argv is None else argv)]
        ),
        "settings": {
            "target": args.target,
            "max_epochs": args.max_epochs,
            "train_subset": args.train_subset,
            "train_images": n_train,
            "methods": args.methods,
            "seed": args.seed,
            "device": str(device),
            "threads": torch.get_num_threads(),
        },
        "results": results,
        "environment_before": env_before,
        "environment_after": env_after,
    }
    path = write_json(args.json, payload)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
