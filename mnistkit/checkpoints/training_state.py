"""The training state: everything a run needs to continue after its last finished epoch.

:class:`TrainingState` holds the live objects of a run (model, optimiser, schedule, gradient
scaler, random generators, weight average, callbacks); :func:`save_training_state` writes
its :meth:`~TrainingState.state_dict` with :func:`torch.save` and
:func:`load_training_state` reads it back with ``torch.load(weights_only=True)``, which only
rebuilds tensors and plain containers, so loading never runs code from the file.

What may change when a run is resumed is decided in one place, :func:`resume_conflicts`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel

from mnistkit._io import atomic_open
from mnistkit.config import TrainConfig
from mnistkit.exceptions import CheckpointError
from mnistkit.history import History
from mnistkit.optim import SCHEDULES, Schedule

if TYPE_CHECKING:
    from mnistkit.callbacks import Callback

__all__ = [
    "FREE_ON_RESUME",
    "TrainingState",
    "load_training_state",
    "resume_conflicts",
    "save_training_state",
]

#: Settings that may differ when a run is resumed (more epochs, another device, another
#: progress display...): they do not change what is computed. Every other setting must match
#: the saved run's, or the resumed run would not be the same training. ``epochs`` is free
#: only for a schedule stepped per epoch (see :func:`resume_conflicts`).
FREE_ON_RESUME: frozenset[str] = frozenset(
    {
        "epochs",
        "device",
        "progress",
        "log_every",
        "eval_batch_size",
        "compile",
        "distributed",
        "distributed_timeout",
    }
)


def resume_conflicts(
    saved: Mapping[str, Any], current: Mapping[str, Any]
) -> dict[str, tuple[Any, Any]]:
    """The settings that differ between a saved run and the run that would continue it, but
    may not change on a resume.

    The one rule for what may change on a resume, used by :meth:`TrainingState.restore` and
    by :func:`mnistkit.run.run_ensemble` when it reuses a member's folder.

    Parameters
    ----------
    saved : mapping
        The saved run's settings, as :meth:`mnistkit.TrainConfig.to_dict` writes them. A
        setting it lacks (added to mnistkit after it was written) counts as its default.
    current : mapping
        The new run's settings, in the same form.

    Returns
    -------
    dict
        Setting name -> ``(saved value, current value)``, in alphabetical order: every
        setting outside :data:`FREE_ON_RESUME` that differs, and ``"epochs"`` when it
        differs under a schedule stepped after every batch (whose length depends on it).
        Empty when the run may be resumed.
    """
    filled = {**TrainConfig().to_dict(), **dict(saved)}
    conflicts = {
        key: (filled.get(key), value)
        for key, value in current.items()
        if key not in FREE_ON_RESUME and filled.get(key) != value
    }
    spec = SCHEDULES.get(str(current.get("schedule")))
    if spec is not None and spec.per_batch and filled.get("epochs") != current.get("epochs"):
        conflicts["epochs"] = (filled.get("epochs"), current.get("epochs"))
    return dict(sorted(conflicts.items()))


def save_training_state(state: Mapping[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write a training-state dictionary (tensors and plain containers only) atomically.

    Parameters
    ----------
    state : mapping
        Usually :meth:`TrainingState.state_dict`'s output.
    path : path-like
        Destination, conventionally ``state.pt``.

    Returns
    -------
    pathlib.Path
        The written file.

    Raises
    ------
    WriteError
        If the file cannot be written (full disk, read-only folder...); a file already at
        ``path`` is left as it was.
    """
    path = Path(path)
    # through a Python file object: torch.save reports a refused write of a file it opened
    # itself as a bare RuntimeError, but keeps the OSError of a Python write as its context
    with atomic_open(path, "wb") as handle:
        torch.save(dict(state), handle)
    return path


