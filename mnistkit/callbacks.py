"""Callbacks: small objects the :class:`~mnistkit.Trainer` calls at fixed points of training.

Subclass :class:`Callback` and override only the hooks you need; every hook is a no-op by
default. The built-in ones:

* :class:`ProgressBar` — a tqdm bar per epoch (on by default when stderr is a terminal);
* :class:`EarlyStopping` — stop when a monitored metric stops improving;
* :class:`ModelCheckpoint` — keep the best model's weights in a safetensors file;
* :class:`MetricsLogger` — append each epoch's record to a JSON-lines or CSV file;
* :class:`TrainingStateCheckpoint` — save everything needed to resume, every epoch;
* :class:`EpochLog` — one line of text per epoch, as ``mnistkit train`` prints.

Hooks receive a :class:`RunView`, a small read-only view of the run, rather than the
trainer: a callback reads what it needs and asks the run to stop with
``run.request_stop()``.
"""

from __future__ import annotations

import csv
import json
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from tqdm.auto import tqdm

from mnistkit._io import write_text
from mnistkit._validation import check_choice, check_int
from mnistkit.exceptions import ConfigError

if TYPE_CHECKING:
    import torch
    from torch import nn

    from mnistkit.config import TrainConfig
    from mnistkit.datasets import Split
    from mnistkit.history import History

__all__ = [
    "Callback",
    "EarlyStopping",
    "EpochLog",
    "MetricsLogger",
    "ModelCheckpoint",
    "ProgressBar",
    "RunView",
    "TrainingStateCheckpoint",
    "progress_by_default",
]


def progress_by_default() -> bool:
    """Whether a progress bar is shown when ``TrainConfig.progress`` is ``None``.

    Returns
    -------
    bool
        True when standard error is a terminal, or when running in a Jupyter kernel (where
        tqdm draws the bar as a widget, given ``ipywidgets``; see the ``notebook`` extra).
    """
    return sys.stderr.isatty() or "ipykernel.zmqshell" in sys.modules


