"""mnistkit against the official PyTorch MNIST example, in one run on one machine.

Methods (``--methods`` picks some; each runs in a fresh Python process, one after the
other, so that its peak memory is its own and nothing it leaves behind slows the next):

* ``reference``: the recipe of pytorch/examples ``mnist/main.py``, written here from its
  description: two 3×3 convolutions without padding (32 and 64 channels), 2×2 max-pooling,
  dropout 0.25, a 9216→128 layer, dropout 0.5, 128→10 and log-softmax; Adadelta (lr 1.0),
  StepLR (step 1, gamma 0.7), batch 64, test batch 1000, ``torchvision.datasets.MNIST`` with
  ``ToTensor`` + ``Normalize`` through a ``DataLoader`` (no workers on the CPU; one worker and
  pinned memory on CUDA, as the example does). Its 14 epochs are capped by ``--max-epochs``
  (or ``--quick``): it stops at the first epoch at or above ``--target``.
* ``mnistkit-0.1``: what ``mnistkit train`` ran in version 0.1: ``get_model("cnn")`` (no batch
  norm), ``TrainConfig()`` (AdamW, one-cycle, batch 128, 5 epochs), float32, contiguous
  memory.
* ``default`` and ``fast`` (and any other recipe, by name): ``mnistkit.get_recipe(NAME)``
  trained by the Trainer as ``mnistkit train --recipe NAME`` does, for the recipe's epochs.
* ``lightning`` and ``skorch``: the reference's network and recipe (Adadelta, StepLR, batch
  64, the same torchvision data and ``DataLoader``) trained by PyTorch Lightning's
  ``Trainer`` (a ``LightningModule``, no logger, checkpoints or progress bar) and by skorch's
  ``NeuralNetClassifier`` (``LRScheduler`` callback, no validation split), each through its
  own loop, with its version recorded; capped and stopped at ``--target`` as the reference.
  Not among the default methods (``--methods ... lightning skorch``); they need the
  ``lightning`` and ``skorch`` packages.
* ``fast-command``: the whole command ``python -m mnistkit train --recipe fast --quiet
  --val-fraction 0`` (all 60,000 training images, as the ``fast`` row),
  timed from start to exit (interpreter start, data loading, training, evaluation, files and
  figures included).

For each training method the test accuracy is measured after every epoch, outside the
timed span; the table shows the training seconds until the first epoch at or above
``--target``, the epochs that took, the final accuracy, training images per second,
inference images per second (the test set through ``predict_proba``, after a warm-up) and
the peak resident memory of the method's process. Ratios are the reference's time to target
divided by the method's.

Usage::

    MNISTKIT_DATA_DIR=/path/to/data python benchmarks/compare_reference.py
    python benchmarks/compare_reference.py --quick                 # reference: at most 5 epochs
    python benchmarks/compare_reference.py --methods fast reference --device cuda
    python benchmarks/compare_reference.py --quick --methods reference lightning skorch fast
    python benchmarks/compare_reference.py --smoke --methods lightning skorch   # seconds: a check
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
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
from mnistkit import Callback, RunView, Split, TrainConfig, Trainer

DEFAULT_METHODS: tuple[str, ...] = ("reference", "mnistkit-0.1", "default", "fast", "fast-command")
#: Other libraries' loops training the reference's network and recipe.
PEERS: tuple[str, ...] = ("lightning", "skorch")
#: ``--smoke``: the training and test images each method sees (a check that it runs).
SMOKE_IMAGES = 512


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
class Result:
    """What one method did."""

    method: str
    description: str
    epochs: list[dict[str, float]] = field(default_factory=list)
    train_images: int = 0
    inference_images_per_s: float | None = None
    wall_seconds: float | None = None
    peak_rss_mb: float | None = None
    settings: dict[str, Any] = field(default_factory=dict)

    def add(self, epoch: int, train_s: float, accuracy: float) -> None:
        self.epochs.append({"epoch": epoch, "train_seconds": train_s, "accuracy": accuracy})
        print(
            f"  {self.method}: epoch {epoch}  train {train_s:.1f} s  test accuracy {accuracy:.4f}",
            file=sys.stderr,
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
        return next((int(r["epoch"]) for r in self.epochs if r["accuracy"] >= target), None)

    @property
    def train_images_per_s(self) -> float | None:
        seconds = sum(r["train_seconds"] for r in self.epochs)
        return self.train_images * len(self.epochs) / seconds if seconds else None

    @property
    def final_accuracy(self) -> float | None:
        return self.epochs[-1]["accuracy"] if self.epochs else None


class _EpochClock(Callback):
    """Times each training epoch and measures the test accuracy outside the timed span."""

    def __init__(self, result: Result, trainer_box: list[Trainer], test: Split) -> None:
        self.result, self.box, self.test = result, trainer_box, test
        self._started = 0.0

    def on_epoch_start(self, run: RunView, epoch: int) -> None:
        synchronize(run.device)
        self._started = time.perf_counter()

    def on_epoch_end(self, run: RunView, epoch: int, record: dict[str, float]) -> None:
        synchronize(run.device)  # fit() has no validation data: only training is in the span
        train_s = time.perf_counter() - self._started
        predicted = self.box[0].predict(self.test.images)
        accuracy = float((predicted == self.test.labels).double().mean())
        self.result.add(epoch, train_s, accuracy)


def _inference_rate(trainer: Trainer, test: Split) -> float:
    trainer.predict_proba(test.images[:1000])  # warm-up
    synchronize(trainer.device)
    started = time.perf_counter()
    trainer.predict_proba(test.images)
    synchronize(trainer.device)
    return len(test) / (time.perf_counter() - started)


def run_mnistkit(method: str, args: argparse.Namespace, device: torch.device) -> Result:
    mnist = mnistkit.datasets.load("mnist", root=resolve_data_root(args.data_dir), download=False)
    if method == "mnistkit-0.1":
        model_name, model_config = "cnn", {}
        config = TrainConfig()
        description = "mnistkit train in 0.1: classic CNN, float32, contiguous, 5 epochs"
    else:
        recipe = mnistkit.get_recipe(method)
        model_name, model_config, config = recipe.model, dict(recipe.model_config), recipe.config
        description = f"recipe {method!r}: {recipe.summary}"
    config = config.replace(device=str(device), progress=False, seed=args.seed)
    result = Result(method, description, train_images=len(mnist.train))
    result.settings = {"model": model_name, "model_config": model_config, **config.to_dict()}
    mnistkit.seed_everything(args.seed)
    model = mnistkit.get_model(model_name, **model_config)
    box: list[Trainer] = []
    trainer = Trainer(model, config, callbacks=[_EpochClock(result, box, mnist.test)])
    box.append(trainer)
    trainer.fit(mnist.train)
    result.inference_images_per_s = _inference_rate(trainer, mnist.test)
    return result


def _reference_epochs(args: argparse.Namespace) -> int:
    return 1 if args.smoke else min(5, args.max_epochs) if args.quick else args.max_epochs


class _ReferenceData:
    """The reference's data: ``torchvision.datasets.MNIST`` with ``ToTensor`` + ``Normalize``,
    laid out offline in a temporary folder (``--smoke``: the first images only)."""

    def __init__(self, args: argparse.Namespace, device: torch.device) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="mnistkit-bench-")
        root = str(prepare_torchvision_root(resolve_data_root(args.data_dir), Path(self._tmp.name)))
        transform = transforms.Compose(
            [transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))]
        )
        self.train: Dataset[Any] = torchvision.datasets.MNIST(
            root, train=True, transform=transform, download=False
        )
        self.test: Dataset[Any] = torchvision.datasets.MNIST(
            root, train=False, transform=transform, download=False
        )
        if args.smoke:
            self.train = Subset(self.train, range(SMOKE_IMAGES))
            self.test = Subset(self.test, range(SMOKE_IMAGES))
        #: the example's DataLoader settings: one worker and pinned memory on CUDA only
        self.loader_options: dict[str, Any] = (
            {"num_workers": 1, "pin_memory": True} if device.type == "cuda" else {}
        )

    def test_loader(self) -> DataLoader[Any]:
        return DataLoader(self.test, batch_size=1000, shuffle=False, **self.loader_options)

    def close(self) -> None:
        self._tmp.cleanup()


def run_reference(args: argparse.Namespace, device: torch.device) -> Result:
    result = Result("reference", "official PyTorch MNIST example recipe (torchvision + DataLoader)")
    max_epochs = _reference_epochs(args)
    result.settings = {"max_epochs": max_epochs, "batch_size": 64, "optimizer": "adadelta"}
    data = _ReferenceData(args, device)
    try:
        result.train_images = len(data.train)  # type: ignore[arg-type]
        torch.manual_seed(args.seed)
        train_loader = DataLoader(data.train, batch_size=64, shuffle=True, **data.loader_options)
        test_loader = data.test_loader()
        model = ReferenceNet().to(device)
        optimizer = torch.optim.Adadelta(model.parameters(), lr=1.0)
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.7)
        for epoch in range(1, max_epochs + 1):
            synchronize(device)
            started = time.perf_counter()
            model.train()
            for images, labels in train_loader:
                images, labels = images.to(device), labels.to(device)
                optimizer.zero_grad()
                F.nll_loss(model(images), labels).backward()  # type: ignore[no-untyped-call]
                optimizer.step()
            scheduler.step()
            synchronize(device)
            train_s = time.perf_counter() - started
            accuracy, rate = _reference_accuracy(model, test_loader, device)
            result.inference_images_per_s = rate
            result.add(epoch, train_s, accuracy)
            if accuracy >= args.target:
                break
    finally:
        data.close()
    return result


def run_lightning(args: argparse.Namespace, device: torch.device) -> Result:
    """The reference's network and recipe in PyTorch Lightning's own loop."""
    import lightning as L

    class ReferenceModule(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = ReferenceNet()

        def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            images, labels = batch
            return F.nll_loss(self.net(images), labels)

        def configure_optimizers(self) -> Any:
            optimizer = torch.optim.Adadelta(self.parameters(), lr=1.0)
            scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.7)
            return [optimizer], [scheduler]

    class EpochClock(L.Callback):
        """Times each epoch; the test accuracy is measured outside the timed span."""

        def __init__(self, result: Result, test_loader: DataLoader[Any]) -> None:
            self.result, self.test_loader, self.started = result, test_loader, 0.0

        def on_train_epoch_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
            synchronize(device)
            self.started = time.perf_counter()

        def on_train_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
            synchronize(device)
            train_s = time.perf_counter() - self.started
            assert isinstance(module, ReferenceModule)
            accuracy, rate = _reference_accuracy(module.net, self.test_loader, device)
            module.net.train()
            self.result.inference_images_per_s = rate
            self.result.add(trainer.current_epoch + 1, train_s, accuracy)
            if accuracy >= args.target:
                trainer.should_stop = True

    max_epochs = _reference_epochs(args)
    result = Result("lightning", f"the reference's network and recipe in Lightning {L.__version__}")
    result.settings = {
        "max_epochs": max_epochs,
        "batch_size": 64,
        "optimizer": "adadelta",
        "lightning": L.__version__,
    }
    data = _ReferenceData(args, device)
    try:
        result.train_images = len(data.train)  # type: ignore[arg-type]
        L.seed_everything(args.seed, verbose=False)
        train_loader = DataLoader(data.train, batch_size=64, shuffle=True, **data.loader_options)
        trainer = L.Trainer(
            accelerator="gpu" if device.type == "cuda" else device.type,
            devices=1,
            max_epochs=max_epochs,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            callbacks=[EpochClock(result, data.test_loader())],
        )
        trainer.fit(ReferenceModule(), train_dataloaders=train_loader)
    finally:
        data.close()
    return result


def run_skorch(args: argparse.Namespace, device: torch.device) -> Result:
    """The reference's network and recipe in skorch's own loop."""
    import skorch  # type: ignore[import-untyped]
    from skorch.callbacks import Callback as SkorchCallback  # type: ignore[import-untyped]
    from skorch.callbacks import LRScheduler

    class EpochClock(SkorchCallback):  # type: ignore[misc]
        """Times each epoch; the test accuracy is measured outside the timed span."""

        def __init__(self, result: Result, test_loader: DataLoader[Any]) -> None:
            self.result, self.test_loader, self.started = result, test_loader, 0.0

        def on_epoch_begin(self, net: Any, **kwargs: Any) -> None:
            synchronize(device)
            self.started = time.perf_counter()

        def on_epoch_end(self, net: Any, **kwargs: Any) -> None:
            synchronize(device)
            train_s = time.perf_counter() - self.started
            accuracy, rate = _reference_accuracy(net.module_, self.test_loader, device)
            self.result.inference_images_per_s = rate
            self.result.add(len(net.history), train_s, accuracy)
            if accuracy >= args.target:
                raise KeyboardInterrupt  # how skorch's own EarlyStopping ends training

    max_epochs = _reference_epochs(args)
    result = Result("skorch", f"the reference's network and recipe in skorch {skorch.__version__}")
    result.settings = {
        "max_epochs": max_epochs,
        "batch_size": 64,
        "optimizer": "adadelta",
        "skorch": skorch.__version__,
    }
    data = _ReferenceData(args, device)
    try:
        result.train_images = len(data.train)  # type: ignore[arg-type]
        torch.manual_seed(args.seed)
        net = skorch.NeuralNetClassifier(
            ReferenceNet,
            # the network ends in log_softmax; cross-entropy of log-probabilities is their NLL
            # (log_softmax leaves them unchanged), while skorch's NLLLoss path would take the
            # log of the output once more, since it expects probabilities
            criterion=nn.CrossEntropyLoss,
            optimizer=torch.optim.Adadelta,
            lr=1.0,
            batch_size=64,
            max_epochs=max_epochs,
            train_split=None,
            iterator_train__shuffle=True,
            iterator_train__num_workers=data.loader_options.get("num_workers", 0),
            iterator_train__pin_memory=data.loader_options.get("pin_memory", False),
            device=str(device),
            verbose=0,
            callbacks=[
                ("lr", LRScheduler(policy=torch.optim.lr_scheduler.StepLR, step_size=1, gamma=0.7)),
                ("clock", EpochClock(result, data.test_loader())),
            ],
        )
        net.fit(data.train, y=None)
    finally:
        data.close()
    return result


def _reference_accuracy(
    model: nn.Module, loader: DataLoader[Any], device: torch.device
) -> tuple[float, float]:
    """Test accuracy and images per second of the example's own test loop."""
    model.eval()
    correct = total = 0
    started = time.perf_counter()
    with torch.no_grad():
        for images, labels in loader:
            images, labels = images.to(device), labels.to(device)
            correct += int((model(images).argmax(dim=1) == labels).sum())
            total += int(labels.shape[0])
    synchronize(device)
    return correct / total, total / (time.perf_counter() - started)