def load_training_state(
    path: str | os.PathLike[str], *, check: Callable[[dict[str, Any]], None] | None = None
) -> dict[str, Any]:
    """Read a training state with ``torch.load(weights_only=True)``: no code is executed.

    Parameters
    ----------
    path : path-like
        A file written by :func:`save_training_state`.
    check : callable, optional
        Called with the state; may raise to reject it.

    Returns
    -------
    dict
        The state.

    Raises
    ------
    CheckpointError
        If the file is missing, is not a training state, or holds anything but tensors and
        plain containers.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such training-state file.")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(
            f"{path}: not a training-state file that can be loaded safely ({exc})."
        ) from None
    if not isinstance(state, dict) or state.get("format") != "mnistkit-training-state":
        raise CheckpointError(f"{path}: not an mnistkit training-state file.")
    if check is not None:
        check(state)
    return state


@dataclass(eq=False, slots=True)
class TrainingState:
    """The live objects of a training run that a training-state file captures.

    :class:`~mnistkit.Trainer` builds one per :meth:`~mnistkit.Trainer.fit`; use it to save
    and restore a run of your own loop the same way.

    Parameters
    ----------
    config : TrainConfig
        The run's settings; a state saved under other settings is refused by :meth:`restore`.
    model : torch.nn.Module
        The model being trained.
    optimizer : torch.optim.Optimizer
        Its optimiser (see :func:`mnistkit.optim.build_optimizer`).
    schedule : mnistkit.optim.Schedule
        Its learning-rate schedule (see :func:`mnistkit.optim.build_schedule`).
    scaler : torch.amp.GradScaler or None
        The gradient scaler of ``"16-mixed"`` on CUDA, else ``None``.
    generator : torch.Generator
        The shuffling (and augmentation) generator.
    device : torch.device
        Where the run trains; CUDA's random state is saved too on a GPU.
    averaged : torch.optim.swa_utils.AveragedModel, optional
        The weight average of a run with ``config.ema_decay``; saved and restored with the
        rest, so a resumed run continues the same average.
    callbacks : sequence of Callback, default=()
        The run's callbacks. Those with a state (a non-empty
        :meth:`~mnistkit.callbacks.Callback.state_dict`) are saved, and restored by
        :meth:`restore` in order: the callbacks with a state must be of the same classes,
        in the same order, as the saved run's; callbacks without one (a progress bar, a
        log of lines) may differ.
    """

    config: TrainConfig
    model: nn.Module
    optimizer: torch.optim.Optimizer
    schedule: Schedule
    scaler: torch.amp.GradScaler | None
    generator: torch.Generator
    device: torch.device
    averaged: AveragedModel | None = None
    callbacks: Sequence[Callback] = ()

    def state_dict(self, history: History) -> dict[str, Any]:
        """Everything needed to resume after the epochs in ``history``.

        Parameters
        ----------
        history : History
            The epochs done so far.

        Returns
        -------
        dict
            Tensors and plain containers only (loadable with ``weights_only=True``).
        """
        state: dict[str, Any] = {
            "format": "mnistkit-training-state",
            "epoch": len(history),
            "config": self.config.to_dict(),
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.schedule.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "rng_torch": torch.get_rng_state(),
            "rng_generator": self.generator.get_state(),
            "history": history.to_dict(),
            "averaged": self.averaged.state_dict() if self.averaged is not None else None,
            "callbacks": [
                {"class": type(callback).__name__, "state": saved}
                for callback, saved in self._stateful_callbacks()
            ],
        }
        if self.device.type == "cuda":
            state["rng_cuda"] = torch.cuda.get_rng_state(self.device)
        return state

    def save(self, path: str | os.PathLike[str], history: History) -> Path:
        """Write :meth:`state_dict` atomically to ``path``.

        Parameters
        ----------
        path : path-like
            Destination, conventionally ``state.pt``.
        history : History
            The epochs done so far.

        Returns
        -------
        pathlib.Path
            The written file.
        """
        return save_training_state(self.state_dict(history), path)

    def _stateful_callbacks(self) -> list[tuple[Callback, dict[str, Any]]]:
        """The callbacks that have a state, each with it."""
        states = [(callback, callback.state_dict()) for callback in self.callbacks]
        return [(callback, state) for callback, state in states if state]

    def _restore_callbacks(self, saved: Any, path: Path) -> None:
        """Give each callback with a state its saved state (see the class's ``callbacks``)."""
        if saved is None:  # written before callbacks had a state: they start afresh
            return
        current = self._stateful_callbacks()
        saved_names = [str(entry["class"]) for entry in saved]
        current_names = [type(callback).__name__ for callback, _ in current]
        if saved_names != current_names:
            raise CheckpointError(
                f"{path}: the training state holds the state of the callbacks "
                f"[{', '.join(saved_names)}], but this run's callbacks with a state are "
                f"[{', '.join(current_names)}]; resume with the same callbacks in the same "
                "order (callbacks without a state, such as ProgressBar or EpochLog, may "
                "differ)."
            )
        for (callback, _), entry in zip(current, saved, strict=True):
            callback.load_state_dict(dict(entry["state"]))

    def restore(self, path: str | os.PathLike[str]) -> History:
        """Load a state saved by :meth:`save` into these objects.

        Parameters
        ----------
        path : path-like
            The training-state file.

        Returns
        -------
        History
            The epochs the saved run had done; training continues after them.

        Raises
        ------
        CheckpointError
            If the file is unreadable, was saved with different settings or other callbacks
            with a state, or does not fit the model.
        """
        path = Path(path)
        state = load_training_state(path)
        conflicts = resume_conflicts(state.get("config") or {}, self.config.to_dict())
        epochs = conflicts.pop("epochs", None)
        if conflicts:
            raise CheckpointError(
                f"{path}: the training state was saved with a different configuration "
                f"({', '.join(f'{k}: {old!r} != {new!r}' for k, (old, new) in conflicts.items())})."
            )
        if epochs is not None:
            raise CheckpointError(
                f"{path}: cannot change 'epochs' ({epochs[0]} -> {epochs[1]}) when resuming a "
                f"{self.config.schedule!r} schedule, whose length depends on it."
            )
        try:
            self.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
            self.schedule.load_state_dict(state.get("scheduler"))
            if self.scaler is not None and state.get("scaler") is not None:
                self.scaler.load_state_dict(state["scaler"])
            if self.averaged is not None:
                if state.get("averaged") is None:
                    raise ValueError("it holds no weight average (ema_decay)")
                self.averaged.load_state_dict(state["averaged"])
            torch.set_rng_state(state["rng_torch"])
            self.generator.set_state(state["rng_generator"])
            if "rng_cuda" in state and self.device.type == "cuda":
                torch.cuda.set_rng_state(state["rng_cuda"], self.device)
            history = History.from_dict(state.get("history") or {})
            if len(history) != int(state["epoch"]):
                raise ValueError(f"{state['epoch']} epochs but {len(history)} history records")
            self._restore_callbacks(state.get("callbacks"), path)
        except (KeyError, RuntimeError, ValueError, TypeError) as exc:
            raise CheckpointError(
                f"{path}: the training state does not fit this model: {exc}"
            ) from None
        return history
