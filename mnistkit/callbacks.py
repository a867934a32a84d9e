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
import io
import json
import math
import os
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from tqdm.auto import tqdm

from mnistkit._io import append_text, write_error, write_text
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


@dataclass(frozen=True, slots=True, eq=False)
class RunView:
    """What a callback sees of a training run: read-only facts, and a way to ask it to stop.

    The :class:`~mnistkit.Trainer` makes one per :meth:`~mnistkit.Trainer.fit` and passes it
    to every hook. Callbacks read it and call :meth:`request_stop`, :meth:`save_model` or
    :meth:`save_state`; they never change the trainer itself (the view is frozen: its
    fields cannot be set).

    Parameters
    ----------
    model : torch.nn.Module
        The model being trained (its weights change as the run goes on).
    config : TrainConfig
        The run's settings.
    device : torch.device
        Where the model trains.
    precision : str
        The precision actually used (see :func:`mnistkit.devices.resolve_precision`).
    history : History
        The records of the epochs finished so far (it grows during the run).
    dataset : str or None
        Name of the training data set, if known.
    train_size : int
        Training examples per epoch.
    batches_per_epoch : int
        Training batches per epoch.
    start_epoch : int
        Epochs already done when this run started (non-zero when resumed).
    optimizer : torch.optim.Optimizer
        The optimiser, read for the current learning rate (:attr:`lr`); leave it as it is.
    save_model : callable
        ``save_model(path, *, metrics=None) -> pathlib.Path``: writes the model as it is now
        (see :meth:`mnistkit.Trainer.save_model`), with ``metrics`` in its metadata.
    save_state : callable
        ``save_state(path) -> pathlib.Path``: writes the training state, to resume from
        later (see :meth:`mnistkit.Trainer.save_state`).
    train_data : Split, optional
        The training split (before augmentation), when the trainer was given one.
    val_data : Split, optional
        The validation split, or ``None`` when the run validates on nothing.
    world_size : int, default=1
        The number of data-parallel processes (1 when training alone); callbacks run on
        rank 0 only.
    """

    model: nn.Module
    config: TrainConfig
    device: torch.device
    precision: str
    history: History
    dataset: str | None
    train_size: int
    batches_per_epoch: int
    start_epoch: int
    optimizer: torch.optim.Optimizer = field(repr=False)
    save_model: Callable[..., Path] = field(repr=False)
    save_state: Callable[..., Path] = field(repr=False)
    train_data: Split | None = field(default=None, repr=False)
    val_data: Split | None = field(default=None, repr=False)
    world_size: int = 1
    # the one thing a callback changes: set once, by request_stop
    _stop: threading.Event = field(default_factory=threading.Event, init=False, repr=False)

    def __repr__(self) -> str:
        return (
            f"RunView(model={type(self.model).__name__}, epochs_done={len(self.history)}/"
            f"{self.config.epochs}, device={str(self.device)!r})"
        )

    @property
    def epochs(self) -> int:
        """The number of epochs the run is set to reach (``config.epochs``)."""
        return self.config.epochs

    @property
    def lr(self) -> float:
        """The learning rate now (of the optimiser's first parameter group)."""
        return float(self.optimizer.param_groups[0]["lr"])

    @property
    def stop_requested(self) -> bool:
        """Whether a callback has asked the run to stop."""
        return self._stop.is_set()

    def request_stop(self) -> None:
        """Ask the run to end after the current epoch (its callbacks still run), or before
        the first one when asked in :meth:`Callback.on_fit_start`."""
        self._stop.set()


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

    A callback whose decisions depend on what it has seen (a best value, a count of epochs
    without improvement) returns that in :meth:`state_dict` and takes it back in
    :meth:`load_state_dict`: the training state (:meth:`mnistkit.Trainer.save_state`) holds
    it, and ``fit(..., resume_from=...)`` restores it before :meth:`on_fit_start`, so that a
    resumed run ends where the uninterrupted one would have. On a resume
    (``run.start_epoch > 0``) :meth:`on_fit_start` must therefore keep that state, not
    reset it.
    """

    def state_dict(self) -> dict[str, Any]:
        """What this callback needs to carry on after a resume; empty by default.

        Returns
        -------
        dict
            Plain numbers, strings, ``None``, lists and dicts of them only (the training
            state is read with ``torch.load(weights_only=True)``). A callback that returns
            an empty dict has no state: it is not saved, and may be left out or added when
            a run is resumed.
        """
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Take back what :meth:`state_dict` returned; does nothing by default.

        Parameters
        ----------
        state : dict
            A dict :meth:`state_dict` returned, as read from the training state.
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

    def state_dict(self) -> dict[str, Any]:
        """The best value, its epoch, the epochs waited since, and the epoch it stopped at.

        Returns
        -------
        dict
            Keys ``best``, ``best_epoch``, ``wait`` and ``stopped_epoch``.
        """
        return {
            "best": self.best,
            "best_epoch": self.best_epoch,
            "wait": self.wait,
            "stopped_epoch": self.stopped_epoch,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Take back the values of :meth:`state_dict`.

        Parameters
        ----------
        state : dict
            As :meth:`state_dict` returned it.
        """
        stopped = state["stopped_epoch"]
        self.best = float(state["best"])
        self.best_epoch = int(state["best_epoch"])
        self.wait = int(state["wait"])
        self.stopped_epoch = None if stopped is None else int(stopped)

    def on_fit_start(self, run: RunView) -> None:
        if run.start_epoch == 0:  # a new run; a resumed one keeps its restored state
            self.best = math.inf if self.mode == "min" else -math.inf
            self.best_epoch = 0
            self.wait = 0
            self.stopped_epoch = None
        elif self.wait >= self.patience:  # the saved run had stopped: it stays stopped
            run.request_stop()

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

    def state_dict(self) -> dict[str, Any]:
        """The best value so far and its epoch, against which the next epochs compare.

        Returns
        -------
        dict
            Keys ``best`` and ``best_epoch``.
        """
        return {"best": self.best, "best_epoch": self.best_epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Take back the values of :meth:`state_dict`.

        Parameters
        ----------
        state : dict
            As :meth:`state_dict` returned it.
        """
        epoch = state["best_epoch"]
        self.best = float(state["best"])
        self.best_epoch = None if epoch is None else int(epoch)

    def on_fit_start(self, run: RunView) -> None:
        if run.start_epoch == 0:  # a new run; a resumed one keeps its restored best
            self.best = -math.inf if self.mode == "max" else math.inf
            self.best_epoch = None

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
    records under the same columns, whatever the order of their keys. The columns and the
    length of the file are part of the training state: a resumed run first cuts off the
    records written after the state it resumes from (the epochs it trains again), so the
    log ends as the uninterrupted run's.

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
        self._size: int | None = None  # bytes written so far; None until known

    def state_dict(self) -> dict[str, Any]:
        """The CSV columns (``None`` before the first record, and for JSON lines) and the
        file's length in bytes.

        Returns
        -------
        dict
            Keys ``fields`` and ``size``.
        """
        return {
            "fields": list(self._fields) if self._fields is not None else None,
            "size": self._size,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Take back the values of :meth:`state_dict`.

        Parameters
        ----------
        state : dict
            As :meth:`state_dict` returned it.
        """
        fields, size = state["fields"], state["size"]
        self._fields = None if fields is None else [str(name) for name in fields]
        self._size = None if size is None else int(size)

    def on_fit_start(self, run: RunView) -> None:
        if run.start_epoch == 0 or not self.path.exists():
            if run.start_epoch == 0:
                self._fields = None
            write_text(self.path, "")
            self._size = 0
            return
        if self._size is not None and self.path.stat().st_size > self._size:
            try:  # records of epochs after the saved state: the resumed run writes them again
                os.truncate(self.path, self._size)
            except OSError as exc:
                raise write_error(self.path, exc) from exc
        if self._fields is None and self.path.suffix == ".csv":
            with self.path.open(newline="") as handle:
                header = next(csv.reader(handle), None)
            self._fields = header or None

    def on_epoch_end(self, run: RunView, epoch: int, record: dict[str, float]) -> None:
        row = {"epoch": epoch, **record}
        if self.path.suffix == ".jsonl":
            text = json.dumps(row) + "\n"
        else:
            empty = not self.path.exists() or self.path.stat().st_size == 0
            if self._fields is None:
                self._fields = list(row)
            buffer = io.StringIO(newline="")
            writer = csv.DictWriter(buffer, fieldnames=self._fields, extrasaction="ignore")
            if empty:
                writer.writeheader()
            writer.writerow(row)
            text = buffer.getvalue()
        append_text(self.path, text)
        self._size = self.path.stat().st_size

    def __repr__(self) -> str:
        return f"MetricsLogger({str(self.path)!r})"


class TrainingStateCheckpoint(Callback):
    """Save the full training state after every epoch, so :meth:`Trainer.fit` can resume.

    The file holds the model, optimiser, scheduler and gradient-scaler states, the random
    number generators, the history and the other callbacks' states; pass it as
    ``fit(..., resume_from=path)``. It is written to a temporary file and renamed, so an
    interruption never leaves half a file. The :class:`~mnistkit.Trainer` calls it after
    the other callbacks, wherever it stands in their list, so that the state it writes
    holds theirs after the epoch (as Lightning runs its checkpoint callbacks last).

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