def run_command(args: argparse.Namespace, device: torch.device) -> Result:
    """``mnistkit train --recipe fast --val-fraction 0``, timed from start to exit (all
    60,000 training images, as the ``fast`` row trains; the command's default holds 10% out
    to validate on and to choose its rejection threshold)."""
    result = Result(
        "fast-command", "python -m mnistkit train --recipe fast --val-fraction 0, start to exit"
    )
    with tempfile.TemporaryDirectory(prefix="mnistkit-bench-") as tmp:
        command = [sys.executable, "-m", "mnistkit", "train", "--recipe", "fast", "--quiet"]
        command += ["--val-fraction", "0"]
        command += ["--device", str(device), "--out", tmp + "/run", "--seed", str(args.seed)]
        if args.data_dir:
            command += ["--data-dir", args.data_dir]
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        result.wall_seconds = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr}")
        metrics = json.loads(Path(tmp, "run", "metrics.json").read_text())
    result.settings = {"command": " ".join(command[1:])}
    result.epochs = [
        {
            "epoch": metrics["epochs"],
            "train_seconds": metrics["train_seconds"],
            "accuracy": metrics["test_accuracy"],
        }
    ]
    result.train_images = 60_000
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    result.peak_rss_mb = peak / 1024
    return result


def _child(method: str, args: argparse.Namespace) -> None:
    """Run one method in this (fresh) process and print its result as JSON."""
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device = mnistkit.resolve_device(args.device)
    if method == "reference":
        result = run_reference(args, device)
    elif method == "lightning":
        result = run_lightning(args, device)
    elif method == "skorch":
        result = run_skorch(args, device)
    elif method == "fast-command":
        result = run_command(args, device)
    else:
        result = run_mnistkit(method, args, device)
    if result.peak_rss_mb is None:
        result.peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(asdict(result)))


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--target", type=float, default=0.99, help="test accuracy to reach")
    parser.add_argument("--max-epochs", type=int, default=14, help="the reference's epochs")
    parser.add_argument(
        "--quick", action="store_true", help="the reference and its peers: at most 5 epochs"
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help=f"a check that the methods run: the reference and its peers train one epoch on "
        f"{SMOKE_IMAGES} images and are tested on {SMOKE_IMAGES} (numbers meaningless)",
    )
    parser.add_argument("--methods", nargs="+", default=list(DEFAULT_METHODS), metavar="METHOD")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    parser.add_argument("--data-dir", default=None, help="folder holding mnist/")
    parser.add_argument("--json", type=Path, default=RESULTS_DIR / "compare_reference.json")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    known = {"reference", "mnistkit-0.1", "fast-command", *PEERS, *mnistkit.list_recipes()}
    unknown = sorted(set(args.methods) - known)
    if unknown:
        parser.error(f"unknown method(s) {unknown}; choose from {sorted(known)}")
    return args


