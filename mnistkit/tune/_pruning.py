"""Pruning Optuna trials per epoch: :class:`PruningCallback` (private to :mod:`mnistkit.tune`)."""

from __future__ import annotations

from typing import Any

from mnistkit._extras import require
from mnistkit.callbacks import Callback, RunView, _monitored

__all__ = ["PruningCallback"]

_FEATURE = "mnistkit.tune.PruningCallback"


class PruningCallback(Callback):
    """Report a metric to an Optuna trial after every epoch; stop the run if it is pruned.

    Parameters
    ----------
    trial : optuna.trial.Trial
        The trial the objective was called with.
    monitor : str, default="val_accuracy"
        A key of the epoch record to report; its direction is the study's.

    Attributes
    ----------
    pruned_epoch : int or None
        The epoch after which the trial was pruned, or ``None``.

    Raises
    ------
    MissingExtraError
        Optuna is not installed (``pip install ".[tune]"``).

    Notes
    -----
    Pruning asks the run to stop (:meth:`~mnistkit.callbacks.RunView.request_stop`), so
    every callback still sees the end of the run; call :meth:`raise_if_pruned` after
    :meth:`~mnistkit.Trainer.fit` to tell Optuna.
    """

    def __init__(self, trial: Any, *, monitor: str = "val_accuracy") -> None:
        require("tune", _FEATURE)
        self.trial = trial
        self.monitor = monitor
        self.pruned_epoch: int | None = None

    def __repr__(self) -> str:
        number = getattr(self.trial, "number", "?")
        return f"PruningCallback(trial={number}, monitor={self.monitor!r})"

    def on_fit_start(self, run: RunView) -> None:
        self.pruned_epoch = None

    def on_epoch_end(self, run: RunView, epoch: int, record: dict[str, float]) -> None:
        self.trial.report(_monitored(record, self.monitor, "PruningCallback"), epoch)
        if self.trial.should_prune():
            self.pruned_epoch = epoch
            run.request_stop()

    def raise_if_pruned(self) -> None:
        """Raise :class:`optuna.TrialPruned` if the last run was pruned; else do nothing.

        Raises
        ------
        optuna.TrialPruned
            The trial was pruned after :attr:`pruned_epoch`.
        """
        if self.pruned_epoch is not None:
            optuna = require("tune", _FEATURE)
            raise optuna.TrialPruned(
                f"trial {self.trial.number} pruned after epoch {self.pruned_epoch} ({self.monitor})"
            )
