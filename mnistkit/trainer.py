"""The training loop: :class:`Trainer` fits a model with a :class:`~mnistkit.TrainConfig`.

The loop reads top to bottom::

    fit()                                   # set-up: loaders, optimiser, state, resume
      _fit_with_callbacks()                 # on_fit_start ... on_fit_end / on_exception
        _train_epochs()                     # for each epoch:
          _run_epoch(train, training=True)  #   train_step() on every batch
          _run_epoch(val,   training=False) #   eval_step()  on every batch
          record losses, accuracies, lr, seconds -> History; on_epoch_end

Every callback hook is called by one dispatcher, ``Trainer._notify``.

Data comes through :class:`mnistkit.loaders.DeviceLoader`, which keeps the whole split on the
device, so an epoch is a loop of tensor indexing and model calls. The model takes pixels in
[0, 1] and normalises them itself, so nothing here knows a data set's statistics.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from mnistkit import distributed
from mnistkit.callbacks import (
    Callback,
    ProgressBar,
    RunView,
    TrainingStateCheckpoint,
    progress_by_default,
)
from mnistkit.checkpoints import TrainingState, save_model
from mnistkit.config import TrainConfig
from mnistkit.datasets import Split
from mnistkit.devices import PrecisionPlan, resolve_precision, seed_everything
from mnistkit.exceptions import ConfigError, TrainingDivergedError
from mnistkit.history import History
from mnistkit.inference import ImagesLike, evaluate_model
from mnistkit.inference import predict_proba as _predict_proba
from mnistkit.loaders import Augment, DeviceLoader
from mnistkit.metrics import Report
from mnistkit.optim import build_optimizer, build_schedule, build_weight_average
from mnistkit.outliers import step_generator, synthetic_non_digits

__all__ = ["Trainer"]

log = logging.getLogger(__name__)


class Trainer:
    """Train, evaluate and use a classifier.

    Parameters
    ----------
    model : torch.nn.Module
        Maps images (B, 1, 28, 28) with pixels in [0, 1] to logits (B, C): a model from
        :func:`mnistkit.get_model` (which normalises its input itself) or your own module
        (put a :class:`mnistkit.models.Normalize` first).
    config : TrainConfig, optional
        Defaults to ``TrainConfig()``.
    callbacks : sequence of Callback, optional
        Called at fixed points of :meth:`fit` with a :class:`~mnistkit.callbacks.RunView`, in
        their order, except that :class:`~mnistkit.callbacks.TrainingStateCheckpoint`
        instances come last (the state they write then holds the other callbacks' state
        after the epoch); a :class:`~mnistkit.callbacks.ProgressBar` is added first when
        ``config.progress`` asks for one.
    augment : callable, optional
        On-device augmentation of each training batch (see
        :data:`mnistkit.loaders.Augment`).

    Attributes
    ----------
    model : torch.nn.Module
        The model, on :attr:`device`.
    config : TrainConfig
    device : torch.device
        Where training runs.
    distributed : mnistkit.distributed.DistributedContext
        This process's rank and the run's world size and backend (``backend=None`` when
        training alone).
    precision : mnistkit.devices.PrecisionPlan
        The precision actually used.
    history : History
        The records of the last :meth:`fit`.

    Notes
    -----
    With ``config.ema_decay`` set, :meth:`fit` also keeps an exponential moving average of
    the weights; validation, :meth:`evaluate`, :meth:`predict_proba` and :meth:`save_model`
    use it (see :attr:`inference_model`), while :attr:`model` holds the last step's weights.

    Data-parallel training: under ``torchrun`` (and ``config.distributed="auto"``, the
    default) the trainer joins the process group (see :func:`mnistkit.distributed.setup`),
    trains on ``cuda:LOCAL_RANK`` or the CPU, wraps the model in
    :class:`~torch.nn.parallel.DistributedDataParallel` and gives each rank its part of
    every global batch of ``config.batch_size`` examples. Losses and accuracies are summed
    over the ranks, so every rank's :attr:`history` is the same; callbacks run on rank 0
    only, and a stop that rank 0 asks for stops every rank. :meth:`save_model` and
    :meth:`save_state` write wherever they are called: call them on rank 0 only.

    Examples
    --------
    >>> from mnistkit import Trainer, TrainConfig, datasets, get_model, train_val_split
    >>> mnist = datasets.load("mnist")  # doctest: +SKIP
    >>> train, val = train_val_split(mnist.train, val_fraction=0.1)  # doctest: +SKIP
    >>> trainer = Trainer(get_model("cnn"), TrainConfig(epochs=3))  # doctest: +SKIP
    >>> history = trainer.fit(train, val=val)  # doctest: +SKIP
    >>> print(trainer.evaluate(mnist.test))  # the test set, once, at the end  # doctest: +SKIP
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
                f"Argument 'model' must be a torch.nn.Module, but got {type(model).__name__}"
            )
        self.config = config if config is not None else TrainConfig()
        if not isinstance(self.config, TrainConfig):
            raise ConfigError(
                f"Argument 'config' must be a TrainConfig, but got {type(config).__name__}"
            )
        self.distributed, self.device = distributed.setup(
            self.config.distributed, self.config.device, timeout=self.config.distributed_timeout
        )
        self.precision: PrecisionPlan = resolve_precision(self.config.precision, self.device)
        self._memory_format = (
            torch.channels_last if self.config.channels_last else torch.contiguous_format
        )
        self.model = model.to(self.device)
        if self.config.channels_last:
            self.model.to(memory_format=torch.channels_last)
        # the module the steps call: data-parallel, compiled or neither, it shares the
        # model's parameters
        self._network = distributed.wrap_model(self.model, self.distributed, self.device)
        if self.config.compile:
            self._network = torch.compile(self._network)  # type: ignore[assignment]
        self._augment = augment
        show = self.config.progress if self.config.progress is not None else progress_by_default()
        given = list(callbacks)
        if show and self.distributed.is_main and not any(isinstance(c, ProgressBar) for c in given):
            given.insert(0, ProgressBar())
        # state checkpoints last (stable), as Lightning orders its checkpoint callbacks
        self._callbacks: list[Callback] = sorted(
            given, key=lambda c: isinstance(c, TrainingStateCheckpoint)
        )
        self._started: list[Callback] = []  # callbacks whose on_fit_start was called
        self.history = History()
        self._classes: tuple[str, ...] | None = None
        self._dataset: str | None = None
        self._state: TrainingState | None = None
        self._train_loader: DeviceLoader | None = None

    def __repr__(self) -> str:
        return (
            f"Trainer(model={type(self.model).__name__}, device={str(self.device)!r}, "
            f"precision={self.precision.precision!r}, epochs_done={len(self.history)}"
            + (
                f", rank={self.distributed.rank}/{self.distributed.world_size})"
                if self.distributed.enabled
                else ")"
            )
        )

    @property
    def state(self) -> TrainingState | None:
        """The live objects of the last :meth:`fit`, or ``None`` before it.

        Optimiser, schedule, gradient scaler and shuffling generator, as a
        :class:`~mnistkit.checkpoints.TrainingState`.
        """
        return self._state

    @property
    def augment(self) -> Augment | None:
        """The augmentation applied to every training batch, or ``None``."""
        return self._augment

    @property
    def inference_model(self) -> nn.Module:
        """The model that validation, :meth:`evaluate`, prediction and :meth:`save_model` use.

        The weight average (a copy of :attr:`model` whose weights and batch-norm statistics
        are the exponential moving average of every step's) after a :meth:`fit` with
        ``config.ema_decay``; :attr:`model` itself otherwise.
        """
        if self._state is not None and self._state.averaged is not None:
            return self._state.averaged.module
        return self.model

    @property
    def train_loader(self) -> DeviceLoader | None:
        """The training loader of the last :meth:`fit`, or ``None`` before it.

        Its ``last_order`` holds the indices this rank drew in the last epoch.
        """
        return self._train_loader

    @property
    def callbacks(self) -> tuple[Callback, ...]:
        """The callbacks :meth:`fit` calls, in order."""
        return tuple(self._callbacks)

    def _loader(
        self, data: Split | DeviceLoader, generator: torch.Generator, *, training: bool
    ) -> DeviceLoader:
        if isinstance(data, DeviceLoader):
            return data
        if not isinstance(data, Split):
            raise ConfigError(
                f"Training and validation data must be a mnistkit Split or DeviceLoader, but "
                f"got {type(data).__name__}; use mnistkit.datasets.load(...).train"
            )
        return DeviceLoader(
            data,
            batch_size=self.config.batch_size if training else self.config.eval_batch_size,
            device=self.device,
            shuffle=training,
            generator=generator,
            augment=self._augment if training else None,
            num_replicas=self.distributed.world_size,
            rank=self.distributed.rank,
        )

    def _require_state(self) -> TrainingState:
        if self._state is None:
            raise ConfigError("There is no training run yet: call fit() first.")
        return self._state

    # ------------------------------------------------------------------ steps
    def train_step(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        *,
        global_count: int | None = None,
        outliers: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One optimisation step on a batch.

        Parameters
        ----------
        images : torch.Tensor
            float32 (B, 1, 28, 28) pixels in [0, 1], on the trainer's device.
        labels : torch.Tensor
            int64 (B,).
        global_count : int, optional
            In a data-parallel run, the examples of this step over all ranks: each rank's
            summed loss is divided by it (times the world size, which DDP's gradient
            average divides again), so the step follows the mean loss of the whole global
            batch even when the ranks' parts differ in size. Defaults to ``B``.
        outliers : torch.Tensor, optional
            float32 (M, 1, 28, 28) pictures that are no digit, on the trainer's device:
            they go through the model with the batch, and ``config.outlier_exposure`` times
            the mean cross-entropy of their answers to the uniform distribution, less its
            minimum ``log C`` (the KL divergence of the answers from uniform), is added to
            the loss. :meth:`fit` passes
            :func:`~mnistkit.outliers.synthetic_non_digits` here when that weight is above 0.

        Returns
        -------
        (torch.Tensor, torch.Tensor)
            The batch's summed loss (with the outliers' term, times ``B``) and its number of
            correct predictions, as 0-d tensors (reading them would wait for the device).
        """
        state = self._require_state()
        count_in = labels.shape[0]
        if outliers is not None:
            # one forward pass over both, so batch normalisation sees the mixture it is
            # trained on
            images = torch.cat([images, outliers.to(images.dtype)])
        images = images.contiguous(memory_format=self._memory_format)
        with self.precision.autocast():
            logits = self._network(images)  # (B + M, C)
            logits, other = logits[:count_in], logits[count_in:]
            if self.distributed.enabled:
                summed = F.cross_entropy(
                    logits.float(),
                    labels,
                    label_smoothing=self.config.label_smoothing,
                    reduction="sum",
                )
                count = labels.shape[0] if global_count is None else global_count
                loss = summed * (self.distributed.world_size / max(count, 1))
            else:
                loss = F.cross_entropy(
                    logits.float(), labels, label_smoothing=self.config.label_smoothing
                )
                summed = loss * labels.shape[0]
            if outliers is not None and other.shape[0] > 0:
                # cross-entropy to the uniform distribution (logsumexp minus the mean
                # logit) less its minimum log(C): the same gradient, and 0 for a uniform
                # answer, so the reported training loss is not raised by a constant
                other = other.float()
                uniform = (
                    torch.logsumexp(other, 1) - other.mean(1) - math.log(other.shape[1])
                ).mean()
                weighted = self.config.outlier_exposure * uniform
                loss = loss + weighted
                summed = summed + weighted.detach() * count_in
        state.optimizer.zero_grad(set_to_none=True)
        clip = self.config.grad_clip
        if state.scaler is not None:
            state.scaler.scale(loss).backward()  # type: ignore[no-untyped-call]
            if clip is not None:
                state.scaler.unscale_(state.optimizer)
                nn.utils.clip_grad_norm_(self.model.parameters(), clip)
            state.scaler.step(state.optimizer)
            state.scaler.update()
        else:
            loss.backward()  # type: ignore[no-untyped-call]
            if clip is not None:
                nn.utils.clip_grad_norm_(self.model.parameters(), clip)
            state.optimizer.step()
        if state.averaged is not None:
            state.averaged.update_parameters(self.model)
        state.schedule.after_batch()
        correct = (logits.detach().argmax(1) == labels).sum()
        return summed.detach(), correct

    def eval_step(
        self, images: torch.Tensor, labels: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Loss and correct predictions on a batch, without label smoothing.

        Parameters
        ----------
        images : torch.Tensor
            float32 (B, 1, 28, 28) pixels in [0, 1], on the trainer's device.
        labels : torch.Tensor
            int64 (B,).

        Returns
        -------
        (torch.Tensor, torch.Tensor)
            The summed loss and the number correct, as 0-d tensors.
        """
        images = images.contiguous(memory_format=self._memory_format)
        # the weight average when there is one; else the module the steps call (compiled or
        # data-parallel), which computes what self.model computes
        average = self.inference_model
        network = self._network if average is self.model else average
        with self.precision.autocast():
            logits = network(images)  # (B, C)
        loss = F.cross_entropy(logits.float(), labels, reduction="sum")
        return loss, (logits.argmax(1) == labels).sum()

    def _run_epoch(
        self, loader: DeviceLoader, *, training: bool, run: RunView, epoch: int
    ) -> tuple[float, float]:
        """One pass over ``loader``; returns (mean loss, accuracy)."""
        self.model.train(training)
        if not training:
            self.inference_model.eval()
        total_loss = torch.zeros((), device=self.device)
        total_correct = torch.zeros((), dtype=torch.int64, device=self.device)
        # index of the first batch whose loss was NaN or infinite, kept on the device so
        # that watching for divergence costs no synchronisation per step
        first_bad = torch.full((), -1, dtype=torch.int64, device=self.device)
        seen = 0
        every = self.config.log_every
        with torch.enable_grad() if training else torch.inference_mode():
            for batch, (images, labels) in enumerate(loader):
                if training:
                    outliers = self._outliers(epoch, batch, labels.shape[0])
                    # passed only when drawn, so that a subclass's train_step written
                    # before the option existed keeps working without it
                    extra = {} if outliers is None else {"outliers": outliers}
                    loss_sum, correct = self.train_step(
                        images, labels, global_count=loader.global_batch_size(batch), **extra
                    )
                else:
                    loss_sum, correct = self.eval_step(images, labels)
                total_loss += loss_sum
                total_correct += correct
                seen += labels.shape[0]
                if training:
                    bad = (first_bad < 0) & ~torch.isfinite(loss_sum)
                    first_bad = torch.where(bad, batch, first_bad)
                    shown = (
                        float(loss_sum) / max(labels.shape[0], 1) if batch % every == 0 else None
                    )
                    if shown is not None and not math.isfinite(shown):
                        raise self._diverged(epoch, int(first_bad), len(loader), run.lr)
                    self._notify("on_batch_end", run, batch, shown)
        if self.distributed.enabled:  # the epoch's numbers over all ranks
            totals = torch.stack(
                [total_loss.double(), total_correct.double(), total_loss.new_tensor(seen).double()]
            )
            distributed.all_reduce_sum(totals)
            total_loss, total_correct, seen = totals[0], totals[1], int(totals[2])
        if seen == 0:
            return math.nan, math.nan
        mean_loss = float(total_loss) / seen
        if training and not math.isfinite(mean_loss):
            raise self._diverged(epoch, int(first_bad), len(loader), run.lr)
        return mean_loss, int(total_correct) / seen

    def _outliers(self, epoch: int, batch: int, count: int) -> torch.Tensor | None:
        """The synthetic non-digits of one training step, or ``None`` without outlier
        exposure: half as many as the batch's digits, drawn from a generator seeded from
        the seed, epoch, step and rank, so that a resumed run needs no saved state to draw
        the same ones."""
        if self.config.outlier_exposure <= 0:
            return None
        generator = step_generator(self.config.seed, epoch, batch, self.distributed.rank)
        pictures = synthetic_non_digits(max(count // 2, 1), generator=generator)
        return pictures.to(self.device, non_blocking=True)

    def _notify(self, hook: str, run: RunView, *args: Any) -> None:
        """Call the callbacks' ``hook`` with ``run`` and ``args``: the one place hooks are
        called (skorch's ``notify``).

        Callbacks run on rank 0 only; the other ranks show and write nothing. A callback is
        marked started just before its ``on_fit_start``; ``on_exception`` goes to the
        started callbacks only, and an error it raises is logged, not raised, so that the
        error that ended training is the one reported.
        """
        if not self.distributed.is_main:
            return
        if hook == "on_exception":
            for callback in self._started:
                try:
                    callback.on_exception(run, *args)
                except Exception:  # the first error is the one to report
                    log.exception("%r.on_exception failed", callback)
            return
        if hook == "on_fit_start":
            self._started = []
        for callback in self._callbacks:
            if hook == "on_fit_start":
                self._started.append(callback)
            getattr(callback, hook)(run, *args)

    def _diverged(self, epoch: int, batch: int, batches: int, lr: float) -> TrainingDivergedError:
        return TrainingDivergedError(
            f"Training diverged: the loss became NaN or infinite at epoch {epoch}, step "
            f"{batch + 1} of {batches} (learning rate {lr:.4g}); the weights are no longer "
            "usable and were not saved (an earlier training state is kept). Lower the learning "
            "rate (TrainConfig.lr, --lr) or clip the gradients (TrainConfig.grad_clip, "
            "--grad-clip)."
        )

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
            Evaluated after every epoch (``val_loss``, ``val_accuracy``). Hold it out of the
            training set with :func:`mnistkit.train_val_split`; keep the test set for the end.
        resume_from : path-like, optional
            A training state written by :meth:`save_state` (or the
            :class:`~mnistkit.callbacks.TrainingStateCheckpoint` callback): training continues
            after the last saved epoch with the same optimiser, schedule and random state, and
            on the CPU ends with the same weights as an uninterrupted run.

        Returns
        -------
        History
            One record per epoch.
        """
        cfg = self.config
        source = train.split if isinstance(train, DeviceLoader) else train
        if not isinstance(source, Split):
            raise ConfigError(
                f"Argument 'train' must be a mnistkit Split or DeviceLoader, but got "
                f"{type(train).__name__}; use mnistkit.datasets.load(...).train"
            )
        self._classes = source.classes
        self._dataset = source.dataset
        generator = seed_everything(cfg.seed)
        train_loader = self._loader(train, generator, training=True)
        val_loader = self._loader(val, generator, training=False) if val is not None else None
        if len(train_loader) == 0:
            raise ConfigError("The training data is empty (0 batches); nothing to fit.")
        self._train_loader = train_loader
        optimizer = build_optimizer(cfg, self.model.parameters())
        self._state = state = TrainingState(
            config=cfg,
            model=self.model,
            optimizer=optimizer,
            schedule=build_schedule(cfg, optimizer, len(train_loader)),
            scaler=self.precision.grad_scaler(),
            generator=generator,
            device=self.device,
            averaged=(
                build_weight_average(self.model, cfg.ema_decay)
                if cfg.ema_decay is not None
                else None
            ),
            callbacks=self._callbacks,
        )
        # restores the callbacks' state too, before their on_fit_start
        self.history = state.restore(resume_from) if resume_from is not None else History()
        run = RunView(
            model=self.model,
            config=cfg,
            device=self.device,
            precision=self.precision.precision,
            history=self.history,
            dataset=self._dataset,
            train_size=train_loader.num_examples,
            batches_per_epoch=len(train_loader),
            start_epoch=len(self.history),
            optimizer=optimizer,
            save_model=self.save_model,
            save_state=self.save_state,
            train_data=train_loader.split,
            val_data=val_loader.split if val_loader is not None else None,
            world_size=self.distributed.world_size,
        )
        with distributed.collective_errors(self.distributed, cfg.distributed_timeout):
            return self._fit_with_callbacks(run, state, train_loader, val_loader)

    def _fit_with_callbacks(
        self,
        run: RunView,
        state: TrainingState,
        train_loader: DeviceLoader,
        val_loader: DeviceLoader | None,
    ) -> History:
        """:meth:`_train_epochs` between ``on_fit_start`` and ``on_fit_end``, or
        ``on_exception`` when it fails."""
        self._started = []
        try:
            self._notify("on_fit_start", run)
            # a callback may stop a resumed run at once (its saved run had stopped)
            if not distributed.any_rank(run.stop_requested, self.distributed, self.device):
                self._train_epochs(run, state, train_loader, val_loader)
            self._notify("on_fit_end", run, self.history)
            return self.history
        except BaseException as error:
            self._notify("on_exception", run, error)
            raise

    def _train_epochs(
        self,
        run: RunView,
        state: TrainingState,
        train_loader: DeviceLoader,
        val_loader: DeviceLoader | None,
    ) -> None:
        """The epochs after those in :attr:`history`, up to ``config.epochs`` or a stop."""
        cfg, optimizer = self.config, state.optimizer
        for epoch in range(len(self.history) + 1, cfg.epochs + 1):
            self._notify("on_epoch_start", run, epoch)
            started = time.perf_counter()
            lr = float(optimizer.param_groups[0]["lr"])
            loss, accuracy = self._run_epoch(train_loader, training=True, run=run, epoch=epoch)
            state.schedule.after_epoch()
            record: dict[str, float] = {
                "epoch": epoch,
                "train_loss": loss,
                "train_accuracy": accuracy,
            }
            if val_loader is not None:
                record["val_loss"], record["val_accuracy"] = self._run_epoch(
                    val_loader, training=False, run=run, epoch=epoch
                )
            record["lr"] = lr
            record["seconds"] = time.perf_counter() - started
            self.history.records.append(record)
            self._notify("on_epoch_end", run, epoch, record)
            # rank 0's callbacks decide; every rank stops at the same epoch
            if distributed.any_rank(run.stop_requested, self.distributed, self.device):
                break

    # ------------------------------------------------------------------ files
    def save_state(self, path: str | os.PathLike[str]) -> Path:
        """Write everything needed to resume (weights, optimiser, schedule, RNGs, history).

        Parameters
        ----------
        path : path-like
            Destination, conventionally ``state.pt``; read back with ``weights_only=True``.

        Returns
        -------
        pathlib.Path
            The written file.
        """
        return self._require_state().save(path, self.history)

    def save_model(
        self, path: str | os.PathLike[str], *, metrics: dict[str, Any] | None = None
    ) -> Path:
        """Save the model with the training data set's name and class names.

        The weight average with ``config.ema_decay`` (see :attr:`inference_model`).

        Parameters
        ----------
        path : path-like
            Destination ``.safetensors`` file (see :func:`mnistkit.save_model`).
        metrics : dict, optional
            Numbers to store in its metadata.

        Returns
        -------
        pathlib.Path
            The written file.
        """
        return save_model(
            self.inference_model,
            path,
            dataset=self._dataset,
            classes=self._classes,
            metrics=metrics,
        )

    # ------------------------------------------------------------------ use
    def evaluate(self, data: Split, *, top_k: Sequence[int] = (1, 3, 5)) -> Report:
        """Evaluate on a split: a :class:`~mnistkit.metrics.Report` from one confusion matrix.

        Parameters
        ----------
        data : Split
            Usually the test split, once, after training.
        top_k : sequence of int, default=(1, 3, 5)
            The ``k`` of the top-k accuracies.

        Returns
        -------
        Report
            Accuracy, per-class precision/recall/F1, NLL, top-k accuracy and calibration error.
        """
        if not isinstance(data, Split):
            raise ConfigError(
                f"Argument 'data' must be a mnistkit Split, but got {type(data).__name__}"
            )
        return evaluate_model(
            self.inference_model,
            data,
            device=self.device,
            batch_size=self.config.eval_batch_size,
            precision=self.precision.precision,
            top_k=tuple(top_k),
        )

    def predict_proba(self, images: ImagesLike) -> torch.Tensor:
        """Class probabilities, batched, under the trainer's precision.

        Parameters
        ----------
        images : tensor or array
            ``uint8`` pixels or floats in [0, 1] (see :data:`mnistkit.inference.ImagesLike`).

        Returns
        -------
        torch.Tensor
            float32 (N, C) on the CPU.
        """
        return _predict_proba(
            self.inference_model,
            images,
            device=self.device,
            batch_size=self.config.eval_batch_size,
            precision=self.precision.precision,
        )

    def predict(self, images: ImagesLike) -> torch.Tensor:
        """Predicted class indices.

        Parameters
        ----------
        images : tensor or array
            As for :meth:`predict_proba`.

        Returns
        -------
        torch.Tensor
            int64 (N,) on the CPU.
        """
        return self.predict_proba(images).argmax(dim=1)