class RunView:
    """What a callback sees of a training run: read-only facts, and a way to ask it to stop.

    The :class:`~mnistkit.Trainer` makes one per :meth:`~mnistkit.Trainer.fit` and passes it
    to every hook. Callbacks read it and call :meth:`request_stop`, :meth:`save_model` or
    :meth:`save_state`; they never change the trainer itself.

    Parameters
    ----------
    model : torch.nn.Module
        The model being trained.
    config : TrainConfig
        The run's settings.
    device : torch.device
        Where it trains.
    precision : str
        The precision actually used.
    history : History
        The records of the epochs done so far (it grows during the run).
    dataset : str or None
        Name of the training data set, if known.
    train_size : int
        Training examples per epoch.
    batches_per_epoch : int
        Training batches per epoch.
    start_epoch : int
        Epochs already done when the run started (non-zero after a resume).
    optimizer : torch.optim.Optimizer
        Read for the current learning rate (:attr:`lr`); not exposed.
    save_model : callable
        ``save_model(path, metrics)``: writes the model file.
    save_state : callable
        ``save_state(path)``: writes the training state.
    train_data : Split, optional
        The training split, before any augmentation.
    val_data : Split, optional
        The validation split, or ``None`` when the run validates on nothing.
    world_size : int, default=1
        The number of data-parallel processes; callbacks run on rank 0 only.
    """

    def __init__(
        self,
        *,
        model: nn.Module,
        config: TrainConfig,
        device: torch.device,
        precision: str,
        history: History,
        dataset: str | None,
        train_size: int,
        batches_per_epoch: int,
        start_epoch: int,
        optimizer: torch.optim.Optimizer,
        save_model: Callable[[Path, dict[str, Any] | None], Path],
        save_state: Callable[[Path], Path],
        train_data: Split | None = None,
        val_data: Split | None = None,
        world_size: int = 1,
    ) -> None:
        self._model = model
        self._config = config
        self._device = device
        self._precision = precision
        self._history = history
        self._dataset = dataset
        self._train_size = train_size
        self._batches_per_epoch = batches_per_epoch
        self._start_epoch = start_epoch
        self._optimizer = optimizer
        self._save_model = save_model
        self._save_state = save_state
        self._train_data = train_data
        self._val_data = val_data
        self._world_size = world_size
        self._stop = False

    def __repr__(self) -> str:
        return (
            f"RunView(model={type(self._model).__name__}, epochs_done={len(self._history)}/"
            f"{self._config.epochs}, device={str(self._device)!r})"
        )

    @property
    def model(self) -> nn.Module:
        """The model being trained (its weights change as the run goes on)."""
        return self._model

    @property
    def config(self) -> TrainConfig:
        """The run's settings."""
        return self._config

    @property
    def epochs(self) -> int:
        """The number of epochs the run is set to reach (``config.epochs``)."""
        return self._config.epochs

    @property
    def device(self) -> torch.device:
        """Where the model trains."""
        return self._device

    @property
    def precision(self) -> str:
        """The precision actually used (see :func:`mnistkit.devices.resolve_precision`)."""
        return self._precision

    @property
    def history(self) -> History:
        """The records of the epochs finished so far."""
        return self._history

    @property
    def dataset(self) -> str | None:
        """Name of the training data set, if known."""
        return self._dataset

    @property
    def train_data(self) -> Split | None:
        """The training split (before augmentation), when the trainer was given one."""
        return self._train_data

    @property
    def val_data(self) -> Split | None:
        """The validation split, or ``None`` when the run validates on nothing."""
        return self._val_data

    @property
    def world_size(self) -> int:
        """The number of data-parallel processes (1 when training alone)."""
        return self._world_size

    @property
    def train_size(self) -> int:
        """Training examples per epoch."""
        return self._train_size

    @property
    def batches_per_epoch(self) -> int:
        """Training batches per epoch."""
        return self._batches_per_epoch

    @property
    def start_epoch(self) -> int:
        """Epochs already done when this run started (non-zero when resumed)."""
        return self._start_epoch

    @property
    def lr(self) -> float:
        """The learning rate now (of the optimiser's first parameter group)."""
        return float(self._optimizer.param_groups[0]["lr"])

    @property
    def stop_requested(self) -> bool:
        """Whether a callback has asked the run to stop."""
        return self._stop

    def request_stop(self) -> None:
        """Ask the run to end after the current epoch (its callbacks still run)."""
        self._stop = True

    def save_model(
        self, path: str | os.PathLike[str], *, metrics: dict[str, Any] | None = None
    ) -> Path:
        """Write the model as it is now (see :func:`mnistkit.save_model`).

        Parameters
        ----------
        path : path-like
            Destination ``.safetensors`` file.
        metrics : dict, optional
            Numbers to store in its metadata.

        Returns
        -------
        pathlib.Path
            The written file.
        """
        return self._save_model(Path(path), metrics)

    def save_state(self, path: str | os.PathLike[str]) -> Path:
        """Write the training state, to resume from later (see :meth:`mnistkit.Trainer.fit`).

        Parameters
        ----------
        path : path-like
            Destination, conventionally ``state.pt``.

        Returns
        -------
        pathlib.Path
            The written file.
        """
        return self._save_state(Path(path))


