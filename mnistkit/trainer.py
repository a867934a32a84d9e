"""Training: a frozen :class:`TrainConfig`, the :class:`Trainer` loop and its :class:`History`.

The loop reads top to bottom::

    fit()
      for each epoch:
        _run_epoch(train, training=True)    # train_step() on every batch
        _run_epoch(val,   training=False)   # eval_step()  on every batch
        record losses, accuracies, lr, seconds -> History; callbacks

Data comes through :class:`mnistkit.loaders.DeviceLoader`, which keeps the whole split on the
device, so an epoch is a loop of tensor indexing and model calls.
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from mnistkit.callbacks import Callback, ProgressBar
from mnistkit.checkpoints import load_training_state, save_model, save_training_state
from mnistkit.datasets import Split
from mnistkit.devices import (
    PRECISIONS,
    PrecisionPlan,
    resolve_device,
    resolve_precision,
    seed_everything,
)
from mnistkit.exceptions import CheckpointError, ConfigError
from mnistkit.history import History
from mnistkit.inference import ImagesLike
from mnistkit.inference import predict_proba as _predict_proba
from mnistkit.loaders import Augment, DeviceLoader
from mnistkit.metrics import Report

__all__ = ["OPTIMIZERS", "SCHEDULES", "History", "TrainConfig", "Trainer"]

#: Optimisers :class:`TrainConfig` accepts, with the learning rate used when ``lr=None``.
OPTIMIZERS: dict[str, float] = {
    "sgd": 0.1,
    "momentum": 0.05,
    "adam": 1e-3,
    "adamw": 1e-3,
    "adadelta": 1.0,
}

#: Learning-rate schedules :class:`TrainConfig` accepts.
SCHEDULES: tuple[str, ...] = ("none", "step", "cosine", "onecycle")


def _fail(name: str, value: object, accepted: str) -> ConfigError:
    return ConfigError(f"TrainConfig: argument {name!r} must be {accepted} but got {value!r}.")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True, slots=True)
class TrainConfig:
    """Everything that decides how a model is trained; validated when constructed.

    Parameters
    ----------
    epochs : int, default=5
        Passes over the training data.
    batch_size : int, default=128
    optimizer : {"sgd", "momentum", "adam", "adamw", "adadelta"}, default="adamw"
        ``"momentum"`` is SGD with Nesterov momentum ``momentum``.
    lr : float, optional
        Learning rate (the peak rate for ``"onecycle"``). ``None`` takes the optimiser's
        default from :data:`OPTIMIZERS` (×3 under ``"onecycle"``, which warms up to it).
    momentum : float, default=0.9
        For ``"momentum"``.
    schedule : {"none", "step", "cosine", "onecycle"}, default="onecycle"
        ``"step"`` multiplies the rate by ``gamma`` every ``step_size`` epochs; ``"cosine"``
        anneals it to zero over all batches; ``"onecycle"`` warms up for the first 25% of
        batches, then anneals (Smith & Topin, 2017); with fewer than four batches in all, the
        rate stays constant.
    step_size : int, default=1
    gamma : float, default=0.7
    weight_decay : float, default=0.0
        Decoupled for ``"adamw"``, L2 for the others.
    label_smoothing : float, default=0.0
        In [0, 1): mixes the one-hot target with the uniform distribution.
    grad_clip : float, optional
        Clip the gradients' global L2 norm to this value.
    seed : int, default=0
        Seeds Python, NumPy and PyTorch at the start of :meth:`Trainer.fit`, and the
        shuffling generator.
    device : str, default="auto"
        See :func:`mnistkit.devices.resolve_device`.
    precision : {"32", "bf16-mixed", "16-mixed"}, default="32"
        See :func:`mnistkit.devices.resolve_precision`.
    eval_batch_size : int, default=1000
        Batch size for validation, :meth:`Trainer.evaluate` and prediction.
    progress : bool, optional
        Show a progress bar; ``None`` shows one when standard error is a terminal.
    log_every : int, default=50
        Pass the current loss to ``on_batch_end`` callbacks every this many batches (reading
        it waits for the device).
    compile : bool, default=False
        Run training and validation steps through :func:`torch.compile`. Worth it on GPUs
        for long runs; the first step pays a one-off compilation (about 20 s for a small
        model on a CPU, which also needs a C++ compiler). Prediction stays eager.
    """

    epochs: int = 5
    batch_size: int = 128
    optimizer: str = "adamw"
    lr: float | None = None
    momentum: float = 0.9
    schedule: str = "onecycle"
    step_size: int = 1
    gamma: float = 0.7
    weight_decay: float = 0.0
    label_smoothing: float = 0.0
    grad_clip: float | None = None
    seed: int = 0
    device: str = "auto"
    precision: str = "32"
    eval_batch_size: int = 1000
    progress: bool | None = None
    log_every: int = 50
    compile: bool = False

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "step_size", "eval_batch_size", "log_every"):
            value = getattr(self, name)
            if not _is_int(value) or value < 1:
                raise _fail(name, value, "a positive integer")
        if self.optimizer not in OPTIMIZERS:
            raise _fail("optimizer", self.optimizer, f"one of {', '.join(map(repr, OPTIMIZERS))}")
        if self.schedule not in SCHEDULES:
            raise _fail("schedule", self.schedule, f"one of {', '.join(map(repr, SCHEDULES))}")
        if self.precision not in PRECISIONS:
            raise _fail("precision", self.precision, f"one of {', '.join(map(repr, PRECISIONS))}")
        if self.lr is not None and (not _is_number(self.lr) or self.lr <= 0):
            raise _fail("lr", self.lr, "a positive number or None")
        if not _is_number(self.momentum) or not 0 <= self.momentum < 1:
            raise _fail("momentum", self.momentum, "a number in [0, 1)")
        if not _is_number(self.gamma) or not 0 < self.gamma <= 1:
            raise _fail("gamma", self.gamma, "a number in (0, 1]")
        if not _is_number(self.weight_decay) or self.weight_decay < 0:
            raise _fail("weight_decay", self.weight_decay, "a number >= 0")
        if not _is_number(self.label_smoothing) or not 0 <= self.label_smoothing < 1:
            raise _fail("label_smoothing", self.label_smoothing, "a number in [0, 1)")
        if self.grad_clip is not None and (not _is_number(self.grad_clip) or self.grad_clip <= 0):
            raise _fail("grad_clip", self.grad_clip, "a positive number or None")
        if not _is_int(self.seed) or not 0 <= self.seed < 2**32:
            raise _fail("seed", self.seed, "an integer in [0, 2**32)")
        if not isinstance(self.device, str):
            raise _fail("device", self.device, "a str such as 'auto', 'cpu', 'cuda:0' or 'mps'")
        if self.progress is not None and not isinstance(self.progress, bool):
            raise _fail("progress", self.progress, "True, False or None")
        if not isinstance(self.compile, bool):
            raise _fail("compile", self.compile, "True or False")

    @property
    def effective_lr(self) -> float:
        """The learning rate used: ``lr``, or the optimiser's default."""
        if self.lr is not None:
            return float(self.lr)
        base = OPTIMIZERS[self.optimizer]
        return base * 3 if self.schedule == "onecycle" and self.optimizer != "adadelta" else base

    def to_dict(self) -> dict[str, Any]:
        """Plain dictionary of the fields."""
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)


