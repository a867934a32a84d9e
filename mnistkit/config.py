""":class:`TrainConfig`: everything that decides how a model is trained, validated once."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from mnistkit._choices import OPTIMIZER_NAMES, PRECISIONS, SCHEDULE_NAMES, STRATEGIES
from mnistkit._validation import (
    check_bool,
    check_choice,
    check_int,
    check_number,
    check_optional_number,
    fail,
)

__all__ = ["TrainConfig"]

_WHO = "TrainConfig"


@dataclass(frozen=True, slots=True)
class TrainConfig:
    """Everything that decides how a model is trained; validated when constructed.

    Parameters
    ----------
    epochs : int, default=5
        Passes over the training data.
    batch_size : int, default=128
        Training examples per optimisation step — the global batch: in a data-parallel run
        each of the ``N`` ranks takes about ``batch_size / N`` of every step's examples, so
        the same settings train the same model whatever ``N`` is. The learning rate is never
        scaled for you; raise ``lr`` yourself if you raise ``batch_size``.
    optimizer : {"sgd", "momentum", "adam", "adamw", "adadelta"}, default="adamw"
        See :data:`mnistkit.optim.OPTIMIZERS`; ``"momentum"`` is SGD with Nesterov momentum
        ``momentum``.
    lr : float, optional
        Learning rate (the peak rate for ``"onecycle"``). ``None`` takes the optimiser's
        default (×3 under ``"onecycle"``, which warms up to it); see :attr:`effective_lr`.
    momentum : float, default=0.9
        For ``"momentum"``.
    schedule : {"none", "step", "cosine", "onecycle"}, default="onecycle"
        See :data:`mnistkit.optim.SCHEDULES`. ``"step"`` multiplies the rate by ``gamma``
        every ``step_size`` epochs; ``"cosine"`` anneals it to zero over all batches;
        ``"onecycle"`` warms up for the first 25% of batches, then anneals (Smith & Topin,
        2017); with fewer than four batches in all, the rate stays constant.
    step_size : int, default=1
        Epochs between two ``"step"`` decays.
    gamma : float, default=0.7
        Factor of each ``"step"`` decay, in (0, 1].
    weight_decay : float, default=0.0
        Decoupled for ``"adamw"``, L2 for the others.
    label_smoothing : float, default=0.0
        In [0, 1): mixes the one-hot target with the uniform distribution.
    outlier_exposure : float, default=0.0
        Outlier exposure (Hendrycks, Mazeika and Dietterich, ICLR 2019): with a weight
        ``w > 0``, every training step also shows the model ``batch_size // 2`` synthetic
        pictures that are no digit (:func:`mnistkit.outliers.synthetic_non_digits`) and adds
        ``w`` times their cross-entropy to the uniform distribution to the loss (less its
        minimum, ``log`` of the number of classes, so that a uniform answer adds 0), so that
        the model learns to be unsure of what is not a digit and its "not a digit" scores
        (:func:`mnistkit.metrics.ood_scores`) separate better. The pictures are drawn from
        the seed, the epoch and the step, so a resumed run sees the same ones. ``0`` (the
        default, and every recipe's) adds nothing.
    grad_clip : float, optional
        Clip the gradients' global L2 norm to this value.
    ema_decay : float, optional
        Keep an exponential moving average of the weights (and of the batch-norm
        statistics), updated after every optimisation step as ``avg = d * avg + (1 - d) *
        w`` with :class:`torch.optim.swa_utils.AveragedModel`, where after ``n`` steps ``d =
        min(ema_decay, (1 + n) / (10 + n))`` (a warm-up, so that a short run's average is not
        dominated by the initial weights). Validation, :meth:`Trainer.evaluate`, prediction
        and the saved model then use the averaged weights (:attr:`Trainer.inference_model`).
        In (0, 1); ``0.999`` averages over about the last thousand steps of a long run.
        ``None`` (the default) keeps no average.
    seed : int, default=0
        Seeds Python, NumPy and PyTorch at the start of :meth:`Trainer.fit`, and the
        shuffling generator.
    device : str, default="auto"
        See :func:`mnistkit.devices.resolve_device`.
    precision : {"32", "bf16-mixed", "16-mixed", "auto"}, default="32"
        See :func:`mnistkit.devices.resolve_precision`.
    eval_batch_size : int, default=256
        Batch size for validation, :meth:`Trainer.evaluate` and prediction.
    progress : bool, optional
        Show a progress bar; ``None`` shows one when standard error is a terminal or in a
        Jupyter notebook (see :func:`mnistkit.callbacks.progress_by_default`).
    log_every : int, default=50
        Pass the current loss to ``on_batch_end`` callbacks every this many batches (reading
        it waits for the device).
    channels_last : bool, default=False
        Keep the model's convolution weights and activations in the channels-last memory
        format (NHWC), which the CPU and GPU convolution kernels often run faster.
    compile : bool, default=False
        Run training and validation steps through :func:`torch.compile`. Worth it on GPUs
        for long runs; the first step pays a one-off compilation (about 20 s for a small
        model on a CPU, which also needs a C++ compiler). Prediction stays eager.
    distributed : {"auto", "off", "gloo", "nccl"}, default="auto"
        Data-parallel training (see :mod:`mnistkit.distributed`): ``"auto"`` trains with
        :class:`~torch.nn.parallel.DistributedDataParallel` when the process was started by
        ``torchrun`` (gloo on the CPU, nccl on CUDA) and alone otherwise; ``"off"`` always
        trains alone; ``"gloo"``/``"nccl"`` require torchrun and force that backend.
    distributed_timeout : float, default=300.0
        Seconds a collective operation waits for the other ranks before the run fails,
        so a lost rank ends the run instead of hanging it.
    """

    # Each field's ``help`` is its one-line description on the command line, where
    # ``mnistkit train`` derives a flag from the field (mnistkit/cli/_parser.py); ``choices``
    # are the names the field accepts. The docstring above is the full description.
    epochs: int = field(default=5, metadata={"help": "passes over the training data"})
    batch_size: int = field(
        default=128,
        metadata={"help": "training examples per optimisation step, over all ranks together"},
    )
    optimizer: str = field(
        default="adamw", metadata={"help": "the optimiser", "choices": OPTIMIZER_NAMES}
    )
    lr: float | None = field(
        default=None,
        metadata={"help": "learning rate (the peak rate under the onecycle schedule)"},
    )
    momentum: float = field(default=0.9, metadata={"help": "momentum of 'momentum' (SGD)"})
    schedule: str = field(
        default="onecycle",
        metadata={"help": "the learning-rate schedule", "choices": SCHEDULE_NAMES},
    )
    step_size: int = field(default=1, metadata={"help": "epochs between two 'step' decays"})
    gamma: float = field(default=0.7, metadata={"help": "factor of each 'step' decay"})
    weight_decay: float = field(
        default=0.0, metadata={"help": "weight decay: decoupled for adamw, L2 for the others"}
    )
    label_smoothing: float = field(
        default=0.0,
        metadata={"help": "mix this share of the uniform distribution into the targets"},
    )
    outlier_exposure: float = field(
        default=0.0,
        metadata={
            "help": "weight of a uniform-answer loss on synthetic non-digits added to each step"
        },
    )
    grad_clip: float | None = field(
        default=None, metadata={"help": "clip the gradients' L2 norm to this value"}
    )
    ema_decay: float | None = field(
        default=None, metadata={"help": "decay of a moving average of the weights"}
    )
    seed: int = field(
        default=0, metadata={"help": "seeds the weights, the shuffling and the augmentation"}
    )
    device: str = field(default="auto", metadata={"help": "auto, cpu, cuda, cuda:N or mps"})
    precision: str = field(
        default="32",
        metadata={
            "help": "autocast for training; 'auto' is bfloat16 where the hardware computes it",
            "choices": PRECISIONS,
        },
    )
    eval_batch_size: int = field(
        default=256, metadata={"help": "batch size for validation, evaluation and prediction"}
    )
    progress: bool | None = field(default=None, metadata={"help": "show a progress bar"})
    log_every: int = field(
        default=50, metadata={"help": "pass the loss to callbacks every this many batches"}
    )
    channels_last: bool = field(
        default=False,
        metadata={"help": "channels-last memory format for the convolutions"},
    )
    compile: bool = field(default=False, metadata={"help": "use torch.compile for the steps"})
    distributed: str = field(
        default="auto",
        metadata={"help": "data-parallel training under torchrun", "choices": STRATEGIES},
    )
    distributed_timeout: float = field(
        default=300.0,
        metadata={"help": "seconds a collective operation waits for the other ranks"},
    )

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "step_size", "eval_batch_size", "log_every"):
            check_int(getattr(self, name), name, who=_WHO)
        check_choice(self.optimizer, "optimizer", OPTIMIZER_NAMES, who=_WHO)
        check_choice(self.schedule, "schedule", SCHEDULE_NAMES, who=_WHO)
        check_choice(self.precision, "precision", PRECISIONS, who=_WHO)
        check_choice(self.distributed, "distributed", STRATEGIES, who=_WHO)
        check_number(
            self.distributed_timeout, "distributed_timeout", low=0, low_open=True, who=_WHO
        )
        check_optional_number(self.lr, "lr", low=0, low_open=True, who=_WHO)
        check_number(self.momentum, "momentum", low=0, high=1, high_open=True, who=_WHO)
        check_number(self.gamma, "gamma", low=0, high=1, low_open=True, who=_WHO)
        check_number(self.weight_decay, "weight_decay", low=0, who=_WHO)
        check_number(
            self.label_smoothing, "label_smoothing", low=0, high=1, high_open=True, who=_WHO
        )
        check_number(self.outlier_exposure, "outlier_exposure", low=0, who=_WHO)
        check_optional_number(self.grad_clip, "grad_clip", low=0, low_open=True, who=_WHO)
        check_optional_number(
            self.ema_decay, "ema_decay", low=0, high=1, low_open=True, high_open=True, who=_WHO
        )
        if check_int(self.seed, "seed", minimum=0, who=_WHO) >= 2**32:
            raise fail("seed", self.seed, "an integer in [0, 2**32)", who=_WHO)
        if not isinstance(self.device, str):
            raise fail("device", self.device, "a str such as 'auto', 'cpu', 'cuda:0'", who=_WHO)
        if self.progress is not None:
            check_bool(self.progress, "progress", who=_WHO)
        check_bool(self.channels_last, "channels_last", who=_WHO)
        check_bool(self.compile, "compile", who=_WHO)

    @property
    def effective_lr(self) -> float:
        """The learning rate used: ``lr``, or the optimiser's default."""
        if self.lr is not None:
            return float(self.lr)
        # imported here: the optimisers need PyTorch, which validating a config does not
        from mnistkit.optim import OPTIMIZERS

        base = OPTIMIZERS[self.optimizer].default_lr
        return base * 3 if self.schedule == "onecycle" and self.optimizer != "adadelta" else base

    def to_dict(self) -> dict[str, Any]:
        """The fields as a plain dictionary.

        Returns
        -------
        dict
            JSON-serialisable.
        """
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with some fields changed (validated again).

        Parameters
        ----------
        **changes
            Field names and their new values.

        Returns
        -------
        TrainConfig
            A new configuration; this one is unchanged.
        """
        return dataclasses.replace(self, **changes)