class Callback:
    """Base class of callbacks; every hook does nothing unless overridden.

    The trainer calls, in order: :meth:`on_fit_start`; then for each epoch
    :meth:`on_epoch_start`, :meth:`on_batch_end` after every training batch, and
    :meth:`on_epoch_end` once the epoch's record (losses, accuracies, lr, seconds) is complete;
    finally :meth:`on_fit_end`. When training stops with an exception instead (the loss
    diverged, Ctrl-C, an error in a callback), :meth:`on_exception` is called in place of
    :meth:`on_fit_end`, so that a callback can release what it holds. Every hook receives the
    :class:`RunView` of the run; call ``run.request_stop()`` to end training after the
    current epoch.
    """

    def on_fit_start(self, run: RunView) -> None:
        """Called once before the first epoch.

        Parameters
        ----------
        run : RunView
            The run: model, settings, history so far; ``run.request_stop()`` ends it.
        """

    def on_epoch_start(self, run: RunView, epoch: int) -> None:
        """Called before each epoch.

        Parameters
        ----------
        run : RunView
            The run: model, settings, history so far; ``run.request_stop()`` ends it.
        epoch : int
            Counted from 1.
        """

    def on_batch_end(self, run: RunView, batch: int, loss: float | None) -> None:
        """Called after each training batch.

        Parameters
        ----------
        run : RunView
            The run: model, settings, history so far; ``run.request_stop()`` ends it.
        batch : int
            Index of the batch in the epoch, from 0.
        loss : float or None
            The batch's mean loss, every ``config.log_every`` batches; else ``None``.
        """

    def on_epoch_end(self, run: RunView, epoch: int, record: dict[str, float]) -> None:
        """Called after validation, with the epoch's record.

        Parameters
        ----------
        run : RunView
            The run: model, settings, history so far; ``run.request_stop()`` ends it.
        epoch : int
            Counted from 1.
        record : dict
            The epoch's numbers, as added to the history.
        """

    def on_fit_end(self, run: RunView, history: History) -> None:
        """Called once after the last epoch, also after an early stop.

        Parameters
        ----------
        run : RunView
            The run: model, settings, history so far; ``run.request_stop()`` ends it.
        history : History
            The whole run's records.
        """

    def on_exception(self, run: RunView, error: BaseException) -> None:
        """Called once when :meth:`Trainer.fit` ends with an exception, before it propagates.

        Close files, progress bars or writers here; the exception is raised again afterwards
        whatever the callbacks do (an exception raised by this hook is logged and ignored).

        Parameters
        ----------
        run : RunView
            The run: model, settings, history so far.
        error : BaseException
            What ended training (e.g. :class:`~mnistkit.TrainingDivergedError`, or
            :class:`KeyboardInterrupt`).
        """

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

    def on_epoch_start(self, run: RunView, epoch: int) -> None:
        total = run.epochs
        self._bar = tqdm(
            total=run.batches_per_epoch,
            desc=f"epoch {epoch}/{total}",
            unit="batch",
            leave=self.leave,
            dynamic_ncols=True,
        )

    def on_batch_end(self, run: RunView, batch: int, loss: float | None) -> None:
        if self._bar is not None:
            self._bar.update(1)
            if loss is not None:
                self._bar.set_postfix(loss=f"{loss:.4f}", refresh=False)

    def on_epoch_end(self, run: RunView, epoch: int, record: dict[str, float]) -> None:
        if self._bar is None:
            return
        shown = {k: f"{v:.4f}" for k, v in record.items() if k.endswith(("loss", "accuracy"))}
        self._bar.set_postfix(shown, refresh=True)
        self._bar.close()
        self._bar = None

    def on_fit_end(self, run: RunView, history: History) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def on_exception(self, run: RunView, error: BaseException) -> None:
        self.on_fit_end(run, run.history)