class Trainer:
    """Train, evaluate and use a classifier.

    Parameters
    ----------
    model : torch.nn.Module
        Maps normalised images (B, 1, 28, 28) to logits (B, C): a model from
        :func:`mnistkit.get_model` or your own module.
    config : TrainConfig, optional
        Defaults to ``TrainConfig()``.
    callbacks : sequence of Callback, optional
        Called at fixed points of :meth:`fit`; a :class:`~mnistkit.callbacks.ProgressBar` is
        added when ``config.progress`` asks for one.
    augment : callable, optional
        On-device augmentation of each training batch (see
        :data:`mnistkit.loaders.Augment`).

    Examples
    --------
    >>> from mnistkit import Trainer, TrainConfig, datasets, get_model
    >>> mnist = datasets.load("mnist")  # doctest: +SKIP
    >>> trainer = Trainer(get_model("cnn"), TrainConfig(epochs=3))  # doctest: +SKIP
    >>> history = trainer.fit(mnist.train, val=mnist.test)  # doctest: +SKIP
    >>> print(trainer.evaluate(mnist.test))  # doctest: +SKIP
    """

    def __init__(
        self,
        model: nn.Module,
        config: TrainConfig | None = None,
        *,
        callbacks: Sequence[Callback] = (),
        augment: Augment | None = None,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise ConfigError(
                f"Argument 'model' must be a torch.nn.Module but got {type(model).__name__}."
            )
        self.config = config if config is not None else TrainConfig()
        if not isinstance(self.config, TrainConfig):
            raise ConfigError(
                f"Argument 'config' must be a TrainConfig but got {type(config).__name__}."
            )
        self.device = resolve_device(self.config.device)
        self.precision: PrecisionPlan = resolve_precision(self.config.precision, self.device)
        self.model = model.to(self.device)
        # the module the steps call: compiled or not, it shares the model's parameters
        self.network: nn.Module = model
        if self.config.compile:
            self.network = torch.compile(self.model)  # type: ignore[assignment]
        self.augment = augment
        show = self.config.progress if self.config.progress is not None else sys.stderr.isatty()
        self.callbacks: list[Callback] = list(callbacks)
        if show and not any(isinstance(c, ProgressBar) for c in self.callbacks):
            self.callbacks.insert(0, ProgressBar())
        self.history = History()
        self.should_stop = False
        self.start_epoch = 0
        self.batches_per_epoch = 0
        self.classes: tuple[str, ...] = tuple(str(i) for i in range(10))
        self.mean = 0.1307
        self.std = 0.3081
        self.dataset: str | None = None
        self.optimizer: torch.optim.Optimizer | None = None
        self.scheduler: torch.optim.lr_scheduler.LRScheduler | None = None
        self.scaler: torch.amp.GradScaler | None = None
        self.generator = torch.Generator()

    def __repr__(self) -> str:
        return (
            f"Trainer(model={type(self.model).__name__}, device={str(self.device)!r}, "
            f"precision={self.precision.precision!r}, epochs_done={len(self.history)})"
        )

    # ------------------------------------------------------------------ setup
    def _build_optimizer(self) -> torch.optim.Optimizer:
        cfg, params = self.config, self.model.parameters()
        lr, wd = cfg.effective_lr, cfg.weight_decay
        if cfg.optimizer == "sgd":
            return torch.optim.SGD(params, lr=lr, weight_decay=wd)
        if cfg.optimizer == "momentum":
            return torch.optim.SGD(
                params, lr=lr, momentum=cfg.momentum, nesterov=cfg.momentum > 0, weight_decay=wd
            )
        if cfg.optimizer == "adam":
            return torch.optim.Adam(params, lr=lr, weight_decay=wd)
        if cfg.optimizer == "adamw":
            return torch.optim.AdamW(params, lr=lr, weight_decay=wd)
        return torch.optim.Adadelta(params, lr=lr, weight_decay=wd)

    def _build_scheduler(
        self, optimizer: torch.optim.Optimizer, steps_per_epoch: int
    ) -> torch.optim.lr_scheduler.LRScheduler | None:
        cfg = self.config
        total = cfg.epochs * steps_per_epoch
        if cfg.schedule == "step":
            return torch.optim.lr_scheduler.StepLR(optimizer, cfg.step_size, gamma=cfg.gamma)
        if cfg.schedule == "cosine":
            return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total)
        if cfg.schedule == "onecycle":
            if total < 4:  # too few steps for a warm-up and an annealing phase
                return None
            return torch.optim.lr_scheduler.OneCycleLR(
                optimizer,
                max_lr=cfg.effective_lr,
                total_steps=total,
                pct_start=max(0.25, 2.0 / total),
                # Adadelta and plain SGD have no momentum (or beta1) to cycle
                cycle_momentum=cfg.optimizer in ("momentum", "adam", "adamw"),
            )
        return None

    def _loader(self, data: Split | DeviceLoader, *, training: bool) -> DeviceLoader:
        if isinstance(data, DeviceLoader):
            return data
        if not isinstance(data, Split):
            raise ConfigError(
                f"Training and validation data must be a mnistkit Split or DeviceLoader but got "
                f"{type(data).__name__}; use mnistkit.datasets.load(...).train."
            )
        return DeviceLoader(
            data,
            batch_size=self.config.batch_size if training else self.config.eval_batch_size,
            device=self.device,
            shuffle=training,
            generator=self.generator,
            mean=self.mean,
            std=self.std,
            augment=self.augment if training else None,
        )

    # ------------------------------------------------------------------ steps
    def train_step(
        self, images: torch.Tensor, labels: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One optimisation step on a batch; returns (summed loss, number correct) as tensors."""
        if self.optimizer is None:
            raise ConfigError("train_step() is called by fit(); call fit() to train.")
        with self.precision.autocast():
            logits = self.network(images)  # (B, C)
            loss = F.cross_entropy(
                logits.float(), labels, label_smoothing=self.config.label_smoothing
            )
        self.optimizer.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()  # type: ignore[no-untyped-call]
            if self.config.grad_clip is not None:
                self.scaler.unscale_(self.optimizer)
                nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            loss.backward()  # type: ignore[no-untyped-call]
            if self.config.grad_clip is not None:
                nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
            self.optimizer.step()
        if self.scheduler is not None and self.config.schedule in ("cosine", "onecycle"):
            self.scheduler.step()
        n = labels.shape[0]
        correct = (logits.detach().argmax(1) == labels).sum()
        return loss.detach() * n, correct

    def eval_step(
        self, images: torch.Tensor, labels: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Loss (summed, without label smoothing) and number correct on a batch."""
        with self.precision.autocast():
            logits = self.network(images)
        loss = F.cross_entropy(logits.float(), labels, reduction="sum")
        return loss, (logits.argmax(1) == labels).sum()

    def _run_epoch(self, loader: DeviceLoader, *, training: bool) -> tuple[float, float]:
        """One pass over ``loader``; returns (mean loss, accuracy)."""
        self.model.train(training)
        total_loss = torch.zeros((), device=self.device)
        total_correct = torch.zeros((), dtype=torch.int64, device=self.device)
        seen = 0
        context = torch.enable_grad() if training else torch.inference_mode()
        with context:
            for batch, (images, labels) in enumerate(loader):
                if training:
                    loss_sum, correct = self.train_step(images, labels)
                else:
                    loss_sum, correct = self.eval_step(images, labels)
                total_loss += loss_sum
                total_correct += correct
                seen += labels.shape[0]
                if training:
                    every = self.config.log_every
                    shown = float(loss_sum) / labels.shape[0] if batch % every == 0 else None
                    for callback in self.callbacks:
                        callback.on_batch_end(self, batch, shown)
        if seen == 0:
            return math.nan, math.nan
        return float(total_loss) / seen, int(total_correct) / seen

    # ------------------------------------------------------------------ fit
    def fit(
        self,
        train: Split | DeviceLoader,
        val: Split | DeviceLoader | None = None,
        *,
        resume_from: str | os.PathLike[str] | None = None,
    ) -> History:
        """Train for ``config.epochs`` epochs.

        Parameters
        ----------
        train : Split or DeviceLoader
            Training data. A :class:`~mnistkit.datasets.Split` is wrapped in a shuffling
            :class:`~mnistkit.loaders.DeviceLoader` on the trainer's device, shuffled by the
            trainer's seeded generator. A ``DeviceLoader`` you pass keeps its own generator,
            so ``config.seed`` and ``resume_from`` do not cover its order.
        val : Split or DeviceLoader, optional
            Evaluated after every epoch (``val_loss``, ``val_accuracy``).
        resume_from : path-like, optional
            A training state written by :meth:`save_state` (or the
            :class:`~mnistkit.callbacks.TrainingStateCheckpoint` callback): training continues
            after the last saved epoch with the same optimiser, schedule and random state, and
            on the CPU ends with the same weights as an uninterrupted run.

        Returns
        -------
        History
        """
        cfg = self.config
        self.generator = seed_everything(cfg.seed)
        if isinstance(train, DeviceLoader):
            source, self.mean, self.std = train.split, train.mean, train.std
        else:
            source, self.mean, self.std = train, train.mean, train.std
        self.classes = source.classes
        self.dataset = source.name.split("/")[0] or None
        train_loader = self._loader(train, training=True)
        val_loader = self._loader(val, training=False) if val is not None else None
        self.batches_per_epoch = len(train_loader)
        if self.batches_per_epoch == 0:
            raise ConfigError("The training data is empty (0 batches); nothing to fit.")
        self.optimizer = self._build_optimizer()
        self.scheduler = self._build_scheduler(self.optimizer, self.batches_per_epoch)
        self.scaler = (
            torch.amp.GradScaler(self.device.type) if self.precision.use_grad_scaler else None
        )
        self.history = History()
        self.start_epoch = 0
        self.should_stop = False
        if resume_from is not None:
            self._restore(load_training_state(resume_from), Path(resume_from))
        for callback in self.callbacks:
            callback.on_fit_start(self)
        for epoch in range(self.start_epoch + 1, cfg.epochs + 1):
            for callback in self.callbacks:
                callback.on_epoch_start(self, epoch)
            started = time.perf_counter()
            lr = float(self.optimizer.param_groups[0]["lr"])
            train_loss, train_acc = self._run_epoch(train_loader, training=True)
            if self.scheduler is not None and cfg.schedule == "step":
                self.scheduler.step()
            record: dict[str, float] = {
                "epoch": epoch,
                "train_loss": train_loss,
                "train_accuracy": train_acc,
            }
            if val_loader is not None:
                record["val_loss"], record["val_accuracy"] = self._run_epoch(
                    val_loader, training=False
                )
            record["lr"] = lr
            record["seconds"] = time.perf_counter() - started
            self.history.records.append(record)
            for callback in self.callbacks:
                callback.on_epoch_end(self, epoch, record)
            if self.should_stop:
                break
        for callback in self.callbacks:
            callback.on_fit_end(self, self.history)
        return self.history

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume: weights, optimiser, scheduler, RNGs, history."""
        if self.optimizer is None:
            raise ConfigError("There is no training state before fit() has started.")
        state: dict[str, Any] = {
            "format": "mnistkit-training-state",
            "epoch": len(self.history),
            "config": self.config.to_dict(),
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "rng_torch": torch.get_rng_state(),
            "rng_generator": self.generator.get_state(),
            "history": self.history.to_dict(),
        }
        if self.device.type == "cuda":
            state["rng_cuda"] = torch.cuda.get_rng_state(self.device)
        return state

    def save_state(self, path: str | os.PathLike[str]) -> Path:
        """Write :meth:`state_dict` atomically to ``path`` (read back with ``weights_only``)."""
        return save_training_state(self.state_dict(), path)

    def _restore(self, state: dict[str, Any], path: Path) -> None:
        saved = dict(state.get("config") or {})
        current = self.config.to_dict()
        # These may differ on resume (e.g. more epochs, another device); all else must match.
        free = {"epochs", "device", "progress", "log_every", "eval_batch_size", "compile"}
        different = sorted(k for k in current if k not in free and saved.get(k) != current[k])
        if different:
            raise CheckpointError(
                f"{path}: the training state was saved with a different configuration "
                f"({', '.join(f'{k}: {saved.get(k)!r} != {current[k]!r}' for k in different)})."
            )
        if saved.get("epochs") != current["epochs"] and self.config.schedule in (
            "cosine",
            "onecycle",
        ):
            raise CheckpointError(
                f"{path}: cannot change 'epochs' ({saved.get('epochs')} -> {current['epochs']}) "
                f"when resuming a {self.config.schedule!r} schedule, whose length depends on it."
            )
        if self.optimizer is None:
            raise ConfigError("internal: optimizer must exist before restoring")
        try:
            self.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
            if self.scheduler is not None and state.get("scheduler") is not None:
                self.scheduler.load_state_dict(state["scheduler"])
            if self.scaler is not None and state.get("scaler") is not None:
                self.scaler.load_state_dict(state["scaler"])
            torch.set_rng_state(state["rng_torch"])
            self.generator.set_state(state["rng_generator"])
            if "rng_cuda" in state and self.device.type == "cuda":
                torch.cuda.set_rng_state(state["rng_cuda"], self.device)
        except (KeyError, RuntimeError, ValueError) as exc:
            raise CheckpointError(
                f"{path}: the training state does not fit this model: {exc}"
            ) from None
        self.history = History.from_dict(state.get("history") or {})
        self.start_epoch = int(state["epoch"])

    # ------------------------------------------------------------------ use
    def evaluate(self, data: Split, *, top_k: Sequence[int] = (1, 3, 5)) -> Report:
        """Evaluate on a split: a :class:`~mnistkit.metrics.Report` from one confusion matrix.

        Returns
        -------
        Report
            Accuracy, per-class precision/recall/F1, NLL, top-k accuracy and calibration error.
        """
        if not isinstance(data, Split):
            raise ConfigError(
                f"Argument 'data' must be a mnistkit Split but got {type(data).__name__}."
            )
        probs = self.predict_proba(data.images)
        return Report.from_probabilities(
            probs, data.labels, classes=data.classes, top_k=tuple(top_k)
        )

    def predict_proba(self, images: ImagesLike) -> torch.Tensor:
        """Class probabilities (N, C) on the CPU for ``uint8`` or [0, 1] float images."""
        with self.precision.autocast():
            return _predict_proba(
                self.model,
                images,
                mean=self.mean,
                std=self.std,
                device=self.device,
                batch_size=self.config.eval_batch_size,
            )

    def predict(self, images: ImagesLike) -> torch.Tensor:
        """Predicted class indices (N,) on the CPU."""
        return self.predict_proba(images).argmax(dim=1)

    def save_model(
        self, path: str | os.PathLike[str], *, metrics: dict[str, Any] | None = None
    ) -> Path:
        """Save the model with this trainer's data set, classes and normalisation."""
        return save_model(
            self.model,
            path,
            dataset=self.dataset,
            classes=self.classes,
            mean=self.mean,
            std=self.std,
            metrics=metrics,
        )
