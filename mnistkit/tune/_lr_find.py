"""The learning-rate range test: :func:`lr_find` (private to :mod:`mnistkit.tune`)."""

from __future__ import annotations

import copy
import math
import os
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mnistkit._io import write_json
from mnistkit._validation import check_int, check_number
from mnistkit.augment import Augment
from mnistkit.config import TrainConfig
from mnistkit.datasets import Split
from mnistkit.devices import resolve_device, resolve_precision, seed_everything
from mnistkit.exceptions import ConfigError, TrainingDivergedError
from mnistkit.loaders import DeviceLoader
from mnistkit.optim import build_optimizer

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["LRFinderResult", "lr_find"]

_WHO = "lr_find"
#: Steps at the start of the curve left out of the suggestion: the smoothed loss is still
#: mostly the first batches' there, and its slope says little.
_SKIP_START = 10


@dataclass(frozen=True, slots=True)
class LRFinderResult:
    """The curve of a learning-rate range test and the rate it suggests.

    Parameters
    ----------
    lrs : tuple of float
        The learning rate of each step, rising exponentially.
    losses : tuple of float
        The smoothed training loss after each step (an exponential moving average with
        bias correction): the curve to read.
    raw_losses : tuple of float
        Each step's own batch loss.
    suggestion : float or None
        The rate where the smoothed loss fell fastest (per factor of rate) before its
        minimum; ``None`` when the curve is too short to tell.
    stop_reason : {"diverged", "end"}
        ``"diverged"`` when the smoothed loss passed ``stop_factor`` times its minimum (or
        became NaN), ``"end"`` when every step ran.
    settings : dict
        How the test ran: its own arguments, the optimiser and the batch size.
    """

    lrs: tuple[float, ...]
    losses: tuple[float, ...]
    raw_losses: tuple[float, ...]
    suggestion: float | None
    stop_reason: str
    settings: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        suggested = "None" if self.suggestion is None else f"{self.suggestion:.3g}"
        return (
            f"LRFinderResult(steps={len(self.lrs)}, suggestion={suggested}, "
            f"stop_reason={self.stop_reason!r})"
        )

    @property
    def min_loss_lr(self) -> float:
        """The rate at the lowest smoothed loss (usually too high to train with: the loss
        is about to rise there)."""
        return self.lrs[int(np.argmin(self.losses))]

    def to_dict(self) -> dict[str, Any]:
        """The curve, the suggestion and the settings as plain data.

        Returns
        -------
        dict
            JSON-serialisable.
        """
        return {
            "suggestion": self.suggestion,
            "min_loss_lr": self.min_loss_lr,
            "stop_reason": self.stop_reason,
            "settings": dict(self.settings),
            "lrs": list(self.lrs),
            "losses": list(self.losses),
            "raw_losses": list(self.raw_losses),
        }

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write :meth:`to_dict` as JSON (atomically).

        Parameters
        ----------
        path : path-like
            Destination, conventionally ``lr_find.json``.

        Returns
        -------
        pathlib.Path
            The written file.
        """
        return write_json(path, self.to_dict())

    def plot(self, *, ax: Axes | None = None) -> Figure:
        """Draw the loss against the learning rate (log scale), with the suggestion marked.

        The whole curve is drawn, not only the suggestion: where the loss falls, flattens
        and rises is what to judge a rate by, and a suggestion from a noisy curve can be
        off by a factor of a few.

        Parameters
        ----------
        ax : matplotlib.axes.Axes, optional
            Where to draw; a new figure by default.

        Returns
        -------
        matplotlib.figure.Figure
            The figure holding the axes.
        """
        import matplotlib.pyplot as plt

        if ax is None:
            figure = plt.figure(figsize=(6.4, 4.0), layout="constrained")
            ax = figure.add_subplot()
        else:
            figure = ax.get_figure(root=True)  # type: ignore[assignment]
        ax.plot(self.lrs, self.raw_losses, color="#b4b4b4", lw=0.8, label="loss of each batch")
        ax.plot(self.lrs, self.losses, color="#1f77b4", lw=2, label="smoothed loss")
        ax.axvline(self.min_loss_lr, color="#7f7f7f", ls=":", label="lowest smoothed loss")
        if self.suggestion is not None:
            ax.axvline(
                self.suggestion,
                color="#d62728",
                ls="--",
                label=f"suggested rate {self.suggestion:.2g} (steepest fall)",
            )
        ax.set_xscale("log")
        low = min(min(self.raw_losses), min(self.losses))
        factor = float(self.settings.get("stop_factor", 4.0))
        high = max(self.losses[0], min(self.losses) * factor)
        ax.set_ylim(max(0.0, low - 0.05 * (high - low)), high * 1.05)
        ax.set(
            xlabel="learning rate (log scale)",
            ylabel="training loss",
            title=f"Learning-rate range test ({len(self.lrs)} steps)",
        )
        ax.legend(loc="upper left", fontsize=8)
        return figure


def _suggest(lrs: list[float], losses: list[float]) -> float | None:
    """The rate of the steepest fall of the smoothed loss against log(rate), before its
    minimum (as Lightning's finder suggests), or ``None`` without enough points."""
    end = int(np.argmin(losses))
    start = min(_SKIP_START, end // 2)
    if end - start < 3:
        return None
    slopes = np.gradient(np.asarray(losses[start : end + 1]), np.log10(lrs[start : end + 1]))
    return lrs[start + int(np.argmin(slopes))]


class _RandomState:
    """Python's, NumPy's and PyTorch's global generators, captured to be put back exactly."""

    def __init__(self, device: torch.device) -> None:
        self.python = random.getstate()
        self.numpy = np.random.get_state()
        self.torch = torch.get_rng_state()
        initialized = torch.cuda.is_initialized()  # type: ignore[no-untyped-call]
        self.cuda = torch.cuda.get_rng_state_all() if initialized else None
        self.mps = torch.mps.get_rng_state() if device.type == "mps" else None

    def restore(self) -> None:
        random.setstate(self.python)
        np.random.set_state(self.numpy)
        torch.set_rng_state(self.torch)
        if self.cuda is not None:
            torch.cuda.set_rng_state_all(self.cuda)
        if self.mps is not None:
            torch.mps.set_rng_state(self.mps)


def _batches(loader: DeviceLoader) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    while True:  # as many epochs as the steps need
        yield from loader


def lr_find(
    model: nn.Module,
    train: Split | DeviceLoader,
    config: TrainConfig | None = None,
    *,
    start_lr: float = 1e-7,
    end_lr: float = 10.0,
    num_steps: int = 300,
    smoothing: float = 0.98,
    stop_factor: float = 4.0,
    optimizer: torch.optim.Optimizer | None = None,
    augment: Augment | None = None,
) -> LRFinderResult:
    """Run a learning-rate range test: train briefly with a rate rising exponentially.

    Each step trains on one batch with a rate ``start_lr * (end_lr / start_lr) **
    (i / (num_steps - 1))``, records the loss and smooths it; the test stops early once the
    smoothed loss passes ``stop_factor`` times its lowest value (the rate is then far too
    high). A good rate is where the loss falls fastest, well before the minimum (Smith,
    "Cyclical Learning Rates for Training Neural Networks", 2017). Afterwards the model's
    weights and buffers, its training mode, the optimiser's state and every global random
    generator are exactly as they were, so training can start from here as if the test had
    not run.

    Parameters
    ----------
    model : torch.nn.Module
        The model, as :class:`~mnistkit.Trainer` takes it (pixels in [0, 1] to logits).
    train : Split or DeviceLoader
        Training data. A split is batched by a shuffling :class:`~mnistkit.DeviceLoader`
        of ``config.batch_size`` on ``config.device``, shuffled from ``config.seed``.
    config : TrainConfig, optional
        The optimiser, its settings (weight decay, momentum), the batch size, label
        smoothing, gradient clipping, device, precision and seed; its learning rate and
        schedule are not used. Defaults to ``TrainConfig()``.
    start_lr, end_lr : float, default=1e-7, 10.0
        The first and last rate, ``0 < start_lr < end_lr``.
    num_steps : int, default=300
        Steps (batches) at most; the data is passed over again if it has fewer batches.
    smoothing : float, default=0.98
        Decay of the loss's exponential moving average, in [0, 1) (0: no smoothing).
    stop_factor : float, default=4.0
        Stop once the smoothed loss is more than this many times its minimum (> 1).
    optimizer : torch.optim.Optimizer, optional
        An optimiser of ``model``'s parameters to test (its state is restored
        afterwards); by default one built from ``config`` and thrown away.
    augment : callable, optional
        On-device augmentation of each batch, as the training will use.

    Returns
    -------
    LRFinderResult
        The curve (rates, smoothed and raw losses), the suggested rate, why it stopped;
        ``result.plot()`` draws it.

    Raises
    ------
    ConfigError
        An argument is out of range, or the data is empty.

    Examples
    --------
    >>> from mnistkit import TrainConfig, datasets, get_model
    >>> from mnistkit.tune import lr_find
    >>> mnist = datasets.load("mnist")  # doctest: +SKIP
    >>> result = lr_find(get_model("cnn"), mnist.train, TrainConfig())  # doctest: +SKIP
    >>> result.plot()  # doctest: +SKIP
    >>> config = TrainConfig(lr=result.suggestion, schedule="none")  # doctest: +SKIP
    """
    config = config if config is not None else TrainConfig()
    if not isinstance(config, TrainConfig):
        raise ConfigError(
            f"Argument 'config' must be a TrainConfig or None, but got {type(config).__name__}"
        )
    if not isinstance(model, nn.Module):
        raise ConfigError(
            f"Argument 'model' must be a torch.nn.Module, but got {type(model).__name__}"
        )
    check_number(start_lr, "start_lr", low=0, low_open=True, who=_WHO)
    check_number(end_lr, "end_lr", low=start_lr, low_open=True, who=_WHO)
    steps = check_int(num_steps, "num_steps", minimum=2, who=_WHO)
    check_number(smoothing, "smoothing", low=0, high=1, high_open=True, who=_WHO)
    check_number(stop_factor, "stop_factor", low=1, low_open=True, who=_WHO)
    if not isinstance(train, Split | DeviceLoader):
        raise ConfigError(
            f"Argument 'train' must be a mnistkit Split or DeviceLoader, but got "
            f"{type(train).__name__}"
        )
    device = train.device if isinstance(train, DeviceLoader) else resolve_device(config.device)
    first = next(iter(model.parameters()), None)
    home = first.device if first is not None else torch.device("cpu")
    random_state = _RandomState(device)
    # copies taken where the tensors are now; load_state_dict copies them back in place
    weights = {k: v.detach().clone() for k, v in model.state_dict().items()}
    was_training = model.training
    saved_optimizer = copy.deepcopy(optimizer.state_dict()) if optimizer is not None else None
    try:
        generator = seed_everything(config.seed)  # dropout and order follow the seed
        loader = (
            train
            if isinstance(train, DeviceLoader)
            else DeviceLoader(
                train,
                batch_size=config.batch_size,
                device=device,
                shuffle=True,
                generator=generator,
                augment=augment,
            )
        )
        if len(loader) == 0:
            raise ConfigError("Argument 'train' is empty (0 batches); nothing to test.")
        model.to(device)
        opt = optimizer if optimizer is not None else build_optimizer(config, model.parameters())
        lrs, losses, raw = _range_test(
            model,
            loader,
            opt,
            config,
            device=device,
            rates=(start_lr, end_lr, steps),
            smoothing=smoothing,
            stop_factor=stop_factor,
        )
    finally:
        model.to(home)
        model.load_state_dict(weights)
        model.train(was_training)
        if optimizer is not None and saved_optimizer is not None:
            optimizer.load_state_dict(saved_optimizer)
        random_state.restore()
    if not lrs:
        raise TrainingDivergedError(
            f"lr_find: the loss was NaN or infinite at the first step (learning rate "
            f"{start_lr:.3g}); the model cannot train as it is. Check the data and the model, "
            "or pass a smaller start_lr."
        )
    return LRFinderResult(
        lrs=tuple(lrs),
        losses=tuple(losses),
        raw_losses=tuple(raw),
        suggestion=_suggest(lrs, losses),
        stop_reason="end" if len(lrs) == steps else "diverged",
        settings={
            "start_lr": start_lr,
            "end_lr": end_lr,
            "num_steps": steps,
            "smoothing": smoothing,
            "stop_factor": stop_factor,
            "optimizer": type(opt).__name__ if optimizer is not None else config.optimizer,
            "batch_size": loader.batch_size,
            "device": str(device),
        },
    )


def _range_test(
    model: nn.Module,
    loader: DeviceLoader,
    optimizer: torch.optim.Optimizer,
    config: TrainConfig,
    *,
    device: torch.device,
    rates: tuple[float, float, int],
    smoothing: float,
    stop_factor: float,
) -> tuple[list[float], list[float], list[float]]:
    """The steps of the test; returns the rates, smoothed losses and raw losses."""
    start_lr, end_lr, steps = rates
    plan = resolve_precision(config.precision, device)
    scaler = plan.grad_scaler()
    model.train()
    lrs: list[float] = []
    losses: list[float] = []
    raw: list[float] = []
    average, best = 0.0, math.inf
    for step, (images, labels) in zip(range(steps), _batches(loader), strict=False):
        lr = start_lr * (end_lr / start_lr) ** (step / (steps - 1))
        for group in optimizer.param_groups:
            group["lr"] = lr
        with plan.autocast():
            logits = model(images)  # (B, C)
            loss = F.cross_entropy(logits.float(), labels, label_smoothing=config.label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()  # type: ignore[no-untyped-call]
            if config.grad_clip is not None:
                scaler.unscale_(optimizer)
                nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()  # type: ignore[no-untyped-call]
            if config.grad_clip is not None:
                nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()
        value = float(loss.detach())
        if not math.isfinite(value):
            break  # nothing to draw: the rate is far past usable
        average = smoothing * average + (1 - smoothing) * value
        smoothed = average / (1 - smoothing ** (step + 1))  # bias-corrected
        lrs.append(lr)
        raw.append(value)
        losses.append(smoothed)
        best = min(best, smoothed)
        if smoothed > stop_factor * best:
            break
    optimizer.zero_grad(set_to_none=True)
    return lrs, losses, raw