def _check_mode(mode: str) -> str:
    return check_choice(mode, "mode", ("min", "max"))


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
        Whether a lower (``"min"``, for losses) or higher (``"max"``, for accuracies) value
        is better.
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
        check_int(patience, "patience")
        self.monitor = monitor
        self.patience = patience
        self.mode = _check_mode(mode)
        self.min_delta = float(min_delta)
        self.best = math.inf if mode == "min" else -math.inf
        self.best_epoch = 0
        self.wait = 0
        self.stopped_epoch: int | None = None

    def on_fit_start(self, run: RunView) -> None:
        self.best = math.inf if self.mode == "min" else -math.inf
        self.wait = 0
        self.stopped_epoch = None

    def on_epoch_end(self, run: RunView, epoch: int, record: dict[str, float]) -> None:
        value = _monitored(record, self.monitor, "EarlyStopping")
        if _improved(value, self.best, self.mode, self.min_delta):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            run.request_stop()

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
        A key of the epoch record, e.g. ``"val_accuracy"`` or ``"val_loss"``.
    mode : {"min", "max"}, default="max"
        Whether a lower (``"min"``) or higher (``"max"``) value is better.
    """

    def __init__(
        self, path: str | os.PathLike[str], *, monitor: str = "val_accuracy", mode: str = "max"
    ) -> None:
        self.path = Path(path)
        self.monitor = monitor
        self.mode = _check_mode(mode)
        self.best = -math.inf if mode == "max" else math.inf
        self.best_epoch: int | None = None

    def on_epoch_end(self, run: RunView, epoch: int, record: dict[str, float]) -> None:
        value = _monitored(record, self.monitor, "ModelCheckpoint")
        if _improved(value, self.best, self.mode, 0.0):
            self.best, self.best_epoch = value, epoch
            run.save_model(self.path, metrics={self.monitor: value, "epoch": epoch})

    def __repr__(self) -> str:
        return f"ModelCheckpoint({str(self.path)!r}, monitor={self.monitor!r}, mode={self.mode!r})"


class MetricsLogger(Callback):
    """Append each epoch's record to a file: JSON lines (``.jsonl``) or CSV (``.csv``).

    The file is truncated when training starts from scratch and appended to on resume. A
    CSV file's columns are those of its first record (its header); a resumed run writes its
    records under the header already in the file, whatever the order of their keys.

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

    def on_fit_start(self, run: RunView) -> None:
        self._fields = None
        if run.start_epoch == 0 or not self.path.exists():
            write_text(self.path, "")
        elif self.path.suffix == ".csv":
            with self.path.open(newline="") as handle:
                header = next(csv.reader(handle), None)
            self._fields = header or None

    def on_epoch_end(self, run: RunView, epoch: int, record: dict[str, float]) -> None:
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

    def on_epoch_end(self, run: RunView, epoch: int, record: dict[str, float]) -> None:
        run.save_state(self.path)

    def __repr__(self) -> str:
        return f"TrainingStateCheckpoint({str(self.path)!r})"


class EpochLog(Callback):
    """Write one line per epoch to a text stream: what ``mnistkit train`` prints.

    A header when training starts (model, data, epochs, device, precision), then each
    epoch's losses, accuracies and seconds.

    Parameters
    ----------
    stream : text stream, optional
        Where the lines go; standard output by default.
    """

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream

    def _write(self, line: str) -> None:
        stream = self.stream if self.stream is not None else sys.stdout
        stream.write(line + "\n")
        stream.flush()

    def on_fit_start(self, run: RunView) -> None:
        data = f"{run.dataset} " if run.dataset else ""
        resumed = f", resuming after epoch {run.start_epoch}" if run.start_epoch else ""
        ranks = f" x {run.world_size} processes" if run.world_size > 1 else ""
        self._write(
            f"Training {type(run.model).__name__} on {data}({run.train_size} images) for "
            f"{run.epochs} epochs on {run.device}{ranks} [{run.precision}]{resumed}"
        )

    def on_epoch_end(self, run: RunView, epoch: int, record: dict[str, float]) -> None:
        parts = [f"epoch {epoch}/{run.epochs}"]
        parts += [f"{k} {v:.4f}" for k, v in record.items() if k.endswith(("loss", "accuracy"))]
        parts.append(f"{record['seconds']:.1f}s")
        self._write("  ".join(parts))

    def __repr__(self) -> str:
        return f"EpochLog({getattr(self.stream, 'name', 'stdout')!r})"
