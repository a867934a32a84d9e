"""Callbacks: small objects the :class:`~mnistkit.Trainer` calls at fixed points of training.

Subclass :class:`Callback` and override only the hooks you need; every hook is a no-op by
default. The built-in ones:

* :class:`ProgressBar` — a tqdm bar per epoch (on by default when stderr is a terminal);
* :class:`EarlyStopping` — stop when a monitored metric stops improving;
* :class:`ModelCheckpoint` — keep the best model's weights in a safetensors file;
* :class:`MetricsLogger` — append each epoch's record to a JSON-lines or CSV file;
* :class:`TrainingStateCheckpoint` — save everything needed to resume, every epoch.
"""

from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm.auto import tqdm

from mnistkit.exceptions import ConfigError

if TYPE_CHECKING:
    from mnistkit.trainer import History, Trainer

__all__ = [
    "Callback",
    "EarlyStopping",
    "MetricsLogger",
    "ModelCheckpoint",
    "ProgressBar",
    "TrainingStateCheckpoint",
]


class Callback:
    """Base class of callbacks; every hook does nothing unless overridden.

    The trainer calls, in order: :meth:`on_fit_start`; then for each epoch
    :meth:`on_epoch_start`, :meth:`on_batch_end` after every training batch, and
    :meth:`on_epoch_end` once the epoch's record (losses, accuracies, lr, seconds) is complete;
    finally :meth:`on_fit_end`. Set ``trainer.should_stop = True`` to end training after the
    current epoch.
    """

    def on_fit_start(self, trainer: Trainer) -> None:
        """Called once before the first epoch."""

    def on_epoch_start(self, trainer: Trainer, epoch: int) -> None:
        """Called before epoch ``epoch`` (counted from 1)."""

    def on_batch_end(self, trainer: Trainer, batch: int, loss: float | None) -> None:
        """Called after each training batch. ``loss`` is set every ``log_every`` batches."""

    def on_epoch_end(self, trainer: Trainer, epoch: int, record: dict[str, float]) -> None:
        """Called after validation, with the epoch's record."""

    def on_fit_end(self, trainer: Trainer, history: History) -> None:
        """Called once after the last epoch, also after an early stop."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class ProgressBar(Callback):
    """A tqdm progress bar over each epoch's batches, with the running loss.

    Parameters
    ----------
    leave : bool, default=True
        Keep each epoch's finished bar on screen.
    """

    def __init__(self, *, leave: bool = True) -> None:
        self.leave = leave
        self._bar: Any = None

    def on_epoch_start(self, trainer: Trainer, epoch: int) -> None:
        total = trainer.config.epochs
        self._bar = tqdm(
            total=trainer.batches_per_epoch,
            desc=f"epoch {epoch}/{total}",
            unit="batch",
            leave=self.leave,
            dynamic_ncols=True,
        )

    def on_batch_end(self, trainer: Trainer, batch: int, loss: float | None) -> None:
        if self._bar is not None:
            self._bar.update(1)
            if loss is not None:
                self._bar.set_postfix(loss=f"{loss:.4f}", refresh=False)

    def on_epoch_end(self, trainer: Trainer, epoch: int, record: dict[str, float]) -> None:
        if self._bar is None:
            return
        shown = {k: f"{v:.4f}" for k, v in record.items() if k.endswith(("loss", "accuracy"))}
        self._bar.set_postfix(shown, refresh=True)
        self._bar.close()
        self._bar = None

    def on_fit_end(self, trainer: Trainer, history: History) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def _check_mode(mode: str) -> str:
    if mode not in ("min", "max"):
        raise ConfigError(f"Argument 'mode' must be 'min' or 'max' but got {mode!r}.")
    return mode


def _improved(value: float, best: float, mode: str, min_delta: float) -> bool:
    if math.isnan(value):
        return False
    return value < best - min_delta if mode == "min" else value > best + min_delta


def _monitored(record: dict[str, float], monitor: str, who: str) -> float:
    try:
        return record[monitor]
    except KeyError:
        raise ConfigError(
            f"{who}: monitor={monitor!r} is not in the epoch record; available: "
            f"{', '.join(sorted(record))}. Pass validation data to fit() to monitor 'val_*'."
        ) from None


class EarlyStopping(Callback):
    """Stop training when ``monitor`` has not improved for ``patience`` epochs.

    Parameters
    ----------
    monitor : str, default="val_loss"
        A key of the epoch record, e.g. ``"val_loss"`` or ``"val_accuracy"``.
    patience : int, default=3
        Epochs without improvement before stopping.
    mode : {"min", "max"}, default="min"
    min_delta : float, default=0.0
        Smallest change that counts as an improvement.
    """

    def __init__(
        self,
        *,
        monitor: str = "val_loss",
        patience: int = 3,
        mode: str = "min",
        min_delta: float = 0.0,
    ) -> None:
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 1:
            raise ConfigError(
                f"Argument 'patience' must be a positive integer but got {patience!r}."
            )
        self.monitor = monitor
        self.patience = patience
        self.mode = _check_mode(mode)
        self.min_delta = float(min_delta)
        self.best = math.inf if mode == "min" else -math.inf
        self.best_epoch = 0
        self.wait = 0
        self.stopped_epoch: int | None = None

    def on_fit_start(self, trainer: Trainer) -> None:
        self.best = math.inf if self.mode == "min" else -math.inf
        self.wait = 0
        self.stopped_epoch = None

    def on_epoch_end(self, trainer: Trainer, epoch: int, record: dict[str, float]) -> None:
        value = _monitored(record, self.monitor, "EarlyStopping")
        if _improved(value, self.best, self.mode, self.min_delta):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            trainer.should_stop = True

    def __repr__(self) -> str:
        return (
            f"EarlyStopping(monitor={self.monitor!r}, patience={self.patience}, mode={self.mode!r})"
        )


class ModelCheckpoint(Callback):
    """Save the model (safetensors + metadata) whenever ``monitor`` improves.

    Parameters
    ----------
    path : path-like
        Where the best model is written (see :func:`mnistkit.save_model`).
    monitor : str, default="val_accuracy"
    mode : {"min", "max"}, default="max"
    """

    def __init__(
        self, path: str | os.PathLike[str], *, monitor: str = "val_accuracy", mode: str = "max"
    ) -> None:
        self.path = Path(path)
        self.monitor = monitor
        self.mode = _check_mode(mode)
        self.best = -math.inf if mode == "max" else math.inf
        self.best_epoch: int | None = None

    def on_epoch_end(self, trainer: Trainer, epoch: int, record: dict[str, float]) -> None:
        value = _monitored(record, self.monitor, "ModelCheckpoint")
        if _improved(value, self.best, self.mode, 0.0):
            self.best, self.best_epoch = value, epoch
            trainer.save_model(self.path, metrics={self.monitor: value, "epoch": epoch})

    def __repr__(self) -> str:
        return f"ModelCheckpoint({str(self.path)!r}, monitor={self.monitor!r}, mode={self.mode!r})"


class MetricsLogger(Callback):
    """Append each epoch's record to a file: JSON lines (``.jsonl``) or CSV (``.csv``).

    The file is truncated when training starts from scratch and appended to on resume.

    Parameters
    ----------
    path : path-like
        File name; the format follows its suffix.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        if self.path.suffix not in (".jsonl", ".csv"):
            raise ConfigError(
                f"Argument 'path' must end in '.jsonl' or '.csv' but got {str(self.path)!r}."
            )
        self._fields: list[str] | None = None

    def on_fit_start(self, trainer: Trainer) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if trainer.start_epoch == 0 or not self.path.exists():
            self.path.write_text("")
            self._fields = None

    def on_epoch_end(self, trainer: Trainer, epoch: int, record: dict[str, float]) -> None:
        row = {"epoch": epoch, **record}
        with self.path.open("a", newline="") as handle:
            if self.path.suffix == ".jsonl":
                handle.write(json.dumps(row) + "\n")
                return
            if self._fields is None:
                self._fields = list(row)
                if self.path.stat().st_size == 0:
                    csv.DictWriter(handle, fieldnames=self._fields).writeheader()
            csv.DictWriter(handle, fieldnames=self._fields, extrasaction="ignore").writerow(row)

    def __repr__(self) -> str:
        return f"MetricsLogger({str(self.path)!r})"


class TrainingStateCheckpoint(Callback):
    """Save the full training state after every epoch, so :meth:`Trainer.fit` can resume.

    The file holds the model, optimiser, scheduler and gradient-scaler states, the random
    number generators and the history; pass it as ``fit(..., resume_from=path)``. It is
    written to a temporary file and renamed, so an interruption never leaves half a file.

    Parameters
    ----------
    path : path-like
        Usually ``state.pt`` next to the model.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def on_epoch_end(self, trainer: Trainer, epoch: int, record: dict[str, float]) -> None:
        trainer.save_state(self.path)

    def __repr__(self) -> str:
        return f"TrainingStateCheckpoint({str(self.path)!r})"