def _fmt(value: float | None, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        _child(args.child, args)
        return 0
    device = mnistkit.resolve_device(args.device)
    env_before = environment(device)
    print(f"device {device}, load average {env_before['load_average']}", flush=True)
    results: list[Result] = []
    own = [a for a in (argv if argv is not None else sys.argv[1:]) if a != "--child"]
    for method in args.methods:
        print(f"{method} ...", flush=True)
        done = subprocess.run(
            [sys.executable, __file__, *own, "--child", method],
            stdout=subprocess.PIPE,
            text=True,
            check=False,
            env=dict(os.environ),
        )
        if done.returncode != 0:
            raise SystemExit(f"method {method!r} failed (exit {done.returncode})")
        results.append(Result(**json.loads(done.stdout.strip().splitlines()[-1])))
    reference = next((r for r in results if r.method == "reference"), None)
    ref_to_target = reference.seconds_to(args.target) if reference else None
    rows, records = [], []
    for r in results:
        to_target = r.seconds_to(args.target)
        wall = r.wall_seconds
        spent = wall or to_target
        ratio = ref_to_target / spent if ref_to_target and spent else None
        rows.append(
            [
                r.method,
                _fmt(to_target, ".1f") if wall is None else f"({wall:.1f} wall)",
                str(r.epochs_to(args.target) or "—"),
                _fmt(r.final_accuracy, ".4f"),
                _fmt(r.train_images_per_s, ",.0f") if wall is None else "—",
                _fmt(r.inference_images_per_s, ",.0f"),
                _fmt(r.peak_rss_mb, ",.0f"),
                "—" if ratio is None else f"1/{ratio:.1f}",
            ]
        )
        records.append(
            {
                **asdict(r),
                "seconds_to_target": to_target,
                "epochs_to_target": r.epochs_to(args.target),
                "time_ratio_to_reference": None if ratio is None else 1 / ratio,
                "train_images_per_s": r.train_images_per_s,
            }
        )
    env_after = environment(device)
    print()
    print(
        f"MNIST on {device}; target test accuracy {args.target}; training seconds until the "
        "first epoch at or above it (evaluation excluded); ratio = method's time / reference's"
    )
    print(
        format_table(
            [
                "method",
                "s to target",
                "epochs",
                "final acc",
                "train img/s",
                "infer img/s",
                "peak MB",
                "time ratio",
            ],
            rows,
        )
    )
    print(f"load average before {env_before['load_average']}, after {env_after['load_average']}")
    payload = {
        "benchmark": "compare_reference",
        "command": " ".join(["python", "benchmarks/compare_reference.py", *own]),
        "settings": {
            "target": args.target,
            "seed": args.seed,
            "device": str(device),
            "quick": args.quick,
            "smoke": args.smoke,
            "max_epochs": args.max_epochs,
            "threads": torch.get_num_threads(),
        },
        "results": records,
        "environment_before": env_before,
        "environment_after": env_after,
    }
    print(f"wrote {write_json(args.json, payload)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
